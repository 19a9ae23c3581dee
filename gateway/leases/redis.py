"""Cross-process in-flight dedupe on Redis: a lease per uncached request, with an expiry.

Claiming is one script: if the shared cache holds the answer by now, ``STORED``; else
``SET <prefix>:lease:<request key> <token> NX PX <lease>``: one process wins and sends the request;
the others poll the key (20 ms, doubling to 250 ms) until it is gone and then read the answer from
the shared cache. The holder renews its leases every third of the lease while the call
runs (a call may wait on rate limits and retries for minutes), and releases the key only if it still
holds it (a compare-and-delete script). A holder that dies stops renewing: its key expires within
``lease_s`` and a waiter claims it. A dedupe that cannot reach the server falls back to sending: it
shares ``SharedCacheHealth`` with the cache: it goes quiet when the cache does, with the same one warning,
and comes back with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from cache.redis import RedisCacheStore, SharedCacheHealth
from gateway.leases import Claim
from gateway.shared.conn import REDIS_ERRORS, LeaseRenewer, read_outcome

# KEYS: the answer's cache key, the lease key. ARGV: token, lease ms. Returns 'stored', 'send' or 'wait'.
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'stored' end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'send' end
return 'wait'
"""

# Delete the key only if this process still holds it (its token is the value).
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Extend every lease this process still holds; KEYS and ARGV pair up (key, token), ARGV[#KEYS+1] = ms.
RENEW = """
local ms = ARGV[#KEYS + 1]
local renewed = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then
    redis.call('PEXPIRE', key, ms)
    renewed = renewed + 1
  end
end
return renewed
"""


class RedisLeases:
    """``CallLeases`` shared by every process on one Redis server."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        store: RedisCacheStore,
        health: SharedCacheHealth,
        *,
        lease_s: float = 30.0,
        first_poll_s: float = 0.02,
        max_poll_s: float = 0.25,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.prefix = f"{prefix}:lease:"
        self.store = store
        self.health = health
        self.lease_ms = int(lease_s * 1000)
        self.first_poll_s = first_poll_s
        self.max_poll_s = max_poll_s
        self._sleep = sleep
        self._held: dict[str, bytes] = {}  # request key -> this process's token
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE)
        self._renew = client.register_script(RENEW)
        self._renewer = LeaseRenewer(
            self.lease_ms,
            self._renew_held,
            lambda: bool(self._held) and not self.health.lost,
            sleep=sleep,
            on_failure=self.health.trip,
        )
        self.waits = 0  # claims lost to another process, for reports and tests

    async def claim(self, key: str) -> Claim:
        if not self.health.in_use():
            return Claim.SEND
        token = secrets.token_hex(8).encode()
        try:
            verdict = await self._claim(
                keys=[self.store.redis_key(key), self.prefix + key], args=[token, self.lease_ms]
            )
        except REDIS_ERRORS as exc:
            self.health.trip(exc)
            return Claim.SEND
        self.health.succeeded()
        if verdict == b"stored":
            return Claim.STORED
        if verdict != b"send":
            self.waits += 1
            return Claim.WAIT
        self._held[key] = token
        self._renewer.start()
        return Claim.SEND

    async def wait_released(self, key: str) -> None:
        pause = self.first_poll_s
        while not self.health.lost:
            await self._sleep(pause)
            try:
                if not await self.client.exists(self.prefix + key):
                    return
            except REDIS_ERRORS as exc:
                self.health.trip(exc)
                return
            pause = min(self.max_poll_s, pause * 2)

    async def release(self, key: str) -> None:
        token = self._held.pop(key, None)
        if token is None or self.health.lost:
            return
        # Shielded: a caller cancelled while releasing must not leave its key to block others until expiry.
        # (If the release then fails, its lease expires; the error is read so asyncio does not report it.)
        release = asyncio.ensure_future(self._release(keys=[self.prefix + key], args=[token]))
        release.add_done_callback(read_outcome)
        with contextlib.suppress(*REDIS_ERRORS):
            await asyncio.shield(release)

    async def _renew_held(self) -> None:
        held = list(self._held.items())
        if held:
            await self._renew(keys=[self.prefix + k for k, _ in held], args=[t for _, t in held] + [self.lease_ms])
