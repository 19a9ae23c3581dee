"""Assembles the gateway for a process: one loop thread, one cache, one ledger, one transport.

This is the one place that picks the implementations behind the gateway's seams (cache store,
limiter, budget); every script that makes calls builds its gateway here.
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
from gateway.facade import GatewayLoop, SyncGateway
from gateway.http_transport import TransportRouter, gateway_transport
from gateway.ledger import Ledger
from gateway.limits import Limiter, RateLimiter, RateLimits
from gateway.retry import RetryPolicy
from gateway.runs import RunLedgers
from gateway.transport import Transport
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
        self.cache: CacheStore | None = (
            None if settings.policy is CachePolicy.OFF else ResponseCache(settings.cache_dir)
        )
        self.limiter: Limiter = RateLimiter(settings.limits)
        self.budget: Budget = LocalBudget(settings.max_cost_usd)
        self.gateway = Gateway(
            self.transport,
            cache=self.cache,
            policy=settings.policy,
            ledger=runs if runs is not None else self.ledger,
            concurrency=settings.concurrency,
            limiter=self.limiter,
            budget=self.budget,
            retry=settings.retry,
            exact_tokens=settings.limits.enabled,
            seed=settings.seed,
        )
        self.sync = SyncGateway(self.gateway, self.loop)

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
