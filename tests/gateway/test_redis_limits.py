"""The shared rate limiter on a real Redis: RPM and TPM admitted together, on the server's clock, exact waits."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from gateway import errors
from gateway.limits import RateLimiter, RateLimits
from gateway.limits.redis import RedisRateLimiter
from gateway.shared.conn import connect
from gateway.shared.target import redis_target
from gateway.testing import VirtualClock


class Sleeps:
    """Records each wait instead of sleeping: admissions queue on the server, so none is needed."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def admit_all(target, limits, requests, *, workers=1):
    """Admit ``requests`` (deployment, tokens), round-robin over ``workers`` clients, one after another.

    Returns when each was admitted, in seconds after the first was asked for: the time it was asked
    for (this machine's clock, within a round trip of the server's) plus the wait the server gave.
    """

    async def scenario():
        clients = [connect(target) for _ in range(workers)]
        sleeps = [Sleeps() for _ in range(workers)]
        limiters = [RedisRateLimiter(c, target, limits, sleep=s) for c, s in zip(clients, sleeps, strict=True)]
        for client in clients:
            await client.ping()  # connected before the clock starts
        waits = []
        started = time.monotonic()
        try:
            for i, (deployment, tokens) in enumerate(requests):
                limiter, sleep = limiters[i % workers], sleeps[i % workers]
                before = len(sleep.waits)
                asked = time.monotonic() - started
                await limiter.acquire(tokens, deployment=deployment)
                waits.append(asked + (sleep.waits[-1] if len(sleep.waits) > before else 0.0))
        finally:
            for c in clients:
                await c.aclose()
        return waits

    return asyncio.run(scenario())


def test_requests_queue_one_after_another_with_the_exact_wait(shared_redis):
    # 60 requests/min with a 1 s burst: one request a second, the first at once.
    waits = admit_all(shared_redis, RateLimits(rpm=60, burst_s=1.0), [("d", 1)] * 6)
    assert waits == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], abs=0.05)


def test_requests_and_tokens_are_admitted_together(shared_redis):
    # 600 requests/min (burst 10) and 6,000 tokens/min (100 a second, burst 100): tokens bind.
    limits = RateLimits(rpm=600, tpm=6000, burst_s=1.0)
    waits = admit_all(shared_redis, limits, [("d", 50)] * 5)
    assert waits == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5], abs=0.05)
    # A second deployment has buckets of its own.
    assert admit_all(shared_redis, limits, [("other", 50)] * 2) == pytest.approx([0.0, 0.0], abs=0.05)


def test_several_workers_share_one_queue(shared_redis):
    waits = admit_all(shared_redis, RateLimits(rpm=120, burst_s=1.0), [("d", 1)] * 8, workers=4)
    # Two a second and a burst of two, whichever worker asks: admission times 0, 0, .5, 1, 1.5, ...
    assert waits == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0], abs=0.05)


def test_admission_times_match_the_process_local_limiter(shared_redis):
    rng = random.Random(42)
    limits = RateLimits(rpm=300, tpm=20_000, burst_s=2.0)
    requests = [("d", rng.randint(50, 900)) for _ in range(40)]
    shared = admit_all(shared_redis, limits, requests)

    clock = VirtualClock(0.0)
    local = RateLimiter(limits, clock=clock, sleep=clock.sleep)
    expected = []

    async def run_local():
        for _, tokens in requests:
            before = clock.now
            await local.acquire(tokens)
            expected.append(clock.now - before)

    asyncio.run(run_local())
    # The local limiter admits each request when the previous one was admitted plus its own wait.
    admitted_local = [sum(expected[: i + 1]) for i in range(len(expected))]
    assert shared == pytest.approx(admitted_local, abs=0.1)
    assert max(shared) > 5.0  # the test exercised real queueing


def test_an_unlimited_limiter_never_talks_to_the_server(private_redis):
    server = private_redis()
    target = redis_target(server.url, "x")
    server.kill()

    async def scenario():
        client = connect(target)
        try:
            await RedisRateLimiter(client, target, RateLimits()).acquire(10, deployment="d")
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_a_lost_server_stops_admission_instead_of_falling_back(private_redis):
    server = private_redis(password="pw-never-shown-123")
    target = redis_target(server.url, "x")

    async def scenario():
        client = connect(target)
        limiter = RedisRateLimiter(client, target, RateLimits(rpm=600), sleep=Sleeps())
        try:
            await limiter.acquire(1, deployment="d")
            server.kill()
            with pytest.raises(errors.SharedStateUnavailable) as info:
                await limiter.acquire(1, deployment="d")
            return str(info.value)
        finally:
            await client.aclose()

    message = asyncio.run(scenario())
    assert "rate limiter" in message and "rerun the same command" in message
    assert "pw-never-shown-123" not in message and ":***@127.0.0.1" in message
