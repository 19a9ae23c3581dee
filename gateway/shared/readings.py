"""The provider's reported quota, shared by every worker calling one deployment (on Redis).

Each worker's pacer reads the ``x-ratelimit-*`` headers of its own answers (``gateway.pacing``);
alone, it knows nothing of what the other workers admitted since, and four workers on one quota
overrun it now and then. Here:

* the per-minute limits a reading reports are published under the deployment
  (``<prefix>:reported:<endpoint identity>``), kept a minute past the last publication (a reading
  older than its window says nothing);
* every admission to that deployment takes its turn in one bucket at those limits
  (``<prefix>:reported-bucket:<endpoint identity>``): one Lua script, atomic, on the server's clock,
  first come first served across workers, as the shared limiter does for ``--tpm``;
* the bucket counts every request and token admitted through it, and each turn says the counts at
  that moment. A reading that comes back for a turn says what remained then; the bucket refills it
  at the reported rate and takes off everything admitted since that turn, by any worker. What
  remains by that account, if less than the bucket holds, is what it holds: spend the bucket cannot
  see (other applications on the quota, workers without Redis) is counted as soon as a reading shows it.

So workers given no ``--tpm`` share the quota as if one process paced it by every answer's reading.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import redis.asyncio as aioredis

from gateway.limits import RateLimits
from gateway.pacing import SharedAdmission, SharedReading
from gateway.shared.bucket import BUCKET_LUA, bucket_args
from gateway.shared.conn import shared_state_errors
from gateway.shared.target import RedisTarget

READING_TTL_MS = 60_000  # a reading older than a minute's window says nothing of the quota now
LOOKUP_EVERY_S = 1.0  # how often a worker looks again at the limits the others published

# KEYS[1]: the deployment's bucket hash (gateway/shared/bucket.py) with {n_req, n_tok} beside its levels:
# the requests and tokens admitted through it. ARGV[1..6]: as ``bucket_args`` writes them. ARGV[7..11]: a
# reading (at, n_req, n_tok of the turn it answers; what remained of requests and of tokens, -1 where
# unknown), or nothing. Returns {wait, at, n_req, n_tok}.
ADMIT_READ = (
    BUCKET_LUA
    + """
local now, s, at, start = bucket_open('n_req', 'n_tok')
local n = {tonumber(s[4]) or 0, tonumber(s[5]) or 0}
local dims = bucket_levels(s, at, start)
if #ARGV >= 11 then
  for i, d in ipairs(dims) do
    local remaining = tonumber(ARGV[9 + i])
    if d.rate > 0 and remaining >= 0 then
      local since = n[i] - tonumber(ARGV[7 + i])
      local told = math.min(d.cap, remaining + (start - tonumber(ARGV[7])) * d.rate) - since
      d.level = math.min(d.level, told)
    end
  end
end
local wait = bucket_wait(dims)
local admitted = start + wait
n[1] = n[1] + 1
n[2] = n[2] + tonumber(ARGV[5])
local fields = {'n_req', string.format('%.0f', n[1]), 'n_tok', string.format('%.0f', n[2])}
bucket_store(now, admitted, wait, dims, fields)
return {string.format('%.6f', admitted - now), string.format('%.6f', admitted), tostring(n[1]), tostring(n[2])}
"""
)


class RedisReadings:
    """A ``QuotaReadings`` on Redis: the reported limits of every deployment, one bucket each for every worker."""

    def __init__(self, client: aioredis.Redis, target: RedisTarget) -> None:
        self._client = client
        self.target = target
        self._reported = f"{target.prefix}:reported:"
        self._bucket = f"{target.prefix}:reported-bucket:"
        self._admit = client.register_script(ADMIT_READ)
        self._known: dict[str, tuple[float, RateLimits | None]] = {}  # deployment -> (looked at, limits)

    async def publish(self, deployment: str, requests_per_min: float | None, tokens_per_min: float | None) -> None:
        fields = {k: str(v) for k, v in (("rpm", requests_per_min), ("tpm", tokens_per_min)) if v is not None}
        if not fields:
            return
        key = self._reported + deployment
        with shared_state_errors(self.target, "reported quota"):
            async with self._client.pipeline(transaction=True) as pipe:
                for name, value in fields.items():
                    pipe.hset(key, name, value)
                pipe.pexpire(key, READING_TTL_MS)
                await pipe.execute()
        self._known[deployment] = (time.monotonic(), _limits(fields))

    async def admit(
        self, deployment: str, tokens: int, reading: SharedReading | None
    ) -> tuple[float, SharedAdmission] | None:
        limits = await self._limits(deployment)
        if limits is None:
            return None  # no worker has published a per-minute quota for it (lately): nothing to share
        args: list[float | int] = list(bucket_args(limits, tokens))
        if reading is not None:
            turn = reading.admission
            args += [turn.at, turn.admitted_requests, turn.admitted_tokens]
            args += [_or_unknown(reading.remaining_requests), _or_unknown(reading.remaining_tokens)]
        with shared_state_errors(self.target, "reported quota"):
            wait, at, requests, admitted_tokens = await self._admit(keys=[self._bucket + deployment], args=args)
        return float(wait), SharedAdmission(float(at), float(requests), float(admitted_tokens))

    async def _limits(self, deployment: str) -> RateLimits | None:
        looked, limits = self._known.get(deployment, (float("-inf"), None))
        if time.monotonic() - looked < LOOKUP_EVERY_S:
            return limits
        with shared_state_errors(self.target, "reported quota"):
            found = await self._client.hgetall(self._reported + deployment)
        limits = _limits({k.decode() if isinstance(k, bytes) else str(k): v for k, v in found.items()})
        self._known[deployment] = (time.monotonic(), limits)
        return limits


def _or_unknown(remaining: float | None) -> float:
    return -1.0 if remaining is None else remaining


def _limits(fields: Mapping[str, object]) -> RateLimits | None:
    def number(name: str) -> float | None:
        value = fields.get(name)
        try:
            parsed = float(value.decode() if isinstance(value, bytes) else str(value)) if value is not None else None
        except ValueError:
            return None
        return parsed if parsed is not None and parsed > 0 else None

    rpm, tpm = number("rpm"), number("tpm")
    return RateLimits(rpm=rpm, tpm=tpm) if rpm is not None or tpm is not None else None
