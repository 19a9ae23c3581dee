"""Pacing to the provider's reported quota: the arithmetic (given times, no clock), its driver (a virtual
clock), and the gateway consulting it at admission."""

from __future__ import annotations

import asyncio

import pytest

from cache import CachePolicy
from gateway import errors, tokens
from gateway.core import Gateway
from gateway.pacing import PacedAdmission, PacingPolicy, QuotaPacer, Ticket
from gateway.testing import ScriptedTransport, VirtualClock, chat_response
from gateway.transports.headers import QuotaReading
from gateway.types import ChatCall, Endpoint, ProviderReply

# 6,000 tokens a minute: 100 a second. With reserve_s 0.5 the pacer leaves 50 tokens unclaimed.
LIMIT = 6000.0
POLICY = PacingPolicy()
RESERVE = POLICY.reserve_s * LIMIT / 60


def reading(remaining: float, *, reset_s: float | None = None, requests: float | None = None) -> QuotaReading:
    return QuotaReading(
        limit_tokens=LIMIT,
        remaining_tokens=remaining,
        reset_tokens_s=reset_s,
        limit_requests=None if requests is None else 600.0,
        remaining_requests=requests,
    )


def synced(remaining: float, at: float = 0.0, **kwargs: float | None) -> tuple[QuotaPacer, Ticket]:
    """A pacer whose last reading says ``remaining`` tokens were left when its one request was admitted at ``at``."""
    pacer = QuotaPacer()
    ticket = pacer.take(0, at)
    pacer.observe(ticket, reading(remaining, **kwargs), at)
    return pacer, ticket


# -- the arithmetic ---------------------------------------------------------------------------------
def test_without_a_reading_nothing_is_paced():
    pacer = QuotaPacer()
    assert not pacer.active and pacer.delay(10**9, 0.0) == 0.0


def test_a_process_alone_admits_what_remains_then_waits_for_the_refill_it_needs():
    pacer, _ = synced(1000.0)
    assert pacer.active
    for _ in range(3):
        assert pacer.delay(300, 0.0) == 0.0
        pacer.take(300, 0.0)
    # 900 spent of the 950 it may claim: 300 more needs 250 tokens of refill at 100 a second.
    assert pacer.delay(300, 0.0) == pytest.approx((900 + 300 - (1000 - RESERVE)) / 100)
    assert pacer.delay(300, 2.5) == pytest.approx(0.0, abs=1e-9)


def test_a_later_reading_replaces_the_spend_it_already_counts():
    pacer, _ = synced(1000.0)
    tickets = [pacer.take(300, 0.0) for _ in range(3)]
    assert pacer.delay(300, 0.0) > 0
    # The answer to the first request says 400 remained right after it: the two admitted after it
    # (600) are still this process's own spend; 400 + 1 s of refill - 50 - 600 leaves -150: wait 1.5 s more.
    pacer.observe(tickets[0], reading(400.0), 1.0)
    assert pacer.delay(300, 1.0) == pytest.approx((600 + 300 - (400 + 100 - RESERVE)) / 100)


def test_an_overtaken_reading_is_ignored():
    pacer = QuotaPacer()
    early, late = pacer.take(0, 0.0), pacer.take(0, 1.0)
    pacer.observe(late, reading(1000.0), 2.0)
    pacer.observe(early, reading(10.0), 2.0)  # older news: the bucket was read after it
    assert pacer.delay(500, 2.0) == 0.0


def test_the_capacity_comes_from_the_reset_time_not_the_minute():
    # 200 left, full again in 3 s at 100 a second: the bucket holds 500, not the minute's 6,000.
    pacer, _ = synced(200.0, reset_s=3.0)
    assert pacer.delay(400, 100.0) == 0.0  # long after: full, 500 - 50 claimable
    pacer.take(400, 100.0)
    assert pacer.delay(100, 100.0) > 0  # it never counts on more than the bucket holds


def test_a_request_bigger_than_the_share_waits_for_a_full_share_not_forever():
    pacer, _ = synced(500.0, reset_s=0.0)
    assert pacer.delay(5000, 0.0) == 0.0  # capped at what a full bucket gives this process


def test_requests_are_paced_too():
    pacer = QuotaPacer()
    ticket = pacer.take(0, 0.0)
    pacer.observe(ticket, reading(10**6, requests=1.0), 0.0)
    pacer.take(1, 0.0)
    assert pacer.delay(1, 0.0) > 0  # one request left, and it was just taken


def test_a_429_holds_admissions_for_its_wait_and_halves_the_share_once_a_burst():
    pacer, ticket = synced(1000.0)
    pacer.throttled(ticket, 2.0, None, 10.0)
    assert pacer.delay(1, 10.0) == pytest.approx(2.0) and pacer.delay(1, 12.0) == 0.0
    assert pacer.share == 0.5
    pacer.throttled(ticket, 0.1, None, 10.5)  # the same burst: no second decrease within a second
    assert pacer.share == 0.5 and pacer.decreases == 1
    pacer.throttled(ticket, 0.1, None, 11.5)
    assert pacer.share == 0.25
    # A provider that reports no quota is not paced: its 429s are for the retry loop alone.
    bare = QuotaPacer()
    bare.throttled(bare.take(1, 0.0), 3.0, None, 0.0)
    assert bare.delay(1, 1.0) == 0.0 and bare.share == 1.0


