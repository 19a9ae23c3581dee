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
from gateway.shared.conn import shared_state_errors
from gateway.shared.target import RedisTarget

# KEYS[1]: the deployment's bucket hash {at, req, tok}: levels as of time `at`, which may be in the
# future (the admission time of the last request queued).
# ARGV: request rate /s, request capacity, token rate /s, token capacity, this request's tokens, expiry ms
# (a rate of 0 leaves that dimension unlimited). Returns the wait in seconds, as text.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'at', 'req', 'tok')
local at = tonumber(s[1])
local start = now
if at ~= nil and at > now then start = at end
local dims = {
  {rate = tonumber(ARGV[1]), cap = tonumber(ARGV[2]), cost = 1, level = tonumber(s[2])},
  {rate = tonumber(ARGV[3]), cap = tonumber(ARGV[4]), cost = tonumber(ARGV[5]), level = tonumber(s[3])},
}
local wait = 0
for _, d in ipairs(dims) do
  if d.rate > 0 then
    if d.level == nil or at == nil then
      d.level = d.cap
    else
      d.level = math.min(d.cap, d.level + (start - at) * d.rate)
    end
    local need = math.min(d.cost, d.cap)
    if d.level < need then
      wait = math.max(wait, (need - d.level) / d.rate)
    end
  end
end
local admitted = start + wait
local fields = {'at', string.format('%.6f', admitted)}
for i, d in ipairs(dims) do
  if d.rate > 0 then
    local level = math.min(d.cap, d.level + wait * d.rate) - d.cost
    table.insert(fields, i == 1 and 'req' or 'tok')
    table.insert(fields, string.format('%.6f', level))
  end
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], math.ceil((admitted - now) * 1000) + tonumber(ARGV[6]))
return string.format('%.6f', admitted - now)
"""


def bucket_args(limits: RateLimits, tokens: int) -> list[float | int]:
    """The script's ARGV for one request of ``tokens`` under ``limits`` (capacities as ``RateLimiter``'s)."""

    def dim(per_minute: float | None) -> tuple[float, float]:
        if per_minute is None:
            return 0.0, 0.0
        rate = per_minute / 60.0
        return rate, max(1.0, rate * limits.burst_s)

    req_rate, req_cap = dim(limits.rpm)
    tok_rate, tok_cap = dim(limits.tpm)
    # Keep an idle bucket a minute past full refill: after that it would read as full anyway.
    expiry_ms = int((limits.burst_s + 60.0) * 1000)
    return [req_rate, req_cap, tok_rate, tok_cap, tokens, expiry_ms]


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
