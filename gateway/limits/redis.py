"""The rate limiter every worker calling one deployment shares: RPM and TPM admitted together, on Redis.

One Lua script admits a request atomically against both the request and the token bucket of its
deployment (``<prefix>:limit:<endpoint identity>``), on the server's clock (``TIME``), never a
worker's. It works as the process-local ``RateLimiter`` does, serialised across workers: a request
queues behind the last one admitted; the script computes when it fits in both buckets (each holds at
most ``burst_s`` seconds of quota, so a burst is ~10 s of quota, never a minute's), takes it from
both at that moment and returns the exact wait. The worker sleeps that long and sends: no polling,
no second round trip, first come first served across every worker. A reservation whose worker dies
while it waits is lost, which can only make the limiter stricter.

Why a script of our own: the ``limits`` library (5.x) charges one limit per call (``hit(item,
cost=...)``), so RPM and TPM would be two separate steps that are not atomic together; its
strategies are fixed, moving and sliding windows (no token bucket or GCRA), its moving window
stores one entry per unit of cost (a TPM of 150,000 would be 150,000 list entries a minute), its
Redis moving window stamps entries with the worker's clock, and it reports a window's reset time
rather than the wait for a given cost. Nothing here needs more than redis-py and one script.

Tokens are counted as the provider counts them at admission (prompt + ``max_tokens``); the gateway
computes that and passes it in. Every worker should be given the same ``--rpm``/``--tpm``: each
admission uses the limits of the worker making it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from gateway.limits import RateLimits
from gateway.shared.bucket import BUCKET_LUA, bucket_args
from gateway.shared.conn import shared_state_errors
from gateway.shared.target import RedisTarget

# KEYS[1]: the deployment's bucket hash; ARGV: as ``bucket_args`` writes them (gateway/shared/bucket.py).
# Returns the wait in seconds, as text.
ADMIT = (
    BUCKET_LUA
    + """
local now, s, at, start = bucket_open()
local dims = bucket_levels(s, at, start)
local wait = bucket_wait(dims)
local admitted = start + wait
bucket_store(now, admitted, wait, dims, {})
return string.format('%.6f', admitted - now)
"""
)


class RedisRateLimiter:
    """A ``Limiter`` shared by every worker, one pair of buckets per deployment."""

    def __init__(
        self,
        client: aioredis.Redis,
        target: RedisTarget,
        limits: RateLimits,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self.target = target
        self.prefix = f"{target.prefix}:limit:"
        self._admit = client.register_script(ADMIT)
        self._sleep = sleep
        self.waited_s = 0.0
        self.admitted = 0

    async def acquire(self, tokens: int, *, deployment: str = "") -> None:
        if not self.limits.enabled:
            return
        with shared_state_errors(self.target, "rate limiter"):
            reply = await self._admit(keys=[self.prefix + deployment], args=bucket_args(self.limits, tokens))
        wait = float(reply)
        self.admitted += 1
        if wait > 0:
            self.waited_s += wait
            await self._sleep(wait)
