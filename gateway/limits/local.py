"""Client-side rate limits: requests/min and tokens/min as continuously refilling token buckets.

Azure enforces its quotas over short windows, so the buckets hold only ``burst_s`` seconds' worth of
quota (never a whole minute's) and refill continuously. A request's tokens are counted at admission
as prompt tokens plus ``max_tokens``, as Azure counts them. Clock and sleep are injectable.

``Limiter`` is the seam the gateway admits calls through. ``RateLimiter`` here holds one process to
its limits; the shared limiter (on Redis) holds every worker calling a deployment
to that deployment's limits. The gateway names the deployment of each call (its endpoint identity);
a process-local limiter has one pair of buckets whatever the deployment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from gateway.limits._base import RateLimits


class TokenBucket:
    """A bucket refilled at ``rate_per_s`` up to ``capacity``; pure arithmetic over a given time."""

    def __init__(self, rate_per_s: float, capacity: float, now: float) -> None:
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.level = capacity
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate_per_s)
        self.updated = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` is available (0 if it is now); amounts above capacity need a full bucket."""
        self.refill(now)
        need = min(amount, self.capacity)
        if self.level >= need - 1e-9:  # tolerate float rounding after an exact sleep
            return 0.0
        return (need - self.level) / self.rate_per_s

    def take(self, amount: float) -> None:
        self.level -= amount


class RateLimiter:
    """Admits requests in arrival order within both buckets."""

    def __init__(
        self,
        limits: RateLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        now = clock()
        self._buckets: list[tuple[str, TokenBucket]] = []
        if limits.rpm is not None:
            rate = limits.rpm / 60.0
            self._buckets.append(("requests", TokenBucket(rate, max(1.0, rate * limits.burst_s), now)))
        if limits.tpm is not None:
            rate = limits.tpm / 60.0
            self._buckets.append(("tokens", TokenBucket(rate, max(1.0, rate * limits.burst_s), now)))
        self._lock = asyncio.Lock()
        self.waited_s = 0.0

    async def acquire(self, tokens: int, *, deployment: str = "") -> None:
        """Wait until one request of ``tokens`` tokens fits in both buckets, then take it (any deployment)."""
        if not self._buckets:
            return
        async with self._lock:  # one waiter at a time: first come, first served
            while True:
                now = self._clock()
                wait = max(bucket.wait_for(1 if kind == "requests" else tokens, now) for kind, bucket in self._buckets)
                if wait <= 0:
                    break
                self.waited_s += wait
                await self._sleep(wait)
            for kind, bucket in self._buckets:
                bucket.take(1 if kind == "requests" else tokens)
