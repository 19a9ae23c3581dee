"""The shared budget on a real Redis: one cap for every worker that names it, reserve and settle atomically."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway import errors
from gateway.budget import Hold
from gateway.budget.redis import RedisBudget, read_budget, set_cap
from gateway.shared.conn import connect
from gateway.shared.target import redis_target


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0.001)


def test_reserve_settle_and_the_shared_total(shared_redis):
    async def scenario():
        client = connect(shared_redis)
        try:
            budget = RedisBudget(client, shared_redis, "team", 1.0)
            await budget.open()
            hold = await budget.reserve(0.6)
            state = await read_budget(client, shared_redis, "team")
            assert state["reservations_in_flight"] == 1 and state["reserved_usd"] == pytest.approx(0.6)
            assert state["remaining_usd"] == pytest.approx(0.4)
            await budget.settle(hold, 0.25)
            # A call whose cost is unknown is charged its whole reservation.
            await budget.settle(await budget.reserve(0.3), None)
            state = await read_budget(client, shared_redis, "team")
            assert state["spent_usd"] == pytest.approx(0.55) and state["reservations_in_flight"] == 0
            with pytest.raises(errors.BudgetExceeded, match=r"\$0\.5500 spent of the \$1\.0000 cap"):
                await budget.reserve(0.5)
            with pytest.raises(errors.ConfigurationError, match="--price-model"):
                await budget.reserve(None)
            assert await read_budget(client, shared_redis, "nobody") is None
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_a_worker_with_another_cap_is_refused_until_the_cap_is_changed(shared_redis):
    async def scenario():
        client = connect(shared_redis)
        try:
            await RedisBudget(client, shared_redis, "team", 5.0).open()
            with pytest.raises(errors.ConfigurationError, match=r"capped at \$5, not \$7"):
                await RedisBudget(client, shared_redis, "team", 7.0).open()
            await set_cap(client, shared_redis, "team", 7.0)
            await RedisBudget(client, shared_redis, "team", 7.0).open()
            assert (await read_budget(client, shared_redis, "team"))["max_cost_usd"] == 7.0
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_near_the_cap_a_worker_waits_for_another_workers_call_to_settle(shared_redis):
    async def scenario():
        a_client, b_client = connect(shared_redis), connect(shared_redis)
        try:
            a = RedisBudget(a_client, shared_redis, "team", 1.0, sleep=no_sleep)
            b = RedisBudget(b_client, shared_redis, "team", 1.0, sleep=no_sleep)
            await a.open()
            await b.open()
            first = await a.reserve(0.7)
            waiting = asyncio.ensure_future(b.reserve(0.5))
            await asyncio.sleep(0.05)
            assert not waiting.done() and b.waits > 0
            await a.settle(first, 0.2)
            second = await asyncio.wait_for(waiting, 5)
            await b.settle(second, 0.5)
            return await read_budget(a_client, shared_redis, "team")
        finally:
            await a_client.aclose()
            await b_client.aclose()

    assert asyncio.run(scenario())["spent_usd"] == pytest.approx(0.7)


def test_a_dead_workers_reservations_expire(shared_redis):
    async def scenario():
        client = connect(shared_redis)
        try:
            dead = RedisBudget(client, shared_redis, "team", 1.0, lease_s=0.3)
            await dead.open()
            await dead.reserve(0.9)
            dead._held.clear()  # the worker is gone: nobody renews its reservation
            if dead._renewer is not None:
                dead._renewer.cancel()
            alive = RedisBudget(client, shared_redis, "team", 1.0, sleep=no_sleep)
            await alive.open()
            started = asyncio.get_running_loop().time()
            hold = await asyncio.wait_for(alive.reserve(0.5), 5)
            waited = asyncio.get_running_loop().time() - started
            assert isinstance(hold, Hold) and 0.2 < waited < 3.0
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_a_live_workers_reservations_are_renewed(shared_redis):
    async def scenario():
        client = connect(shared_redis)
        try:
            holder = RedisBudget(client, shared_redis, "team", 1.0, lease_s=0.3)
            await holder.open()
            hold = await holder.reserve(0.9)
            await asyncio.sleep(0.8)  # more than twice the lease: only renewal keeps it
            state = await read_budget(client, shared_redis, "team")
            await holder.settle(hold, 0.1)
            return state
        finally:
            await client.aclose()

    assert asyncio.run(scenario())["reservations_in_flight"] == 1


def test_three_workers_never_spend_past_the_cap_and_all_stop(shared_redis):
    cap = 2.0

    async def worker(seed: int) -> tuple[int, str]:
        rng = random.Random(seed)
        client = connect(shared_redis)
        budget = RedisBudget(client, shared_redis, "team", cap, sleep=no_sleep)
        await budget.open()
        calls = 0

        async def one_call() -> None:
            nonlocal calls
            estimate = rng.uniform(0.01, 0.2)
            hold = await budget.reserve(estimate)
            await asyncio.sleep(rng.uniform(0, 0.01))
            await budget.settle(hold, estimate * rng.uniform(0.1, 1.0))
            calls += 1

        try:
            while True:
                results = await asyncio.gather(*(one_call() for _ in range(8)), return_exceptions=True)
                failures = [r for r in results if isinstance(r, BaseException)]
                if failures:
                    assert all(isinstance(f, errors.BudgetExceeded) for f in failures), failures
                    return calls, "stopped"
        finally:
            await client.aclose()

    async def scenario():
        outcomes = await asyncio.gather(*(worker(seed) for seed in (1, 2, 3)))
        client = connect(shared_redis)
        try:
            return outcomes, await read_budget(client, shared_redis, "team")
        finally:
            await client.aclose()

    outcomes, state = asyncio.run(scenario())
    assert [status for _, status in outcomes] == ["stopped"] * 3
    assert sum(calls for calls, _ in outcomes) > 20
    assert state["spent_usd"] <= cap + 1e-9 and state["reservations_in_flight"] == 0
    assert state["spent_usd"] > cap * 0.8  # the cap was used, not refused early


def test_a_lost_server_stops_the_budget(private_redis):
    server = private_redis()
    target = redis_target(server.url, "x")

    async def scenario():
        client = connect(target)
        try:
            budget = RedisBudget(client, target, "team", 1.0)
            await budget.open()
            hold = await budget.reserve(0.1)
            server.kill()
            with pytest.raises(errors.SharedStateUnavailable, match="budget"):
                await budget.settle(hold, 0.1)
            with pytest.raises(errors.SharedStateUnavailable, match="budget"):
                await budget.reserve(0.1)
        finally:
            await client.aclose()

    asyncio.run(scenario())
