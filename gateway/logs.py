"""Structured logging: readable console lines by default, JSON lines on request, secrets redacted.

Secrets are redacted by value, and only values known to be secrets are: the keys the run was
configured with (``register_secret``, called where endpoints are resolved), the values of
environment variables whose *name ends* in a credential word (``AZURE_API_KEY``, ``HF_TOKEN``,
``AWS_SECRET_ACCESS_KEY``; not ``TOKENIZERS_PARALLELISM`` or ``KEYBOARD_LAYOUT``) and at least
``MIN_SECRET_LENGTH`` characters long, and passwords written into URLs (in any variable, and in any
text: ``scheme://user:password@host`` keeps everything but the password). A short or unrelated value
is never redacted, so text that passes through (an error a provider sent, a refusal the cache keeps)
reads the same whatever the environment holds, unless it really carries a secret.

``redact_secrets`` runs last before rendering: every known secret is replaced by ``[REDACTED]``
wherever it appears in an event, however deeply nested.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO
from urllib.parse import urlsplit

import structlog

# The last word of the variable's name says it holds a credential.
_CREDENTIAL_NAME = re.compile(r"(?:^|_)(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIAL|CREDENTIALS)$", re.I)
# A password in a URL: "scheme://user:password@" (the user part may be empty, as in redis://:pw@host).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<password>[^\s@/]+)(?=@)")
MIN_SECRET_LENGTH = 8  # shorter values ("false", "1", "dev") are settings, not credentials
_registered: set[str] = set()
REDACTED = "[REDACTED]"


def register_secret(value: str | None) -> None:
    """Treat ``value`` (a key the run was configured with) as a secret in every later log line and message."""
    if value and len(value) >= 4:
        _registered.add(value)


def environment_secrets(env: Mapping[str, str] | None = None) -> set[str]:
    """Secret values in the environment: credential variables' values and passwords in URLs."""
    env = os.environ if env is None else env
    found = set()
    for name, value in env.items():
        if not value:
            continue
        if _CREDENTIAL_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH:
            found.add(value)
        if "://" in value and "@" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password and len(password) >= 4:
                found.add(password)
    return found


def known_secrets() -> list[str]:
    """Every secret value known now, longest first (a secret containing another is replaced whole)."""
    return sorted(environment_secrets() | _registered, key=len, reverse=True)


def redact(value: Any, secrets: list[str]) -> Any:
    """``value`` with every one of ``secrets``, and every password written in a URL, replaced by ``[REDACTED]``."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        if "://" in value:
            value = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, value)
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
