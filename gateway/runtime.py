"""Assembles the gateway for a process: one loop thread, one cache, one ledger, one transport.

This is the one place that picks the implementations behind the gateway's seams (cache store,
limiter, budget, the provider's reported quota); every script that makes calls builds its gateway here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy

from cache import CachePolicy, CacheStore, ResponseCache
from gateway.budget import Budget, LocalBudget
from gateway.core import Gateway
from gateway.dspy_lm import make_lm
from gateway.errors import ConfigurationError
from gateway.facade import GatewayLoop, SyncGateway
from gateway.leases import CallLeases, NoLeases
from gateway.ledger import Ledger
from gateway.limits import Limiter, RateLimiter, RateLimits
from gateway.pacing import LocalReadings, Pacing, QuotaReadings
from gateway.retry import RetryPolicy
from gateway.runs import RunLedgers
from gateway.shared.target import RedisTarget
from gateway.transports import Transport
from gateway.transports.http import TransportRouter, gateway_transport
from gateway.types import Endpoint


@dataclass(frozen=True)
class GatewaySettings:
    """Everything that shapes how calls are made; validated where users give it (the CLI)."""

    concurrency: int = 16
    cache_dir: Path | None = None
    policy: CachePolicy = CachePolicy.READ_WRITE
    limits: RateLimits = field(default_factory=RateLimits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_cost_usd: float | None = None
    seed: int = 42
    # One of TRANSPORT_CHOICES. "auto": OpenAI-compatible and Azure calls go straight over HTTP where
    # that sends exactly what LiteLLM would, everything else through LiteLLM; "litellm": all through LiteLLM.
    transport: str = "auto"
    # Shared state: with a Redis server, the cache (behind this machine's disk), in-flight calls and
    # the rate limits are shared by every worker using it, and with ``budget_name`` the cap as well.
    redis: RedisTarget | None = None
    budget_name: str | None = None
    share_cache: bool = True  # False: with a Redis server, share the limits and budget only


class Runtime:
    """The process's gateway and the loop it runs on; close it when done (or use ``with``)."""

    def __init__(
        self, settings: GatewaySettings, transport: Transport | None = None, *, runs: RunLedgers | None = None
    ) -> None:
        """``runs``: the gateway serves several runs, each recording its calls in a ledger of its own
        (``runs.run(ledger)``) under one budget; ``ledger`` is then where calls made outside any run go."""
        self.settings = settings
        owned: TransportRouter | None = None
        if transport is None:
            owned = transport = gateway_transport(settings.transport, max_connections=settings.concurrency)
        self.transport = transport
        self.runs = runs
        self.ledger = runs.unattributed if runs is not None else Ledger(max_cost_usd=settings.max_cost_usd)
        self.loop = GatewayLoop()
        if owned is not None:
            # Built here, so closed here: its HTTP session lives on the gateway loop and closes with it.
            self.loop.on_close(owned.aclose)
        try:
            self._pick_backends(settings)
        except BaseException:
            self.loop.close()
            raise
        self.gateway = Gateway(
            self.transport,
            cache=self.cache,
            policy=settings.policy,
            ledger=runs if runs is not None else self.ledger,
            concurrency=settings.concurrency,
            limiter=self.limiter,
            budget=self.budget,
            leases=self.leases,
            retry=settings.retry,
            pacing=Pacing(readings=self.readings),
            exact_tokens=settings.limits.enabled,
            seed=settings.seed,
        )
        self.sync = SyncGateway(self.gateway, self.loop)

    def _pick_backends(self, settings: GatewaySettings) -> None:
        """The implementations behind the gateway's seams: this process's, or those on a shared server."""
        self.cache: CacheStore | None
        self.leases: CallLeases
        self.limiter: Limiter
        self.budget: Budget
        self.readings: QuotaReadings
        if settings.redis is None:
            if settings.budget_name is not None:
                raise ConfigurationError("--budget-name needs --redis-url: a shared budget lives on a Redis server")
            self.cache = None if settings.policy is CachePolicy.OFF else ResponseCache(settings.cache_dir)
            self.leases = NoLeases()
            self.limiter = RateLimiter(settings.limits)
            self.budget = LocalBudget(settings.max_cost_usd)
            self.readings = LocalReadings()
            return
        if settings.budget_name is not None and settings.max_cost_usd is None:
            raise ConfigurationError("--budget-name needs --max-cost: the cap every worker naming it shares")
        from gateway.shared.state import open_shared_state  # only a run given a Redis URL loads the client

        shared = open_shared_state(
            settings.redis,
            self.loop,
            cache_dir=settings.cache_dir,
            share_cache=settings.share_cache and settings.policy is not CachePolicy.OFF,
            # Only a run that reads and writes the cache can take a concurrent worker's answer from it.
            share_calls=settings.policy is CachePolicy.READ_WRITE,
            limits=settings.limits,
            max_cost_usd=settings.max_cost_usd,
            budget_name=settings.budget_name,
        )
        self.loop.on_close(shared.aclose)
        self.leases, self.limiter, self.budget = shared.leases, shared.limiter, shared.budget
        self.readings = shared.readings
        self.cache = shared.cache
        if self.cache is None and settings.policy is not CachePolicy.OFF:
            # Leases and reservations are renewed on the loop: a waiting disk must not stop it.
            self.cache = ResponseCache(settings.cache_dir, off_loop=True)

    def lm(self, endpoint: Endpoint, *, retry_max_tokens: int | None = None, **lm_kwargs: Any) -> dspy.LM:
        """A ``dspy.LM`` over this runtime's gateway (see ``gateway.dspy_lm.make_lm``)."""
        return make_lm(self.gateway, self.loop, endpoint, retry_max_tokens=retry_max_tokens, **lm_kwargs)

    def close(self) -> None:
        self.loop.close()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
