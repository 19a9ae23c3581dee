"""The gateway's shared state on one Redis server: the connection, its failures, and the shared backends.

``open_shared_state`` connects (one ``PING`` before anything else, so an unreachable server or a
refused password ends the start with one line before any spend) and builds, for the runtime:

* the response cache: this machine's disk as the first tier, the server as the shared one
  (``cache/redis.py``); if the server is lost mid-run the cache goes on locally, with one warning;
* cross-process in-flight dedupe (``gateway/leases/redis.py``), which degrades with the cache;
* the provider's reported per-minute limits, published by every worker's pacer and paced through one
  bucket per deployment (``gateway/shared/readings.py``), so workers without ``--tpm`` share the quota;
* the rate limiter, one per deployment (``gateway/limits/redis.py``), and with ``--budget-name`` the
  budget (``gateway/budget/redis.py``): these never fall back to per-process state. A lost server
  stops the run with ``SharedStateUnavailable``.

redis-py's asyncio client carries every command; the connection pool lives on the gateway's loop and
is closed with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from cache import ResponseCache
from cache.disk import default_cache_dir
from cache.redis import RedisCacheStore, SharedCacheHealth, TieredCache
from gateway.budget import Budget, LocalBudget
from gateway.budget.notes import BudgetNotes
from gateway.budget.redis import RedisBudget
from gateway.facade import GatewayLoop
from gateway.leases import CallLeases, NoLeases
from gateway.leases.redis import RedisLeases
from gateway.limits import Limiter, RateLimits
from gateway.limits.redis import RedisRateLimiter
from gateway.pacing import QuotaReadings
from gateway.shared.conn import check_reachable, connect
from gateway.shared.readings import RedisReadings
from gateway.shared.target import RedisTarget


@dataclass
class SharedBackends:
    """What the runtime plugs into the gateway's seams when state is shared."""

    client: aioredis.Redis
    cache: TieredCache | None
    leases: CallLeases
    limiter: Limiter
    budget: Budget
    readings: QuotaReadings

    async def aclose(self) -> None:
        if isinstance(self.budget, RedisBudget):
            self.budget.close()
        await self.client.aclose()


def open_shared_state(
    target: RedisTarget,
    loop: GatewayLoop,
    *,
    cache_dir: Path | None,
    share_cache: bool,
    share_calls: bool,
    limits: RateLimits,
    max_cost_usd: float | None,
    budget_name: str | None,
) -> SharedBackends:
    """Connect and build the shared backends; raises ``ConfigurationError`` before any spend if it cannot.

    ``share_cache`` puts the cache on the server (behind ``cache_dir`` on this machine); without it
    the cache is the caller's to choose. ``share_calls`` adds the cross-process in-flight dedupe.
    """
    client = connect(target)

    async def start() -> RedisBudget | None:
        await check_reachable(client, target)
        if budget_name is None or max_cost_usd is None:
            return None
        # What this machine's workers spent under the budget is noted beside the response cache.
        notes = BudgetNotes(cache_dir if cache_dir is not None else default_cache_dir())
        budget = RedisBudget(client, target, budget_name, max_cost_usd, notes=notes)
        await budget.open()
        return budget

    try:
        shared_budget = loop.run(start())
    except BaseException:
        loop.run(client.aclose())
        raise
    health = SharedCacheHealth(target.display)
    shared_store = RedisCacheStore(client, target.prefix)
    cache = TieredCache(ResponseCache(cache_dir, off_loop=True), shared_store, health) if share_cache else None
    if cache is not None:
        loop.run(cache.share_pending())
    leases: CallLeases = (
        RedisLeases(client, target.prefix, shared_store, health) if cache is not None and share_calls else NoLeases()
    )
    budget: Budget = shared_budget if shared_budget is not None else LocalBudget(max_cost_usd)
    limiter = RedisRateLimiter(client, target, limits)
    return SharedBackends(client, cache, leases, limiter, budget, RedisReadings(client, target))