def test_a_process_claims_only_its_share_of_the_pool():
    pacer, ticket = synced(1000.0)
    pacer.throttled(ticket, None, None, 0.0)
    assert pacer.share == 0.5
    assert pacer.delay(470, 0.0) == 0.0 and pacer.delay(480, 0.0) > 0  # half of 950 is 475


def test_the_share_grows_only_while_waiting_on_it_with_quota_unused():
    pacer, ticket = synced(1000.0, reset_s=0.0)  # capacity 1000
    pacer.throttled(ticket, None, None, 0.0)
    low = pacer.share
    # Not waiting on the share: a full bucket earns nothing.
    pacer.observe(pacer.take(10, 1.0), reading(990.0, reset_s=0.1), 2.0)
    assert pacer.share == low
    # Waiting on it, but the provider's bucket is nearly empty (others use it): nothing either.
    pacer.observe(pacer.take(10, 3.0, waited=True), reading(50.0, reset_s=9.5), 3.5)
    assert pacer.share == low
    # Waiting on it while the bucket is more than half full: quota goes unused, the share grows.
    pacer.observe(pacer.take(10, 4.0, waited=True), reading(900.0, reset_s=1.0), 4.5)
    assert low < pacer.share <= low * (1 + POLICY.increase_per_s * 1.0)


# -- the driver -------------------------------------------------------------------------------------
def test_acquire_sleeps_exactly_until_the_request_fits():
    clock = VirtualClock(start=0.0)
    paced = PacedAdmission(clock=clock, sleep=clock.sleep)

    async def scenario() -> None:
        first = await paced.acquire(300)
        paced.observe(first, {"x-ratelimit-limit-tokens": "6000", "x-ratelimit-remaining-tokens": "400"})
        await paced.acquire(300)  # 400 - 50 reserve - 0 own: fits
        await paced.acquire(300)  # 350 - 300 own leaves 50: needs 250 of refill

    asyncio.run(scenario())
    assert sum(clock.sleeps) == pytest.approx(2.5, abs=POLICY.poll_s)
    assert all(step <= POLICY.poll_s + 1e-9 for step in clock.sleeps)  # it looks again as readings arrive
    assert paced.waited_s == pytest.approx(sum(clock.sleeps))


# -- in the gateway ---------------------------------------------------------------------------------
ENDPOINT = Endpoint(model="openai/gpt-4o", identity="paced|v1", price_model="gpt-4o")


def chat(text: str, max_tokens: int = 100) -> ChatCall:
    return ChatCall(ENDPOINT, [{"role": "user", "content": text}], {"max_tokens": max_tokens, "temperature": 0.0})


def test_the_gateway_paces_by_the_headers_of_the_answers_and_counts_tokens_exactly_then():
    clock = VirtualClock(start=0.0)
    # Every answer says the quota (6,000 a minute: 100 tokens a second) had 100 tokens left.
    headers = {"x-ratelimit-limit-tokens": "6000", "x-ratelimit-remaining-tokens": "100"}
    transport = ScriptedTransport(fallback=lambda call: ProviderReply(chat_response("ok"), headers))
    gateway = Gateway(transport, policy=CachePolicy.OFF, clock=clock, sleep=clock.sleep, concurrency=1)
    second = ChatCall(ENDPOINT, [{"role": "user", "content": "x" * 400}], {"max_tokens": 300})

    async def scenario() -> None:
        await gateway.complete(chat("first"))  # no reading yet: sent at once
        assert clock.sleeps == []
        await gateway.complete(second)

    asyncio.run(scenario())
    assert len(transport.sent) == 2
    # The second needs its prompt tokens (as the tokenizer counts them, not 400 / 4) plus 300, out of
    # 100 - 50 reserve: it waits for the rest to refill at 100 a second.
    exact = tokens.count_prompt_tokens("gpt-4o", second.messages)
    assert exact < tokens.estimate_prompt_tokens(second.messages)
    assert sum(clock.sleeps) == pytest.approx((exact + 300 - (100 - RESERVE)) / 100, abs=POLICY.poll_s)
    assert gateway.pacing.for_endpoint("paced|v1").active


def test_a_429_pauses_the_other_calls_to_that_endpoint_for_its_wait():
    clock = VirtualClock(start=0.0)
    quota = {"x-ratelimit-limit-tokens": "600000", "x-ratelimit-remaining-tokens": "0"}
    steps = [
        ProviderReply(chat_response("zero"), {**quota, "x-ratelimit-remaining-tokens": "500000"}),
        errors.RateLimited("429", retry_after=3.0, headers=quota),
        chat_response("a"),
        chat_response("b"),
    ]
    transport = ScriptedTransport(steps)
    gateway = Gateway(transport, policy=CachePolicy.OFF, clock=clock, sleep=clock.sleep, concurrency=4)
    sent_at: list[float] = []
    original = transport.send

    async def recording_send(call: ChatCall) -> dict[str, object]:
        sent_at.append(clock())
        return await original(call)

    transport.send = recording_send  # type: ignore[method-assign]  # note the virtual time of each attempt

    async def scenario() -> None:
        await gateway.complete(chat("zero"))  # a reading: this endpoint reports its quota
        first = asyncio.ensure_future(gateway.complete(chat("one")))
        await asyncio.sleep(0)  # the first is on the wire and answered 429 before the second arrives
        await asyncio.sleep(0)
        await gateway.complete(chat("two"))
        await first

    asyncio.run(scenario())
    assert sent_at[:2] == [0.0, 0.0]
    assert min(sent_at[2:]) >= 3.0  # nobody went to that endpoint before the 429's wait was over
