"""Structured logging: readable console lines by default, JSON lines on request, secrets redacted.

``redact_secrets`` runs last before rendering: every value of an environment variable whose name
looks like a credential, and every secret registered with ``register_secret``, is replaced by
``[REDACTED]`` wherever it appears in an event, however deeply nested.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL)", re.IGNORECASE)
_registered: set[str] = set()
REDACTED = "[REDACTED]"


def register_secret(value: str | None) -> None:
    """Treat ``value`` as a secret in every later log line."""
    if value and len(value) >= 4:
        _registered.add(value)


def known_secrets() -> list[str]:
    env = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and v and len(v) >= 4}
    # Longest first, so a secret containing another is replaced whole.
    return sorted(env | _registered, key=len, reverse=True)


def redact(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v, secrets) for v in value)
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}", secrets)
    return value


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: remove every known secret from the event."""
    secrets = known_secrets()
    if not secrets:
        return event
    return {k: redact(v, secrets) for k, v in event.items()}


class _RedactingFilter(logging.Filter):
    """Redacts secrets from records of the standard library loggers (LiteLLM, DSPy, httpx)."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = known_secrets()
        if secrets:
            record.msg = redact(record.getMessage(), secrets)
            record.args = None
        return True


def configure_logging(*, json_lines: bool = False, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Set up structlog (and quiet, redacted standard logging) for a command-line run."""
    stream = stream or sys.stderr
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    for name in ("LiteLLM", "litellm", "httpx", "httpcore", "dspy", "optuna", "optuna.study", "aiohttp"):
        logging.getLogger(name).setLevel(logging.ERROR)
