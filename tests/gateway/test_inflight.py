"""In-flight dedupe: a caller waiting on an identical request gets its answer or sends the call itself."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cache import CachePolicy, ResponseCache
from gateway import errors
from gateway.core import Gateway
from gateway.ledger import Ledger
from gateway.retry import RetryPolicy
from gateway.testing import ScriptedTransport, VirtualClock
from gateway.types import ChatCall, Endpoint

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="test|v1", price_model="gpt-4o")


def call(text: str = "same") -> ChatCall:
    return ChatCall(ENDPOINT, [{"role": "user", "content": text}], {"temperature": 0.0, "max_tokens": 50})


def gateway(tmp_path, transport, **kwargs) -> Gateway:
    clock = VirtualClock()
    return Gateway(transport, cache=ResponseCache(tmp_path / "cache"), clock=clock, sleep=clock.sleep, **kwargs)


async def on_the_wire(transport: ScriptedTransport, count: int = 1) -> None:
    for _ in range(5000):  # at most 5 s
        if len(transport.sent) >= count:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the request never went out")


async def parked(gw: Gateway) -> None:
    """Let callers just started get past their cache lookup (on the disk cache's one thread, in order)
    to where they wait on the request in flight."""
    await asyncio.sleep(0)
    await gw.cache.lookup("v1:" + "0" * 64)
    await asyncio.sleep(0.01)


async def leader_then_waiter(gw: Gateway, transport: ScriptedTransport) -> list[Any]:
    """The same call twice: the second asked once the first is on the wire; both outcomes, errors included."""
    leader = asyncio.ensure_future(gw.complete(call()))
    await on_the_wire(transport)
    waiter = asyncio.ensure_future(gw.complete(call()))
    return await asyncio.gather(leader, waiter, return_exceptions=True)


def test_a_waiter_whose_leader_is_cancelled_sends_the_call_itself(tmp_path):
    transport = ScriptedTransport(delay_s=0.05)
    gw = gateway(tmp_path, transport)

    async def scenario():
        leader = asyncio.ensure_future(gw.complete(call()))
        await on_the_wire(transport)
        waiter = asyncio.ensure_future(gw.complete(call()))
        await parked(gw)  # the waiter is now waiting on the leader's request
        leader.cancel()
        answer = await waiter
        with pytest.raises(asyncio.CancelledError):
            await leader
        return answer

    answer = asyncio.run(scenario())
    assert not answer.cached and answer.text == "same"
    assert len(transport.sent) == 2  # the waiter sent it again rather than share a cancellation
    total = gw.ledger.total()
    assert (total.live_calls, total.cancelled, total.cached_calls) == (1, 1, 0)
    assert total.requests == len(transport.sent)


def test_several_waiters_of_a_cancelled_leader_send_it_once_more(tmp_path):
    transport = ScriptedTransport(delay_s=0.05)
    gw = gateway(tmp_path, transport)

    async def scenario():
        leader = asyncio.ensure_future(gw.complete(call()))
        await on_the_wire(transport)
        waiters = [asyncio.ensure_future(gw.complete(call())) for _ in range(4)]
        await parked(gw)
        leader.cancel()
        return await asyncio.gather(*waiters)

    answers = asyncio.run(scenario())
    assert [a.cached for a in answers] == [False, True, True, True]  # one sends, three share its answer
    assert len(transport.sent) == 2
    assert gw.ledger.total().requests == 2


def test_a_cancelled_waiter_leaves_the_leader_alone(tmp_path):
    transport = ScriptedTransport(delay_s=0.05)
    gw = gateway(tmp_path, transport)

    async def scenario():
        leader = asyncio.ensure_future(gw.complete(call()))
        await on_the_wire(transport)
        waiter = asyncio.ensure_future(gw.complete(call()))
        await parked(gw)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return await leader

    answer = asyncio.run(scenario())
    assert not answer.cached and len(transport.sent) == 1
    total = gw.ledger.total()
    assert (total.live_calls, total.cancelled, total.cached_calls) == (1, 0, 0)


def test_a_waiter_gets_a_refusal_from_the_cache_without_sending(tmp_path):
    transport = ScriptedTransport([errors.ContentFiltered("filtered")], delay_s=0.05)
    gw = gateway(tmp_path, transport)

    live, shared = asyncio.run(leader_then_waiter(gw, transport))
    assert isinstance(live, errors.ContentFiltered) and not live.cached
    assert isinstance(shared, errors.ContentFiltered) and shared.cached and str(shared) == str(live)
    assert len(transport.sent) == 1


def test_a_waiter_of_a_leader_that_ran_out_of_retries_tries_itself(tmp_path):
    transport = ScriptedTransport([errors.Unavailable("503")] * 2, delay_s=0.05)
    gw = gateway(tmp_path, transport, retry=RetryPolicy(max_attempts=2))

    failed, answer = asyncio.run(leader_then_waiter(gw, transport))
    assert isinstance(failed, errors.Unavailable)
    assert not isinstance(answer, BaseException) and answer.text == "same" and not answer.cached
    assert len(transport.sent) == 3
    total = gw.ledger.total()
    assert (total.errors, total.retries, total.live_calls) == (1, 1, 1) and total.requests == 3


def test_a_waiter_of_a_fatal_error_is_refused_not_sent(tmp_path):
    transport = ScriptedTransport([errors.AuthenticationFailed("401")], delay_s=0.05)
    gw = gateway(tmp_path, transport)

    failed, refused = asyncio.run(leader_then_waiter(gw, transport))
    assert isinstance(failed, errors.AuthenticationFailed)
    assert isinstance(refused, errors.RunAborted) and refused.cause is failed
    assert len(transport.sent) == 1
    total = gw.ledger.total()
    assert (total.errors, total.refused) == (1, 1)


def test_waiters_share_an_answer_under_the_budget_without_reserving(tmp_path):
    transport = ScriptedTransport(delay_s=0.05)
    gw = gateway(tmp_path, transport, ledger=Ledger(max_cost_usd=1.0))

    async def scenario():
        return await asyncio.gather(*(gw.complete(call()) for _ in range(5)))

    answers = asyncio.run(scenario())
    assert sum(not a.cached for a in answers) == 1 and len(transport.sent) == 1
    assert gw.budget.reservations == 0 and gw.budget.reserved_usd == 0.0
    assert gw.ledger.total().saved_usd == pytest.approx(4 * answers[0].cost_usd)


def test_identical_requests_without_a_cache_are_still_sent_once(tmp_path):
    transport = ScriptedTransport(delay_s=0.05)
    gw = Gateway(transport, policy=CachePolicy.OFF)

    async def scenario():
        return await asyncio.gather(*(gw.complete(call()) for _ in range(3)))

    answers = asyncio.run(scenario())
    assert len(transport.sent) == 1 and [a.cached for a in answers] == [False, True, True]
    total = gw.ledger.total()
    assert (total.live_calls, total.cached_calls, total.requests) == (1, 2, 1)
