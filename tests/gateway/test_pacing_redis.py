"""The provider's reported quota shared on a real Redis: one worker's reading paces every worker."""

from __future__ import annotations

import asyncio

from cache import CachePolicy
from gateway.core import Gateway
from gateway.pacing import Pacing
from gateway.shared.conn import connect
from gateway.shared.readings import RedisReadings
from gateway.testing import ScriptedTransport, VirtualClock, chat_response
from gateway.types import ChatCall, Endpoint, ProviderReply

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="shared-quota|v1", price_model="gpt-4o")
# 6,000 tokens a minute (100 a second); the reading says the quota is untouched.
QUOTA = {
    "x-ratelimit-limit-tokens": "6000",
    "x-ratelimit-remaining-tokens": "6000",
    "x-ratelimit-reset-tokens": "0s",
}


def call(text: str) -> ChatCall:
    # About 10 prompt tokens plus 490 of max_tokens: 500 counted against the quota.
    return ChatCall(ENDPOINT, [{"role": "user", "content": text}], {"max_tokens": 490})


def test_a_reading_one_worker_took_paces_a_worker_that_has_none(shared_redis):
    async def scenario() -> tuple[list[float], list[float], int]:
        clients = [connect(shared_redis), connect(shared_redis)]
        clocks = [VirtualClock(start=0.0), VirtualClock(start=0.0)]
        first = Gateway(
            ScriptedTransport(fallback=lambda c: ProviderReply(chat_response("ok"), QUOTA)),
            policy=CachePolicy.OFF,
            pacing=Pacing(readings=RedisReadings(clients[0], shared_redis), clock=clocks[0], sleep=clocks[0].sleep),
        )
        # The second worker's answers carry no headers: it knows the quota only through the first.
        second_transport = ScriptedTransport(fallback=lambda c: chat_response("ok"))
        second = Gateway(
            second_transport,
            policy=CachePolicy.OFF,
            pacing=Pacing(readings=RedisReadings(clients[1], shared_redis), clock=clocks[1], sleep=clocks[1].sleep),
        )
        try:
            await first.complete(call("a reading"))
            await first.complete(call("publishes it"))  # the reading is published at the next admission
            for i in range(3):
                await second.complete(call(f"second {i}"))
        finally:
            for client in clients:
                await client.aclose()
        return clocks[0].sleeps, clocks[1].sleeps, len(second_transport.sent)

    first_waits, second_waits, sent = asyncio.run(scenario())
    assert sent == 3 and first_waits == []
    # The shared bucket holds 10 s of the reported quota (1,000 tokens): the first worker's second call
    # took 500, the second worker's first 500; its next two queue behind each other for the refill they
    # need, on the server's clock: admitted 5 s and 10 s from now.
    assert len(second_waits) == 2, second_waits
    assert 4.5 < second_waits[0] <= 5.0 and 9.5 < second_waits[1] <= 10.0, second_waits


def test_a_reading_that_shows_spend_elsewhere_holds_every_worker(shared_redis):
    # Calls of about 100 tokens. The first worker's third answer says the quota is spent (another
    # application drew it): the shared bucket, which held 1,000 tokens less what was admitted, takes
    # that reading in at the first worker's next admission, and the second worker (no headers of its
    # own) waits for the refill too.
    spent = {**QUOTA, "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "60s"}
    answers = [QUOTA, QUOTA, spent]

    def small(text: str) -> ChatCall:
        return ChatCall(ENDPOINT, [{"role": "user", "content": text}], {"max_tokens": 90})

    async def scenario() -> list[float]:
        clients = [connect(shared_redis), connect(shared_redis)]
        clocks = [VirtualClock(start=0.0), VirtualClock(start=0.0)]
        first = Gateway(
            ScriptedTransport(
                fallback=lambda c: ProviderReply(chat_response("ok"), answers.pop(0) if answers else spent)
            ),
            policy=CachePolicy.OFF,
            pacing=Pacing(readings=RedisReadings(clients[0], shared_redis), clock=clocks[0], sleep=clocks[0].sleep),
        )
        second = Gateway(
            ScriptedTransport(fallback=lambda c: chat_response("ok")),
            policy=CachePolicy.OFF,
            pacing=Pacing(readings=RedisReadings(clients[1], shared_redis), clock=clocks[1], sleep=clocks[1].sleep),
        )
        try:
            for i in range(4):
                await first.complete(small(f"first {i}"))
            await second.complete(small("second"))
        finally:
            for client in clients:
                await client.aclose()
        return clocks[1].sleeps

    second_waits = asyncio.run(scenario())
    # Without the reading the bucket would still hold ~700 tokens and the second call would go at once;
    # with it, the first worker's fourth call took the first second of refill and this one the next.
    assert len(second_waits) == 1 and 1.5 < second_waits[0] <= 2.1, second_waits
