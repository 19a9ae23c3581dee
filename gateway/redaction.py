"""Secrets out of everything the project writes: log lines, run and sweep files, MLflow, ledgers.

One module decides what a secret looks like and how it is hidden; the log processors
(``gateway/logs.py``), the writers of run outputs (``optimizer/artifacts.py``), the tracker and the
transports' error messages all go through it. It imports only the standard library, so a helper
process (the Optuna storage's) can use it without loading the gateway.

Secrets come in two kinds:

* **known values**: the keys a run was configured with (``register_secret``), the passwords and
  tokens of every URL it was given (``register_url``), and what the environment holds under a
  credential's name (``AZURE_API_KEY``, ``HF_TOKEN``; values of ``MIN_SECRET_LENGTH`` characters or
  more) or inside a URL. Each is replaced by ``[REDACTED]`` wherever it appears;
* **shapes**, found in any text even when nobody registered the value: the password of a URL's
  user-info (``scheme://user:password@host``), a credential in a URL's query string
  (``?password=``, ``&token=``, ``?api_key=``...; redis-py and libpq read passwords from there),
  and a token after a credential header's name (``Authorization: Bearer ...``, ``api-key: ...``,
  ``'x-api-key': '...'``).

Redaction comes before any cut: ``error_line`` redacts the whole text, then shortens it, so a secret
that straddles the cut cannot leave its first characters behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

REDACTED = "[REDACTED]"
MASK = "***"  # what a URL shown to a user has in place of its password
MIN_SECRET_LENGTH = 8  # shorter environment values ("false", "1", "dev") are settings, not credentials
MIN_REGISTERED_LENGTH = 4

# The last word of an environment variable's name says it holds a credential.
_CREDENTIAL_NAME = re.compile(r"(?:^|_)(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIAL|CREDENTIALS)$", re.I)
# Query parameters that carry a credential (compared lower-case, '-' read as '_').
SECRET_PARAMETERS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "auth_token",
        "key",
        "api_key",
        "apikey",
        "x_api_key",
        "subscription_key",
        "sig",
        "signature",
        "sslpassword",
        "credential",
        "credentials",
    }
)
_PARAMETER_NAMES = "|".join(
    sorted((re.escape(n).replace("_", "[_-]") for n in SECRET_PARAMETERS), key=len, reverse=True)
)
# A password in a URL's user-info: "scheme://user:password@" (the user part may be empty: redis://:pw@host).
_USERINFO_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@?#]*:)(?P<secret>[^\s@/?#]+)(?=@)")
# A credential in a query string: "?password=..." or "&token=..." (also ';', as some URLs separate them).
_QUERY_SECRET = re.compile(rf"(?P<head>[?&;](?:{_PARAMETER_NAMES})=)(?P<secret>[^&;#\s'\"<>]+)", re.I)
# A credential header and its value, as text shows headers: "Authorization: Bearer x", "'api-key': 'x'",
# "x-api-key=x", '"Proxy-Authorization": "Basic x"'. The scheme word, if any, is kept.
_HEADER_SECRET = re.compile(
    r"(?P<head>\b(?:proxy-)?(?:authorization|x-api-key|api-key|x-goog-api-key|ocp-apim-subscription-key|"
    r"x-auth-token)['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|basic|token|digest)\s+)?)"
    r"(?P<secret>[^\s'\",;}]+)",
    re.I,
)
_HEADER_HINT = re.compile(r"authorization|api-key|auth-token|subscription-key", re.I)
# Keys of a mapping whose text value is a credential whatever it looks like (compared as parameters are).
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "client_secret",
        "access_token",
        "api_key",
        "x_api_key",
        "authorization",
        "proxy_authorization",
    }
)

_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Treat ``value`` (a key the run was configured with) as a secret in everything written later."""
    if value and len(value) >= MIN_REGISTERED_LENGTH:
        _registered.add(value)


def url_secrets(url: str) -> list[str]:
    """The credentials written in ``url``: its user-info password and its credential query parameters."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found = [password] if password else []
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if _is_secret_parameter(name) and value:
            found.append(value)
    return found


def register_url(url: str | None) -> None:
    """Register every credential written in ``url`` (a Redis, database or tracking URL) as a secret."""
    for secret in url_secrets(url or ""):
        register_secret(secret)


def environment_secrets(env: Mapping[str, str] | None = None) -> set[str]:
    """Secret values in the environment: credential variables' values and the credentials of URLs."""
    env = os.environ if env is None else env
    found = set()
    for name, value in env.items():
        if not value:
            continue
        if _CREDENTIAL_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH:
            found.add(value)
        if "://" in value:
            found.update(s for s in url_secrets(value) if len(s) >= MIN_REGISTERED_LENGTH)
    return found


def known_secrets() -> list[str]:
    """Every secret value known now, longest first (a secret containing another is replaced whole)."""
    return sorted(environment_secrets() | _registered, key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret and every secret-shaped value replaced by ``[REDACTED]``.

    ``secrets`` defaults to ``known_secrets()``.
    """
    for secret in known_secrets() if secrets is None else secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    if "://" in text:
        text = _USERINFO_PASSWORD.sub(_keep_head, text)
    if "=" in text:
        text = _QUERY_SECRET.sub(_keep_head, text)
    if _HEADER_HINT.search(text):
        text = _HEADER_SECRET.sub(_keep_head, text)
    return text


def redact(value: Any, secrets: Iterable[str] | None = None) -> Any:
    """``value`` (text, or lists, tuples and dicts of them, however nested) with its secrets redacted.

    A dict's value under a credential's name (``{"api_key": ...}``, ``{"Authorization": ...}``) is
    redacted whole; an exception becomes its redacted ``Type: message``.
    """
    secrets = known_secrets() if secrets is None else list(secrets)
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {k: _redact_item(k, v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v, secrets) for v in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}", secrets)
    return value


def redact_url(url: str) -> str:
    """``url`` as it may be shown: its user-info password and credential query values as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:{MASK}@{host}" + (f":{port}" if port else "")
        url = SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment).geturl()
    if parts.query or parts.fragment:
        url = _QUERY_SECRET.sub(lambda m: m.group("head") + MASK, url)
    return url


def error_line(exc: BaseException, *, limit: int = 300, secrets: Iterable[str] = ()) -> str:
    """``Type: first line`` of an exception, redacted first and only then cut to ``limit`` characters."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    everything = sorted(
        {*known_secrets(), *(s for s in secrets if s and len(s) >= MIN_REGISTERED_LENGTH)}, key=len, reverse=True
    )
    return clip(redact_text(line, everything), limit)


def clip(text: str, limit: int, mark: str = "...") -> str:
    """``text`` cut to ``limit`` characters (the cut marked); redact before calling, never after."""
    return text if len(text) <= limit else text[: max(0, limit - len(mark))] + mark


def _is_secret_parameter(name: str) -> bool:
    return name.lower().replace("-", "_") in SECRET_PARAMETERS


def _keep_head(match: re.Match[str]) -> str:
    if match.group("secret") in (MASK, REDACTED):  # hidden already (a URL shown with ***): left as shown
        return match.group(0)
    return match.group("head") + REDACTED


def _redact_item(key: Any, value: Any, secrets: list[str]) -> Any:
    if isinstance(key, str) and isinstance(value, str) and value and _is_secret_key(key):
        return REDACTED
    return redact(value, secrets)


def _is_secret_key(key: str) -> bool:
    return key.lower().replace("-", "_") in _SECRET_KEYS
