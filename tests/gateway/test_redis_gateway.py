"""Gateways of separate workers on one real Redis: one cache, one payment per request, clean failures."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
import structlog

from cache import CachePolicy, ResponseCache
from cache.redis import RedisCacheStore, SharedCacheHealth, TieredCache
from gateway import errors
from gateway.core import Gateway
from gateway.leases import Claim
from gateway.leases.redis import RedisLeases
from gateway.limits import RateLimits
from gateway.limits.redis import RedisRateLimiter
from gateway.logs import configure_logging
from gateway.shared.conn import connect
from gateway.shared.target import redis_target
from gateway.testing import ScriptedTransport
from gateway.types import ChatCall, Endpoint

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="test|v1", price_model="gpt-4o")


def call(text: str) -> ChatCall:
    return ChatCall(ENDPOINT, [{"role": "user", "content": text}], {"temperature": 0.0, "max_tokens": 50})


class AnnouncingTransport(ScriptedTransport):
    """Sets ``on_wire`` when a call is sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_wire = asyncio.Event()

    async def send(self, call: ChatCall) -> dict[str, Any]:
        self.on_wire.set()
        return await super().send(call)


class Worker:
    """One worker's gateway: its own disk cache, its own connection, the shared server behind both."""

    def __init__(self, target, directory, transport, *, lease_s: float = 30.0, limits=None) -> None:
        self.client = connect(target)
        self.disk = ResponseCache(directory)
        health = SharedCacheHealth(target.display)
        shared = RedisCacheStore(self.client, target.prefix)
        self.leases = RedisLeases(self.client, target.prefix, shared, health, lease_s=lease_s, first_poll_s=0.005)
        self.gateway = Gateway(
            transport,
            cache=TieredCache(self.disk, shared, health),
            leases=self.leases,
            limiter=RedisRateLimiter(self.client, target, limits or RateLimits()),
        )

    async def close(self) -> None:
        await self.client.aclose()
        self.disk.close()


def test_two_workers_asking_the_same_requests_at_once_pay_once_for_each(shared_redis, tmp_path):
    transport = ScriptedTransport(delay_s=0.05)  # one server: every request that reaches it is counted

    async def scenario():
        a = Worker(shared_redis, tmp_path / "a", transport)
        b = Worker(shared_redis, tmp_path / "b", transport)
        try:
            prompts = [f"q{i}" for i in range(12)]
            answers = await asyncio.gather(
                *(a.gateway.complete(call(p)) for p in prompts), *(b.gateway.complete(call(p)) for p in prompts)
            )
            return answers, a, b
        finally:
            await a.close()
            await b.close()

    answers, a, b = asyncio.run(scenario())
    assert sorted(str(c.messages[-1]["content"]) for c in transport.sent) == sorted(f"q{i}" for i in range(12))
    assert [x.text for x in answers[:12]] == [x.text for x in answers[12:]]
    live = a.gateway.ledger.total().live_calls + b.gateway.ledger.total().live_calls
    cached = a.gateway.ledger.total().cached_calls + b.gateway.ledger.total().cached_calls
    assert (live, cached) == (12, 12) and a.leases.waits + b.leases.waits > 0


def test_a_new_worker_with_an_empty_disk_pays_for_nothing_already_paid(shared_redis, tmp_path):
    first, second = ScriptedTransport(), ScriptedTransport()

    async def scenario():
        a = Worker(shared_redis, tmp_path / "a", first)
        try:
            await asyncio.gather(*(a.gateway.complete(call(f"q{i}")) for i in range(5)))
        finally:
            await a.close()
        b = Worker(shared_redis, tmp_path / "b", second)
        b.gateway.policy = CachePolicy.REPLAY  # --replay works against the shared cache
        try:
            return await asyncio.gather(*(b.gateway.complete(call(f"q{i}")) for i in range(5)))
        finally:
            await b.close()

    answers = asyncio.run(scenario())
    assert len(first.sent) == 5 and second.sent == [] and all(x.cached for x in answers)


