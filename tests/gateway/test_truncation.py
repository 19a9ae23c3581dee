"""An answer cut at its max_tokens is asked again once with the larger limit, counted in the ledger."""

from __future__ import annotations

import asyncio

from cache import CachePolicy, ResponseCache
from gateway.core import Gateway
from gateway.testing import ScriptedTransport, VirtualClock, chat_response
from gateway.types import ChatCall, Completion, Endpoint
from simulator import SimConfig, Simulator

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="trunc|v1", price_model="gpt-4o")


def call(max_tokens: int = 10, retry: int | None = 40, **params: object) -> ChatCall:
    return ChatCall(
        ENDPOINT, [{"role": "user", "content": "tell me"}], {"max_tokens": max_tokens, **params}, None, retry
    )


def answer(call: ChatCall) -> dict[str, object]:
    limit = int(call.params["max_tokens"])  # a model with 25 tokens to say: cut below that
    return chat_response("words " * min(limit, 25), finish_reason="length" if limit < 25 else "stop")


def test_a_cut_answer_is_asked_again_once_with_the_larger_limit(tmp_path):
    transport = ScriptedTransport(fallback=answer)
    clock = VirtualClock()
    gateway = Gateway(transport, cache=ResponseCache(tmp_path / "c"), clock=clock, sleep=clock.sleep)
    completion = asyncio.run(gateway.complete(call()))
    assert [c.params["max_tokens"] for c in transport.sent] == [10, 40]
    assert completion.response["choices"][0]["finish_reason"] == "stop"
    totals = gateway.ledger.total()
    assert totals.truncated == 1 and totals.live_calls == 2  # both requests were answered (and paid)

    # The same call again: both answers come from the cache, in the same order, nothing is sent.
    replay = Gateway(transport, cache=ResponseCache(tmp_path / "c"), policy=CachePolicy.REPLAY)
    again = asyncio.run(replay.complete(call()))
    assert again.response == completion.response and len(transport.sent) == 2
    assert replay.ledger.total().truncated == 1 and replay.ledger.total().cached_calls == 2


def test_without_a_larger_limit_the_cut_answer_is_the_answer():
    transport = ScriptedTransport(fallback=answer)
    gateway = Gateway(transport, policy=CachePolicy.OFF)
    for request in (call(retry=None), call(max_tokens=10, retry=10)):
        completion = asyncio.run(gateway.complete(request))
        assert completion.response["choices"][0]["finish_reason"] == "length"
    assert len(transport.sent) == 2 and gateway.ledger.total().truncated == 0


def test_a_retry_that_is_cut_again_is_not_retried_twice():
    transport = ScriptedTransport(fallback=answer)
    gateway = Gateway(transport, policy=CachePolicy.OFF)
    asyncio.run(gateway.complete(call(max_tokens=5, retry=20)))
    assert [c.params["max_tokens"] for c in transport.sent] == [5, 20]  # 20 is cut too: taken as it is


def test_max_completion_tokens_is_raised_when_that_is_what_the_call_sets():
    transport = ScriptedTransport(
        fallback=lambda c: chat_response(
            "x", finish_reason="length" if c.params["max_completion_tokens"] < 30 else "stop"
        )
    )
    gateway = Gateway(transport, policy=CachePolicy.OFF)
    request = ChatCall(ENDPOINT, [{"role": "user", "content": "hi"}], {"max_completion_tokens": 10}, None, 30)
    asyncio.run(gateway.complete(request))
    assert [c.params["max_completion_tokens"] for c in transport.sent] == [10, 30]


def test_over_http_the_simulator_cuts_and_the_gateway_asks_again(tmp_path):
    from gateway.config import simulator_endpoint
    from gateway.transports.http import OpenAIHTTPTransport
    from simulator import SIM_VERSION

    with Simulator(SimConfig(latency_ms=0)) as sim:
        endpoint = simulator_endpoint(sim.openai_api_base, SIM_VERSION)
        transport = OpenAIHTTPTransport()
        gateway = Gateway(transport, policy=CachePolicy.OFF)
        request = ChatCall(
            endpoint, [{"role": "user", "content": "How do TCP and UDP differ?"}], {"max_tokens": 8}, None, 2000
        )

        async def ask() -> Completion:
            try:
                return await gateway.complete(request)
            finally:
                await transport.aclose()

        completion = asyncio.run(ask())
        stats = sim.stats()
    assert stats["requests"] == 2 and stats["truncated"] == 1
    assert completion.response["choices"][0]["finish_reason"] == "stop"
    assert gateway.ledger.total().truncated == 1
