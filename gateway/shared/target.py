"""Where workers share their state: the Redis URL, its namespace, and the flags that name them.

Without a URL nothing is shared and nothing here talks to a server. With one (``--redis-url`` or
``HSOPT_REDIS_URL``; ``redis://`` or ``rediss://`` for TLS, a password in the URL as usual), the
runtime puts the response cache, the in-flight dedupe, the rate limiter and (with ``--budget-name``)
the budget on that server (``gateway/shared/state.py``). This module imports no Redis client, so a
run without a URL never loads one.

Every key lives under ``<namespace>:<LAYOUT>:``; the namespace defaults to ``hsopt`` and
``HSOPT_REDIS_NAMESPACE`` changes it (to keep projects apart on one server). ``LAYOUT`` is the
version of what is stored under it: changing it invalidates every shared key at once.

The URL's password is a secret, in its user-info (``redis://:pw@host``) or its query string
(``redis://host/0?password=pw``, which redis-py reads too): it is shown only as ``***``
(``RedisTarget.display``, ``gateway/redaction.py``), and the object keeps the URL out of its ``repr``.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gateway.errors import ConfigurationError
from gateway.redaction import redact_url as redact_url  # the one redaction of URLs, named here as before
from gateway.redaction import register_url, url_secrets

REDIS_URL_ENV = "HSOPT_REDIS_URL"
REDIS_NAMESPACE_ENV = "HSOPT_REDIS_NAMESPACE"
DEFAULT_NAMESPACE = "hsopt"
LAYOUT = "s1"
SCHEMES = ("redis", "rediss")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_BUDGET_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


@dataclass(frozen=True)
class RedisTarget:
    """A checked Redis URL and the namespace of this project's keys on it."""

    url: str = field(repr=False)
    namespace: str = DEFAULT_NAMESPACE

    @property
    def display(self) -> str:
        """The URL as it may be shown: the password replaced by ``***``."""
        return redact_url(self.url)

    @property
    def password(self) -> str | None:
        return urlsplit(self.url).password

    @property
    def secrets(self) -> list[str]:
        """Every credential in the URL: the user-info password and those of its query string."""
        return url_secrets(self.url)

    @property
    def prefix(self) -> str:
        """What every shared key starts with (no trailing colon)."""
        return f"{self.namespace}:{LAYOUT}"

    def __str__(self) -> str:
        return self.display


def redis_target(url: str, namespace: str | None = None) -> RedisTarget:
    """Check a Redis URL (and the namespace) given by a user; raises ``ConfigurationError`` with one line."""
    register_url(url)  # from now on no line this process writes can show its password
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise ConfigurationError(f"invalid Redis URL {shown}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(
            f"invalid Redis URL {shown}: it must start with redis:// or rediss:// (TLS), e.g. redis://localhost:6379/0"
        )
    if not parts.hostname:
        raise ConfigurationError(f"invalid Redis URL {shown}: no host")
    namespace = namespace or os.environ.get(REDIS_NAMESPACE_ENV) or DEFAULT_NAMESPACE
    if not _NAMESPACE.match(namespace):
        raise ConfigurationError(
            f"invalid Redis namespace {namespace!r}: 1-64 letters, digits, '_', '-' or '.' ({REDIS_NAMESPACE_ENV})"
        )
    return RedisTarget(url, namespace)


def check_budget_name(name: str) -> str:
    if not _BUDGET_NAME.match(name):
        raise ConfigurationError(f"invalid budget name {name!r}: 1-100 letters, digits, '_', '-' or '.'")
    return name


def add_redis_flag(parser: argparse.ArgumentParser) -> None:
    """``--redis-url``, defaulting to ``$HSOPT_REDIS_URL``; the help text never shows the value."""
    parser.add_argument(
        "--redis-url",
        default=os.environ.get(REDIS_URL_ENV) or None,
        metavar="URL",
        help="share the response cache, in-flight calls, rate limits and (with --budget-name) the budget "
        f"with every worker using this Redis server: redis://[:password@]host:port/db or rediss:// for TLS "
        f"(default ${REDIS_URL_ENV}; none: nothing is shared)",
    )


def target_from_flag(url: str | None) -> RedisTarget | None:
    """The checked target of a ``--redis-url`` value, None when none was given."""
    return redis_target(url) if url else None
