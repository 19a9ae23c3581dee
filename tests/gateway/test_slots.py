"""Call slots: the concurrency bound, admission by priority then arrival, and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from cache import CachePolicy
from gateway.core import Gateway
from gateway.slots import BACKGROUND, FOREGROUND, CallSlots, background_calls, current_priority
from gateway.testing import ScriptedTransport, chat_response
from gateway.types import ChatCall, Endpoint


async def admitted_order(slots: CallSlots, arrivals: list[tuple[str, int]]) -> list[str]:
    order: list[str] = []
    await slots.acquire()  # hold the only slot while everyone queues

    async def one(name: str, priority: int) -> None:
        await slots.acquire(priority)
        order.append(name)
        slots.release()

    tasks = []
    for name, priority in arrivals:
        tasks.append(asyncio.create_task(one(name, priority)))
        await asyncio.sleep(0)  # arrive in list order
    slots.release()
    await asyncio.gather(*tasks)
    return order


def test_waiters_are_admitted_by_priority_then_arrival():
    arrivals = [("b1", BACKGROUND), ("f1", FOREGROUND), ("b2", BACKGROUND), ("f2", FOREGROUND)]
    assert asyncio.run(admitted_order(CallSlots(1), arrivals)) == ["f1", "f2", "b1", "b2"]


def test_priority_comes_from_the_callers_context():
    async def main() -> list[int]:
        seen = [current_priority()]
        with background_calls():
            seen.append(await asyncio.create_task(_priority_in_task()))
        seen.append(current_priority())
        return seen

    async def _priority_in_task() -> int:
        return current_priority()

    assert asyncio.run(main()) == [FOREGROUND, BACKGROUND, FOREGROUND]


def test_a_cancelled_waiter_gives_up_its_place_and_the_bound_holds():
    async def main() -> tuple[int, int]:
        slots = CallSlots(2)
        peak = holders = 0

        async def hold(delay: float) -> None:
            nonlocal peak, holders
            async with slots.slot():
                holders += 1
                peak = max(peak, holders)
                await asyncio.sleep(delay)
                holders -= 1

        tasks = [asyncio.create_task(hold(0.01)) for _ in range(6)]
        await asyncio.sleep(0)
        tasks[3].cancel()  # a waiter, not yet admitted
        await asyncio.gather(*tasks, return_exceptions=True)
        return peak, slots.waiting

    peak, waiting = asyncio.run(main())
    assert peak == 2 and waiting == 0


def test_background_calls_wait_behind_foreground_calls_in_the_gateway():
    endpoint = Endpoint(model="openai/gpt-4o", identity="test")
    transport = ScriptedTransport(delay_s=0.01, fallback=lambda c: chat_response("ok"))

    async def main() -> list[str]:
        gateway = Gateway(transport, policy=CachePolicy.OFF, concurrency=1)
        background = [ChatCall(endpoint, [{"role": "user", "content": f"b{i}"}], {}) for i in range(4)]
        foreground = ChatCall(endpoint, [{"role": "user", "content": "f"}], {})

        async def in_background() -> None:
            with background_calls():
                await asyncio.gather(*(gateway.complete(c) for c in background))

        task = asyncio.create_task(in_background())
        await asyncio.sleep(0.005)  # b0 on the wire, b1..b3 waiting
        await gateway.complete(foreground)
        await task
        return [str(c.messages[0]["content"]) for c in transport.sent]

    assert asyncio.run(main()) == ["b0", "f", "b1", "b2", "b3"]


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        CallSlots(0)