def test_a_holder_that_dies_blocks_the_others_only_until_its_lease_expires(shared_redis, tmp_path):
    transport = ScriptedTransport()

    async def scenario():
        dead = Worker(shared_redis, tmp_path / "dead", transport, lease_s=0.3)
        alive = Worker(shared_redis, tmp_path / "alive", transport)
        try:
            key = (await alive.gateway.complete(call("warm"))).key.replace("v1:", "v1:0")  # any key
            assert await dead.leases.claim(key) is Claim.SEND
            dead.leases._held.clear()  # the process died: it renews nothing, releases nothing
            assert await alive.leases.claim(key) is Claim.WAIT
            started = asyncio.get_running_loop().time()
            await asyncio.wait_for(alive.leases.wait_released(key), 5)
            return asyncio.get_running_loop().time() - started, await alive.leases.claim(key)
        finally:
            await dead.close()
            await alive.close()

    waited, claimed = asyncio.run(scenario())
    assert 0.1 < waited < 2.0 and claimed is Claim.SEND


def test_a_failed_holder_lets_a_waiter_send_the_call_itself(shared_redis, tmp_path):
    failing = AnnouncingTransport([errors.BadRequest("400 from the provider")], delay_s=0.05)
    working = ScriptedTransport()

    async def scenario():
        a = Worker(shared_redis, tmp_path / "a", failing)
        b = Worker(shared_redis, tmp_path / "b", working)
        try:
            first = asyncio.ensure_future(a.gateway.complete(call("q")))
            await failing.on_wire.wait()  # a is sending: it holds the lease
            second = await b.gateway.complete(call("q"))
            with pytest.raises(errors.BadRequest):
                await first
            return second
        finally:
            await a.close()
            await b.close()

    answer = asyncio.run(scenario())
    assert not answer.cached and len(working.sent) == 1


def test_losing_the_server_mid_run_keeps_the_cache_local_and_stops_the_limiter(private_redis, tmp_path):
    server = private_redis(password="hunter2-secret")
    target = redis_target(server.url, "w")
    transport = ScriptedTransport()
    stream = io.StringIO()
    configure_logging(stream=stream, json_lines=True)

    async def scenario():
        cache_only = Worker(target, tmp_path / "a", transport)
        limited = Worker(target, tmp_path / "b", transport, limits=RateLimits(rpm=6000))
        try:
            await cache_only.gateway.complete(call("before"))
            server.kill()
            # No shared limiter or budget: the run goes on from its disk (one warning).
            after = [await cache_only.gateway.complete(call(f"after{i}")) for i in range(3)]
            again = await cache_only.gateway.complete(call("after0"))
            with pytest.raises(errors.SharedStateUnavailable) as info:
                await limited.gateway.complete(call("limited"))
            with pytest.raises(errors.RunAborted):
                await limited.gateway.complete(call("later"))
            return after, again, str(info.value)
        finally:
            await cache_only.close()
            await limited.close()

    after, again, message = asyncio.run(scenario())
    structlog.reset_defaults()
    assert not any(x.cached for x in after) and again.cached
    assert "hunter2-secret" not in message and "rerun the same command" in message
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events.count("cache.shared_lost") == 2  # one warning per worker, however many calls follow
    assert "hunter2-secret" not in stream.getvalue()


def test_a_claim_after_another_worker_stored_the_answer_reads_it_instead_of_sending(shared_redis, tmp_path):
    """The race a plain lock loses: a miss, then another worker stores and releases, then the claim."""
    transport = ScriptedTransport()

    async def scenario():
        a = Worker(shared_redis, tmp_path / "a", transport)
        b = Worker(shared_redis, tmp_path / "b", transport)
        try:
            answer = await a.gateway.complete(call("q"))  # stored and released by a
            late = await b.leases.claim(answer.key)  # b missed its cache just before
            again = await b.gateway.complete(call("q"))
            return late, again
        finally:
            await a.close()
            await b.close()

    late, again = asyncio.run(scenario())
    assert late is Claim.STORED and again.cached and len(transport.sent) == 1


def test_hundreds_of_calls_at_once_share_the_connections_without_losing_the_server(shared_redis, tmp_path):
    """More lookups in flight than connections in the pool: they wait for a connection, never degrade."""
    transport = ScriptedTransport(delay_s=0.01)
    stream = io.StringIO()
    configure_logging(stream=stream, json_lines=True)

    async def scenario():
        worker = Worker(shared_redis, tmp_path / "a", transport)
        try:
            first = await asyncio.gather(*(worker.gateway.complete(call(f"q{i}")) for i in range(400)))
            again = await asyncio.gather(*(worker.gateway.complete(call(f"q{i}")) for i in range(400)))
            return first, again, worker.gateway.cache.health.lost
        finally:
            await worker.close()

    first, again, lost = asyncio.run(scenario())
    structlog.reset_defaults()
    assert not lost and "cache.shared_lost" not in stream.getvalue()
    assert len(transport.sent) == 400 and all(x.cached for x in again)
