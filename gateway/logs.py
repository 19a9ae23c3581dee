"""Structured logging: readable console lines by default, JSON lines on request, secrets redacted.

What a secret is, and how it is hidden, is ``gateway/redaction.py``'s to say (known values: the keys
the run was configured with, credentials in URLs it was given, credential variables of the
environment; shapes: a URL's user-info password or credential query parameter, a credential header's
token). A short or unrelated value is never redacted, so text that passes through (an error a provider
sent, a refusal the cache keeps) reads the same whatever the environment holds, unless it really
carries a secret.

``redact_secrets`` runs last before rendering: every secret is replaced by ``[REDACTED]`` wherever it
appears in an event, however deeply nested; standard library loggers are redacted by a filter.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# Re-exported: callers have always imported these from here.
from gateway.redaction import (
    MIN_SECRET_LENGTH,
    REDACTED,
    _registered,
    environment_secrets,
    known_secrets,
    redact,
    register_secret,
)

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "_registered",
    "configure_logging",
    "environment_secrets",
    "known_secrets",
    "redact",
    "redact_secrets",
    "register_secret",
]


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: remove every known secret from the event."""
    secrets = known_secrets()
    return {k: redact(v, secrets) for k, v in event.items()}


class _RedactingFilter(logging.Filter):
    """Redacts secrets from records of the standard library loggers (LiteLLM, DSPy, httpx)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), known_secrets())
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
        # One write per line (print would write the line and its newline apart): a progress bar drawn
        # from another thread can then never land between a log line and its end.
        logger_factory=structlog.WriteLoggerFactory(file=stream),
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
