"""The provider's reported quota, shared by every worker calling one deployment (on Redis).

Each worker's pacer reads the ``x-ratelimit-*`` headers of its own answers (``gateway.pacing``);
alone, four workers on one quota each see only their own spend since a reading and overrun it now
and then. Here the per-minute limits a reading reports are published under the deployment
(``<prefix>:reported:<endpoint identity>``, kept for a minute past the last reading: a reading past
its window says nothing) and every admission goes through one bucket per deployment at that rate
(``<prefix>:reported-bucket:<endpoint identity>``), with the shared limiter's script: atomic, on the
server's clock, first come first served across workers. So workers given no ``--tpm`` share the
quota as if each had been given it, and each one's own pacer still reads what remains.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import redis.asyncio as aioredis

from gateway.limits import RateLimits
from gateway.limits.redis import ADMIT, bucket_args
from gateway.shared.conn import shared_state_errors
from gateway.shared.target import RedisTarget

READING_TTL_MS = 60_000  # a reading older than a minute's window says nothing of the quota now
LOOKUP_EVERY_S = 1.0  # how often a worker looks again at what the others published


class RedisReadings:
    """A ``QuotaReadings`` on Redis: the reported limits of every deployment, one bucket each for every worker."""

    def __init__(self, client: aioredis.Redis, target: RedisTarget) -> None:
        self._client = client
        self.target = target
        self._reported = f"{target.prefix}:reported:"
        self._bucket = f"{target.prefix}:reported-bucket:"
        self._admit = client.register_script(ADMIT)
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

    async def admit(self, deployment: str, tokens: int, *, max_wait_s: float) -> float:
        limits = await self._limits(deployment)
        if limits is None:
            return 0.0
        with shared_state_errors(self.target, "reported quota"):
            reply = await self._admit(keys=[self._bucket + deployment], args=bucket_args(limits, tokens))
        return float(reply)

    async def _limits(self, deployment: str) -> RateLimits | None:
        looked, limits = self._known.get(deployment, (float("-inf"), None))
        if time.monotonic() - looked < LOOKUP_EVERY_S:
            return limits
        with shared_state_errors(self.target, "reported quota"):
            found = await self._client.hgetall(self._reported + deployment)
        limits = _limits({k.decode() if isinstance(k, bytes) else str(k): v for k, v in found.items()})
        self._known[deployment] = (time.monotonic(), limits)
        return limits


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
