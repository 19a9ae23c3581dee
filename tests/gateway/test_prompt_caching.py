"""Prompt tokens the provider served from its cache are priced at the cache-read price, shown and settled."""

from __future__ import annotations

import asyncio

import pytest

from cache import CachePolicy, ResponseCache, request_key
from gateway.budget import LocalBudget
from gateway.core import Gateway
from gateway.ledger import Ledger, format_ledger
from gateway.pricing import price_of
from gateway.testing import ScriptedTransport, chat_response
from gateway.types import ChatCall, Endpoint

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="openai|gpt-4o", api_key="k")


def cached_answer(prompt: int, cached: int, completion: int) -> dict:
    answer = chat_response("ok", prompt_tokens=prompt, completion_tokens=completion)
    answer["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}
    return answer


def test_cached_prompt_tokens_are_priced_at_the_cache_read_price():
    price = price_of("gpt-4o")
    assert price.cache_read_usd == pytest.approx(1.25e-06) and price.cache_read_usd < price.prompt_usd
    assert price.cost(2000, 100, cached_prompt_tokens=1536) == pytest.approx(
        464 * price.prompt_usd + 1536 * price.cache_read_usd + 100 * price.completion_usd
    )
    unlisted = price_of("gpt-4")  # no cache-read price in the map: cached tokens cost the full price
    assert unlisted.cost(2000, 100, cached_prompt_tokens=1536) == pytest.approx(unlisted.cost(2000, 100))


def test_the_ledger_shows_them_and_the_budget_settles_the_discounted_cost(tmp_path):
    transport = ScriptedTransport([cached_answer(2000, 1536, 100)])
    ledger = Ledger(max_cost_usd=5.0)
    budget = LocalBudget(5.0)
    gateway = Gateway(transport, cache=ResponseCache(tmp_path / "c"), ledger=ledger, budget=budget)
    call = ChatCall(ENDPOINT, [{"role": "user", "content": "q"}], {"max_tokens": 100})
    live = asyncio.run(gateway.complete(call))
    expected = price_of("gpt-4o").cost(2000, 100, cached_prompt_tokens=1536)
    assert live.cost_usd == pytest.approx(expected) and budget.spent_usd == pytest.approx(expected)
    total = ledger.as_dict()["total"]
    assert total["cached_prompt_tokens"] == 1536 and total["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert "cached tok" in format_ledger(ledger.as_dict()).splitlines()[0]
    again = asyncio.run(gateway.complete(call))  # from the response cache: saved what it cost
    assert again.cached and again.cost_usd == pytest.approx(expected)


def test_the_cache_key_of_a_request_is_unchanged():
    # Answers cached before prompt caching was priced still replay: the key is the same contract.
    key = request_key(
        endpoint="openai|gpt-4o",
        model="openai/gpt-4o",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is TCP?"}],
        params={"temperature": 0.0, "max_tokens": 300},
        rollout_id=None,
    )
    assert key == "v1:77e5fae5456e8b07fc2f17798e7d98e9ee14f82d1ab0190b45387d6fc3b110d3"


def test_a_policy_off_gateway_needs_no_cache():
    gateway = Gateway(ScriptedTransport([cached_answer(1200, 1024, 10)]), policy=CachePolicy.OFF)
    asyncio.run(gateway.complete(ChatCall(ENDPOINT, [{"role": "user", "content": "q"}], {"max_tokens": 10})))
    assert gateway.ledger.total().cached_prompt_tokens == 1024
