"""Ledger arithmetic over real loopback HTTP, one test per way a call can end.

Each call ends as exactly one of live, cached, error, cancelled or refused, and the requests the
simulator received always equal ``live_calls + retries + errors + cancelled`` (``PhaseTotals.requests``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import structlog.testing

from cache import CachePolicy, ResponseCache
from gateway import errors
from gateway.config import SIMULATOR_KEY, simulator_endpoint
from gateway.core import Gateway
from gateway.facade import GatewayLoop
from gateway.ledger import Ledger, PhaseTotals
from gateway.pricing import price_of
from gateway.retry import RetryPolicy
from gateway.testing import VirtualClock
from gateway.transports.http import OpenAIHTTPTransport
from gateway.types import ChatCall, Endpoint
from simulator import SIM_VERSION, FaultConfig, Simulator


@pytest.fixture(scope="module")
def loop() -> Iterator[GatewayLoop]:
    running = GatewayLoop()
    yield running
    running.close()


@pytest.fixture
def make_gateway(tmp_path: Path, loop: GatewayLoop) -> Iterator[Any]:
    made: list[tuple[Gateway, ResponseCache]] = []

    def make(*, policy: CachePolicy = CachePolicy.READ_WRITE, **kwargs: Any) -> Gateway:
        cache = ResponseCache(tmp_path / "cache")
        clock = VirtualClock()
        transport = OpenAIHTTPTransport(max_connections=8)
        gateway = Gateway(transport, cache=cache, policy=policy, clock=clock, sleep=clock.sleep, **kwargs)
        made.append((gateway, cache))
        return gateway

    yield make
    for gateway, cache in made:
        loop.run(gateway.transport.aclose())
        cache.close()


def endpoint(sim: Simulator) -> Endpoint:
    return simulator_endpoint(sim.openai_api_base, SIM_VERSION, timeout_s=10.0)


def chat(target: Endpoint, text: str) -> ChatCall:
    return ChatCall(target, [{"role": "user", "content": text}], {"max_tokens": 64, "temperature": 0.0})


def settle(loop: GatewayLoop, gateway: Gateway, calls: list[ChatCall]) -> list[Any]:
    async def each() -> list[Any]:
        return [await _outcome(gateway, c) for c in calls]

    return loop.run(each())


async def _outcome(gateway: Gateway, call: ChatCall) -> Any:
    try:
        return await gateway.complete(call)
    except errors.GatewayError as exc:
        return exc


def balanced(sim: Simulator, totals: PhaseTotals, calls: int) -> None:
    """The two identities every outcome keeps."""
    assert sim.stats()["requests"] == totals.requests
    assert totals.live_calls + totals.cached_calls + totals.errors + totals.cancelled + totals.refused == calls


def test_live(loop, start_sim, make_gateway):
    sim, gateway = start_sim(), make_gateway()
    settle(loop, gateway, [chat(endpoint(sim), "one"), chat(endpoint(sim), "two")])
    totals = gateway.ledger.total()
    assert totals.live_calls == 2 and totals.cost_usd > 0 and totals.prompt_tokens > 0
    balanced(sim, totals, 2)


def test_cached(loop, start_sim, make_gateway):
    sim, gateway = start_sim(), make_gateway()
    first, again = settle(loop, gateway, [chat(endpoint(sim), "one")] * 2)
    totals = gateway.ledger.total()
    assert (totals.live_calls, totals.cached_calls) == (1, 1)
    assert totals.saved_usd == pytest.approx(first.cost_usd) and again.cost_usd == first.cost_usd
    balanced(sim, totals, 2)


def test_retried_then_answered(loop, start_sim, make_gateway):
    sim = start_sim(faults=FaultConfig(rate_429=0.3, retry_after_s=1.0, rate_503=0.3))
    gateway = make_gateway(retry=RetryPolicy(max_attempts=12))
    results = settle(loop, gateway, [chat(endpoint(sim), f"flaky {i}") for i in range(12)])
    assert not any(isinstance(r, BaseException) for r in results)
    totals = gateway.ledger.total()
    injected = sum(sim.stats()["injected"].values())
    assert injected >= 3 and totals.retries == injected and totals.live_calls == 12
    balanced(sim, totals, 12)


def test_error_after_its_retries(loop, start_sim, make_gateway):
    sim = start_sim(faults=FaultConfig(rate_500=1.0))
    gateway = make_gateway(retry=RetryPolicy(max_attempts=3))
    (failed,) = settle(loop, gateway, [chat(endpoint(sim), "down")])
    assert isinstance(failed, errors.Unavailable)
    totals = gateway.ledger.total()
    assert (totals.errors, totals.retries, totals.live_calls) == (1, 2, 0)
    balanced(sim, totals, 1)


def test_content_filter_400(loop, start_sim, make_gateway):
    sim = start_sim(faults=FaultConfig(rate_content_filter=1.0))
    gateway = make_gateway()
    live, cached = settle(loop, gateway, [chat(endpoint(sim), "refused")] * 2)
    assert isinstance(live, errors.ContentFiltered) and isinstance(cached, errors.ContentFiltered) and cached.cached
    totals = gateway.ledger.total()
    assert (totals.errors, totals.cached_calls, totals.live_calls, totals.prompt_tokens) == (1, 1, 0, 0)
    balanced(sim, totals, 2)


def test_content_filter_finish_reason_is_one_billed_error(loop, start_sim, make_gateway):
    sim = start_sim(faults=FaultConfig(rate_content_filter=1.0, content_filter_mode="finish_reason"))
    gateway = make_gateway()
    live, cached = settle(loop, gateway, [chat(endpoint(sim), "refused")] * 2)
    assert isinstance(live, errors.ContentFiltered) and isinstance(cached, errors.ContentFiltered)
    totals = gateway.ledger.total()
    # One request, counted once: an error (not also a live call), with the prompt it was billed for.
    assert (totals.errors, totals.live_calls, totals.cached_calls) == (1, 0, 1)
    billed = sim.stats()["tokens"]["prompt"]
    assert totals.prompt_tokens == billed > 0
    assert totals.cost_usd == pytest.approx(price_of("gpt-4o").cost(billed, 0))
    balanced(sim, totals, 2)


def test_cancelled_on_the_wire(loop, start_sim, make_gateway):
    sim = start_sim(latency_ms=5000.0, latency_sigma=0.0)
    gateway = make_gateway()

    async def cancel_once_sent() -> None:
        task = asyncio.ensure_future(gateway.complete(chat(endpoint(sim), "slow")))
        for _ in range(1000):  # at most 10 s
            if sim.stats()["requests"] >= 1:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    loop.run(cancel_once_sent())
    totals = gateway.ledger.total()
    assert (totals.cancelled, totals.live_calls, totals.errors) == (1, 0, 0)
    # Nobody read the answer, but the provider may bill it: at most prompt + max_tokens at the price.
    assert totals.cancelled_max_usd > 0 and totals.cost_usd == 0
    balanced(sim, totals, 1)


def test_refused_by_the_budget(loop, start_sim, make_gateway):
    sim = start_sim()
    gateway = make_gateway(ledger=Ledger(max_cost_usd=1e-6))
    budget, after = settle(loop, gateway, [chat(endpoint(sim), "too dear"), chat(endpoint(sim), "next")])
    assert isinstance(budget, errors.BudgetExceeded) and isinstance(after, errors.RunAborted)
    totals = gateway.ledger.total()
    assert (totals.refused, totals.live_calls) == (2, 0)
    balanced(sim, totals, 2)


def test_refused_in_replay(loop, start_sim, make_gateway):
    sim = start_sim()
    gateway = make_gateway(policy=CachePolicy.REPLAY)
    (miss,) = settle(loop, gateway, [chat(endpoint(sim), "never cached")])
    assert isinstance(miss, errors.CacheMiss)
    totals = gateway.ledger.total()
    assert totals.refused == 1
    balanced(sim, totals, 1)


def test_refused_without_a_price_under_a_cap(loop, start_sim, make_gateway):
    sim = start_sim()
    deployment = Endpoint(
        model="azure/my-deployment",
        identity="azure|sim|2024-10-21|my-deployment",
        api_base=sim.base_url,
        api_version="2024-10-21",
        api_key=SIMULATOR_KEY,
    )
    gateway = make_gateway(ledger=Ledger(max_cost_usd=5.0))
    (refused,) = settle(loop, gateway, [chat(deployment, "unpriced")])
    assert isinstance(refused, errors.PriceUnknown) and "--price-model" in str(refused)
    totals = gateway.ledger.total()
    assert totals.refused == 1
    balanced(sim, totals, 1)


def test_cancelled_while_waiting_to_retry(loop, start_sim, tmp_path):
    sim = start_sim(faults=FaultConfig(rate_500=1.0))

    async def long_wait(seconds: float) -> None:
        await asyncio.sleep(60)

    gateway = Gateway(
        OpenAIHTTPTransport(), cache=ResponseCache(tmp_path / "cache"), sleep=long_wait, retry=RetryPolicy()
    )

    async def cancel_in_backoff() -> None:
        task = asyncio.ensure_future(gateway.complete(chat(endpoint(sim), "down")))
        for _ in range(1000):  # at most 10 s
            if sim.stats()["statuses"].get("500"):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the failed answer is read and the retry announced
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await gateway.transport.aclose()

    with structlog.testing.capture_logs() as logged:
        loop.run(cancel_in_backoff())
    totals = gateway.ledger.total()
    assert (totals.cancelled, totals.retries, totals.errors) == (1, 0, 0)
    balanced(sim, totals, 1)
    events = [e["event"] for e in logged if e["event"].startswith("gateway.retry")]
    # One retry announced, none sent: the log's retries less the abandoned ones are the ledger's.
    assert events == ["gateway.retry", "gateway.retry_abandoned"]
