"""The connection to the Redis server that workers share, and what its failures become.

``connect`` makes redis-py's asyncio client (no I/O yet) and registers the URL's password as a
secret, so no log line can show it. ``check_reachable`` is the ``PING`` at start: an unreachable
server or a refused password is one ``ConfigurationError`` line before any spend. Inside a run,
``shared_state_errors`` turns a failure of a command of the shared limiter or budget into
``SharedStateUnavailable``, which stops the run; every message shows the URL with ``***`` for its
password.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff

from cache.redis import REDIS_ERRORS as REDIS_ERRORS  # the one tuple, named here for the gateway
from gateway import errors
from gateway.redaction import known_secrets, redact, register_url
from gateway.shared.target import RedisTarget

CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 10.0
# A dropped connection is retried a few times within about a second (a failover, a restart); a server
# that stays down is reported then, not after redis-py's default backoff of several seconds. A retried
# script may run twice: a second admission or reservation only makes the limits stricter, and a
# settlement counted twice only overstates the spend.
RETRIES = 3
# A run has hundreds of cache lookups in flight at once (every example's calls): they share this many
# connections, waiting their turn for one rather than failing (redis-py's default pool raises past 100).
MAX_CONNECTIONS = 32


def connect(target: RedisTarget, *, max_connections: int = MAX_CONNECTIONS) -> aioredis.Redis:
    """A client for ``target`` (no I/O yet); its password is registered as a secret for every log line."""
    register_url(target.url)
    pool = aioredis.BlockingConnectionPool.from_url(
        target.url,
        max_connections=max_connections,
        timeout=COMMAND_TIMEOUT_S,  # waiting longer than this for a free connection is a failure
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        health_check_interval=30,
        retry=Retry(EqualJitterBackoff(cap=0.5, base=0.05), retries=RETRIES),
        client_name="hsopt",
    )
    return aioredis.Redis.from_pool(pool)


def _reason(exc: BaseException, target: RedisTarget) -> str:
    secrets = [*target.secrets, *known_secrets()]
    text = str(redact(str(exc), secrets)).strip().rstrip(".") or "no detail"
    return f"{type(exc).__name__}: {text}"


async def check_reachable(client: aioredis.Redis, target: RedisTarget) -> None:
    """``PING`` the server; raises ``ConfigurationError`` (one line) if it is unreachable or refuses us."""
    try:
        await client.ping()
    except REDIS_ERRORS as exc:
        if isinstance(exc, (redis.exceptions.AuthenticationError, redis.exceptions.NoPermissionError)):
            hint = "check the password in the URL"
        elif "CERTIFICATE_VERIFY_FAILED" in str(exc):
            hint = (
                "its certificate is not trusted here: name the CA that signed it in the URL, "
                "rediss://host:port/0?ssl_ca_certs=/path/ca.pem"
            )
        else:
            hint = (
                "is it running? (and does it take TLS, rediss://, or plain redis://? "
                "see the README: sharing state between workers)"
            )
        raise errors.ConfigurationError(
            f"cannot use Redis at {target.display} ({_reason(exc, target)}); {hint}"
        ) from None


@contextlib.contextmanager
def shared_state_errors(target: RedisTarget, what: str) -> Iterator[None]:
    """Turn a Redis failure inside the block into ``SharedStateUnavailable`` naming ``what`` was lost."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise errors.SharedStateUnavailable(
            f"lost Redis at {target.display} ({_reason(exc, target)}): the shared {what} cannot be kept, "
            "so the run stops rather than go on with per-process limits; completed calls are cached: "
            "rerun the same command once Redis answers"
        ) from None


class LeaseRenewer:
    """Renews a holder's leases on the server every third of the lease while it holds any.

    One task, started by ``start`` when the holder takes a lease and none is running; it ends when
    ``holding()`` turns false. ``renew`` sends the renewal (and does nothing if nothing is held by the
    time it runs); a Redis error ends the task and goes to ``on_failure`` (the holder's next command
    reports the loss).
    """

    def __init__(
        self,
        lease_ms: int,
        renew: Callable[[], Awaitable[object]],
        holding: Callable[[], bool],
        *,
        sleep: Callable[[float], Awaitable[None]],
        on_failure: Callable[[BaseException], None] = lambda exc: None,
    ) -> None:
        self._every_s = lease_ms / 3000.0
        self._renew = renew
        self._holding = holding
        self._sleep = sleep
        self._on_failure = on_failure
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._keep_renewing())

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _keep_renewing(self) -> None:
        while self._holding():
            await self._sleep(self._every_s)
            try:
                await self._renew()
            except REDIS_ERRORS as exc:
                self._on_failure(exc)
                return


def read_outcome(task: asyncio.Future[Any]) -> None:
    """Read a finished task's error, so that one nobody awaits any more is not reported as unretrieved."""
    if not task.cancelled():
        task.exception()
