"""A call's reservation is its exact worst case, so token-dense text cannot take the spend past the cap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cache import CachePolicy
from gateway import errors, tokens
from gateway.budget import Budget, Hold, LocalBudget
from gateway.budget.redis import RedisBudget, read_budget
from gateway.core import Gateway
from gateway.ledger import Ledger
from gateway.pricing import price_of
from gateway.shared.conn import connect
from gateway.testing import ScriptedTransport, billed_in_full, dense_call, worst_case_cost
from gateway.types import ChatCall, Endpoint

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="openai|gpt-4o", api_key="k")
PRICE = price_of("openai/gpt-4o")
CALLS = 96


async def spend(budget: Budget, cap: float, concurrency: int) -> tuple[Ledger, list[Any]]:
    ledger = Ledger(max_cost_usd=cap)
    transport = ScriptedTransport(fallback=billed_in_full, delay_s=0.002)
    gateway = Gateway(
        transport, policy=CachePolicy.OFF, ledger=ledger, budget=budget, concurrency=concurrency, exact_tokens=False
    )
    calls = [dense_call(i, ENDPOINT) for i in range(CALLS)]
    outcomes = await asyncio.gather(*(gateway.complete(c) for c in calls), return_exceptions=True)
    return ledger, outcomes


@pytest.mark.parametrize("concurrency", [16, 64])
def test_dense_text_never_takes_the_local_budget_past_its_cap(concurrency):
    cap = round(worst_case_cost([dense_call(i, ENDPOINT) for i in range(CALLS)], PRICE) * 0.3, 4)
    budget = LocalBudget(cap)
    ledger, outcomes = asyncio.run(spend(budget, cap, concurrency))
    total = ledger.total()
    assert total.live_calls > 0 and any(isinstance(o, errors.GatewayError) for o in outcomes)
    assert total.cost_usd <= cap * (1 + 1e-9), f"spent {total.cost_usd / cap:.3f}x the cap"
    assert budget.spent_usd == pytest.approx(total.cost_usd)


@pytest.mark.parametrize("concurrency", [16, 64])
def test_dense_text_never_takes_the_shared_budget_past_its_cap(shared_redis, concurrency):
    cap = round(worst_case_cost([dense_call(i, ENDPOINT) for i in range(CALLS)], PRICE) * 0.3, 4)

    async def scenario() -> tuple[Ledger, list[Any], dict[str, Any] | None]:
        client = connect(shared_redis)
        try:
            budget = RedisBudget(client, shared_redis, "dense", cap)
            await budget.open()
            ledger, outcomes = await spend(budget, cap, concurrency)
            return ledger, outcomes, await read_budget(client, shared_redis, "dense")
        finally:
            await client.aclose()

    ledger, outcomes, state = asyncio.run(scenario())
    assert state is not None and ledger.total().live_calls > 0
    assert state["spent_usd"] <= cap * (1 + 1e-9), f"spent {state['spent_usd'] / cap:.3f}x the cap"
    assert state["spent_usd"] == pytest.approx(ledger.total().cost_usd, abs=1e-6)


class RecordingBudget(LocalBudget):
    def __init__(self, cap: float) -> None:
        super().__init__(cap)
        self.estimates: list[float | None] = []

    async def reserve(self, estimate_usd: float | None) -> Hold:
        self.estimates.append(estimate_usd)
        return await super().reserve(estimate_usd)


def test_a_reservation_counts_the_tokenizer_n_choices_and_the_models_output_limit():
    budget = RecordingBudget(100.0)
    gateway = Gateway(
        ScriptedTransport(fallback=billed_in_full),
        policy=CachePolicy.OFF,
        budget=budget,
        ledger=Ledger(max_cost_usd=100.0),
    )
    with_n, unbounded = dense_call(1, ENDPOINT), dense_call(2, ENDPOINT)  # n=3 of 200 tokens; no max_tokens at all
    asyncio.run(gateway.complete(with_n))
    asyncio.run(gateway.complete(unbounded))
    counted = [tokens.count_prompt_tokens("gpt-4o", c.messages) for c in (with_n, unbounded)]
    assert counted[0] > 2 * tokens.estimate_prompt_tokens(with_n.messages)  # dense: the estimate is far under
    assert budget.estimates == [
        pytest.approx(PRICE.cost(counted[0], 3 * 200)),  # the prompt once, each choice its limit
        pytest.approx(PRICE.cost(counted[1], 16384)),  # GPT-4o's output limit in LiteLLM's price map
    ]


def test_a_model_without_an_openai_tokenizer_reserves_the_utf8_bound():
    budget = RecordingBudget(100.0)
    endpoint = Endpoint(model="anthropic/claude-x", identity="a", api_key="k", price_model="gpt-4o")
    call = ChatCall(endpoint, [{"role": "user", "content": "日本語のテキスト"}], {"max_tokens": 10})
    gateway = Gateway(ScriptedTransport(), policy=CachePolicy.OFF, budget=budget, ledger=Ledger(max_cost_usd=100.0))
    asyncio.run(gateway.complete(call))
    assert budget.estimates == [pytest.approx(PRICE.cost(len("日本語のテキスト".encode()) + 4 + 3, 10))]
