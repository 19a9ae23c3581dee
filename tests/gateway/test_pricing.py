"""One price resolution for the estimate, the budget cap and the ledger (``gateway/pricing.py``)."""

from __future__ import annotations

import asyncio

import pytest

from cache import CachePolicy, ResponseCache
from gateway import errors
from gateway.core import Gateway
from gateway.ledger import Ledger
from gateway.pricing import PriceBook, price_of, served_model_key
from gateway.testing import ScriptedTransport, chat_response
from gateway.types import ChatCall, Endpoint

DEPLOYMENT = Endpoint(model="azure/gpt-4o", identity="azure|res.openai.azure.com|2024-10-21|gpt-4o", api_key="k")
SERVED = "gpt-4o-2024-05-13"  # priced differently from "gpt-4o": a name-based guess would be wrong


def call(text: str, endpoint: Endpoint = DEPLOYMENT) -> ChatCall:
    return ChatCall(endpoint, [{"role": "user", "content": text}], {"max_tokens": 100})


def answer(model: str = SERVED, prompt_tokens: int = 1000, completion_tokens: int = 100):
    return lambda _: chat_response("ok", model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def test_the_rule():
    book = PriceBook()
    explicit = Endpoint(model="azure/anything", identity="a", price_model="gpt-4o-mini")
    assert book.pricing_name(explicit, {"model": SERVED}) == "gpt-4o-mini"
    assert book.pricing_name(Endpoint(model="openai/gpt-4o", identity="o"), {"model": SERVED}) == "openai/gpt-4o"
    # A deployment's name is not a model name, even when it looks like one.
    assert book.pricing_name(DEPLOYMENT) is None and book.price(DEPLOYMENT) is None
    assert book.pricing_name(DEPLOYMENT, {"model": SERVED}) == f"azure/{SERVED}"
    assert price_of(f"azure/{SERVED}") != price_of("gpt-4o")
    with pytest.raises(errors.PriceUnknown, match="--price-model"):
        book.require(DEPLOYMENT)
    with pytest.raises(errors.PriceUnknown, match="--price-model 'gtp-4o'"):
        book.require(Endpoint(model="azure/x", identity="x", price_model="gtp-4o"))


def test_a_deployment_is_priced_from_the_model_its_answer_names(tmp_path):
    transport = ScriptedTransport(fallback=answer())
    gateway = Gateway(transport, cache=ResponseCache(tmp_path / "cache"))
    live = asyncio.run(gateway.complete(call("hello")))
    expected = price_of(f"azure/{SERVED}").cost(1000, 100)
    assert live.cost_usd == pytest.approx(expected)
    assert gateway.ledger.total().cost_usd == pytest.approx(expected)
    assert gateway.ledger.as_dict()["total"]["cost_known"] is True
    cached = asyncio.run(gateway.complete(call("hello")))
    assert cached.cost_usd == pytest.approx(expected) and gateway.ledger.total().saved_usd == pytest.approx(expected)


def test_max_cost_refuses_an_unpriced_deployment_before_sending(tmp_path):
    transport = ScriptedTransport(fallback=answer())
    gateway = Gateway(transport, cache=ResponseCache(tmp_path / "cache"), ledger=Ledger(max_cost_usd=1.0))
    with pytest.raises(errors.PriceUnknown, match="--price-model"):
        asyncio.run(gateway.complete(call("hello")))
    assert transport.sent == []
    with pytest.raises(errors.RunAborted):
        asyncio.run(gateway.complete(call("again")))
    assert transport.sent == []


def test_a_later_run_knows_the_price_from_the_note_beside_the_cache(tmp_path):
    first = Gateway(ScriptedTransport(fallback=answer()), cache=ResponseCache(tmp_path / "cache"))
    asyncio.run(first.complete(call("learn")))
    first.cache.close()
    with ResponseCache(tmp_path / "cache") as cache:
        assert cache.get(served_model_key(DEPLOYMENT.identity)) == {"served_model": SERVED}
        later = PriceBook()
        asyncio.run(later.recall(cache, DEPLOYMENT))
        assert later.pricing_name(DEPLOYMENT) == f"azure/{SERVED}"  # before any call of the later run
        # Under a cap the later run reserves at that price and stops at the cap: each call reserves
        # its prompt (9 tokens as GPT-4o's tokenizer counts "qN" framed) and max_tokens, and costs as much.
        transport = ScriptedTransport(fallback=answer(prompt_tokens=9, completion_tokens=100))
        three_calls = price_of(f"azure/{SERVED}").cost(3 * 9, 3 * 100)
        ledger = Ledger(max_cost_usd=three_calls * 1.0001)
        capped = Gateway(transport, cache=cache, ledger=ledger)

        async def spend() -> list[object]:
            return [await _settle(capped, call(f"q{i}")) for i in range(50)]

        outcomes = asyncio.run(spend())
    assert isinstance(outcomes[-1], errors.RunAborted)
    assert isinstance(outcomes[3], errors.BudgetExceeded)
    assert len(transport.sent) == 3 and ledger.spent_usd == pytest.approx(three_calls)


def test_the_note_follows_a_changed_model_and_replay_writes_none(tmp_path):
    gateway = Gateway(ScriptedTransport(fallback=answer()), cache=ResponseCache(tmp_path / "cache"))
    asyncio.run(gateway.complete(call("first")))
    gateway.transport = ScriptedTransport(fallback=answer("gpt-4o-2024-11-20"))
    asyncio.run(gateway.complete(call("second")))
    assert gateway.prices.served_model(DEPLOYMENT) == "gpt-4o-2024-11-20"
    gateway.cache.close()
    with ResponseCache(tmp_path / "cache") as cache:
        assert cache.get(served_model_key(DEPLOYMENT.identity)) == {"served_model": "gpt-4o-2024-11-20"}
        cache.set(served_model_key(DEPLOYMENT.identity), {"served_model": SERVED})
        replay = Gateway(ScriptedTransport(), cache=cache, policy=CachePolicy.REPLAY)
        served = asyncio.run(replay.complete(call("second")))
        # The replayed answer is priced as the model it names, and the note is left as it was.
        assert served.cost_usd == pytest.approx(price_of("azure/gpt-4o-2024-11-20").cost(1000, 100))
        assert replay.prices.served_model(DEPLOYMENT) == "gpt-4o-2024-11-20"
        assert cache.get(served_model_key(DEPLOYMENT.identity)) == {"served_model": SERVED}


def test_a_damaged_note_is_no_note(tmp_path):
    with ResponseCache(tmp_path / "cache") as cache:
        cache.raw_set(served_model_key(DEPLOYMENT.identity), '{"served_model": "gpt-4o"}')  # no digest
        book = PriceBook()
        asyncio.run(book.recall(cache, DEPLOYMENT))
        assert book.price(DEPLOYMENT) is None


def test_under_a_cap_an_answer_from_an_unlisted_model_stops_the_run(tmp_path):
    transport = ScriptedTransport(fallback=answer("secret-preview-model"))
    explicit_unknown = Endpoint(model="openai/gpt-4o", identity="o")
    gateway = Gateway(transport, cache=ResponseCache(tmp_path / "cache"), ledger=Ledger(max_cost_usd=1.0))
    # openai/gpt-4o is priced by its name: the call is made...
    asyncio.run(gateway.complete(call("fine", explicit_unknown)))
    # ...but a deployment known to serve a priced model, then answering as one that has none:
    gateway.prices.learn(DEPLOYMENT, {"model": SERVED})
    with pytest.raises(errors.PriceUnknown, match="secret-preview-model"):
        asyncio.run(gateway.complete(call("unlisted")))
    assert len(transport.sent) == 2 and gateway.ledger.total().unpriced_calls == 1
    with pytest.raises(errors.RunAborted):
        asyncio.run(gateway.complete(call("after")))
    assert len(transport.sent) == 2


async def _settle(gateway: Gateway, c: ChatCall) -> object:
    try:
        return await gateway.complete(c)
    except errors.GatewayError as exc:
        return exc
