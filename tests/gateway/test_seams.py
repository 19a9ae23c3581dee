"""The gateway's seams: any cache store, limiter and budget that keep their protocol plug in unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cache import CachePolicy, CorruptEntry, entry_text, verify_entry
from gateway import errors
from gateway.budget import NO_HOLD, Hold, LocalBudget
from gateway.core import Gateway
from gateway.testing import ScriptedTransport
from gateway.types import ChatCall, Endpoint

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="test|v1", price_model="gpt-4o")


def call(text: str = "hello", endpoint: Endpoint = ENDPOINT) -> ChatCall:
    return ChatCall(endpoint, [{"role": "user", "content": text}], {"temperature": 0.0, "max_tokens": 50})


class DictStore:
    """A cache store that keeps the stored text in a dict, as any remote store would."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def lookup(self, key: str) -> dict[str, Any] | None:
        raw = self.values.get(key)
        return None if raw is None else verify_entry(key, raw)

    async def store(self, key: str, record: dict[str, Any]) -> None:
        self.values[key] = entry_text(key, record)

    def close(self) -> None:
        pass


class CountingLimiter:
    def __init__(self) -> None:
        self.waited_s = 0.0
        self.admitted: list[tuple[int, str]] = []

    async def acquire(self, tokens: int, *, deployment: str = "") -> None:
        self.admitted.append((tokens, deployment))


def test_any_cache_store_serves_hits_and_its_values_are_checked():
    store = DictStore()
    transport = ScriptedTransport()
    gateway = Gateway(transport, cache=store)
    first = asyncio.run(gateway.complete(call()))
    second = asyncio.run(gateway.complete(call()))
    assert not first.cached and second.cached and len(transport.sent) == 1
    # The stored value is the contract's JSON text: tampering with it is caught, not served.
    store.values[first.key] = store.values[first.key].replace("hello", "HELLO")
    with pytest.raises(CorruptEntry):
        verify_entry(first.key, store.values[first.key])
    third = asyncio.run(gateway.complete(call()))
    assert not third.cached and len(transport.sent) == 2


def test_the_limiter_is_told_each_calls_deployment_and_admission_tokens():
    limiter = CountingLimiter()
    gateway = Gateway(ScriptedTransport(), policy=CachePolicy.OFF, limiter=limiter)
    other = Endpoint(model="azure/d", identity="azure|host|2024-10-21|d", price_model="gpt-4o")
    asyncio.run(gateway.complete(call("a")))
    asyncio.run(gateway.complete(call("b", endpoint=other)))
    assert [d for _, d in limiter.admitted] == ["test|v1", "azure|host|2024-10-21|d"]
    assert all(tokens > 50 for tokens, _ in limiter.admitted)  # prompt + max_tokens


def test_an_uncapped_budget_holds_nothing():
    budget = LocalBudget()
    assert asyncio.run(budget.reserve(None)) is NO_HOLD
    assert asyncio.run(budget.reserve(5.0)) is NO_HOLD
    asyncio.run(budget.settle(NO_HOLD, 5.0))
    assert budget.spent_usd == 0.0  # the ledger accounts; an uncapped budget tracks nothing


def test_a_capped_budget_refuses_a_call_it_cannot_price():
    budget = LocalBudget(1.0)
    with pytest.raises(errors.ConfigurationError, match="--price-model"):
        asyncio.run(budget.reserve(None))
    assert budget.reservations == 0


def test_a_settled_call_of_unknown_cost_is_charged_its_reservation():
    budget = LocalBudget(1.0)

    async def scenario() -> None:
        hold = await budget.reserve(0.4)
        assert isinstance(hold, Hold) and budget.reserved_usd == pytest.approx(0.4)
        await budget.settle(hold, None)
        assert budget.spent_usd == pytest.approx(0.4) and budget.reserved_usd == 0.0
        hold = await budget.reserve(0.5)
        await budget.settle(hold, 0.1)
        assert budget.spent_usd == pytest.approx(0.5)
        with pytest.raises(errors.BudgetExceeded):
            await budget.reserve(0.6)

    asyncio.run(scenario())


def test_near_the_cap_a_call_waits_for_one_in_flight_to_settle():
    budget = LocalBudget(1.0)
    order: list[str] = []

    async def scenario() -> None:
        first = await budget.reserve(0.7)

        async def second() -> None:
            hold = await budget.reserve(0.5)  # fits only once the first settles for less
            order.append("second admitted")
            await budget.settle(hold, 0.2)

        waiter = asyncio.ensure_future(second())
        await asyncio.sleep(0)
        order.append("first settles")
        await budget.settle(first, 0.3)
        await waiter

    asyncio.run(scenario())
    assert order == ["first settles", "second admitted"]
    assert budget.spent_usd == pytest.approx(0.5)
