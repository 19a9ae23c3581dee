"""The shared response cache on a real Redis: the disk store's contract and value, no pickle, the disk tier."""

from __future__ import annotations

import asyncio
import io
import json
import pickle
import zlib

import pytest
import redis
import structlog

from cache import CorruptEntry, ResponseCache, request_key
from cache.redis import COMPRESSED, MAX_VALUE_BYTES, RedisCacheStore, SharedCacheHealth, TieredCache
from gateway.logs import configure_logging
from gateway.shared.conn import connect
from gateway.shared.target import redis_target

RECORD = {"response": {"choices": [{"message": {"content": "answer " * 200}}], "usage": {"prompt_tokens": 3}}}
KEY = request_key(endpoint="e", model="m", messages=[{"role": "user", "content": "q"}], params={})


def raw_client(target):
    return redis.Redis.from_url(target.url)


def test_values_are_checked_json_text_under_a_versioned_namespaced_key_with_no_expiry(shared_redis):
    async def scenario():
        client = connect(shared_redis)
        try:
            plain = RedisCacheStore(client, shared_redis.prefix, compress=False)
            assert await plain.lookup(KEY) is None
            await plain.store(KEY, RECORD)
            assert await plain.lookup(KEY) == RECORD
        finally:
            await client.aclose()

    asyncio.run(scenario())
    raw = raw_client(shared_redis)
    name = f"{shared_redis.namespace}:s1:cache:{KEY}"
    stored = raw.get(name)
    assert raw.ttl(name) == -1  # no expiry
    entry = json.loads(stored)
    assert entry["key"] == KEY and entry["record"] == RECORD and len(entry["digest"]) == 64
    raw.close()


def test_compressed_and_plain_values_are_read_alike_by_any_reader(shared_redis):
    async def scenario():
        client = connect(shared_redis)
        try:
            writer = RedisCacheStore(client, shared_redis.prefix, compress=True)
            reader = RedisCacheStore(client, shared_redis.prefix, compress=False)
            await writer.store(KEY, RECORD)
            assert await reader.lookup(KEY) == RECORD
            small = {"refusal": "no"}
            other = KEY[:-1] + ("0" if KEY[-1] != "0" else "1")
            await writer.store(other, small)
            assert await reader.lookup(other) == small
        finally:
            await client.aclose()

    asyncio.run(scenario())
    raw = raw_client(shared_redis)
    value = raw.get(f"{shared_redis.namespace}:s1:cache:{KEY}")
    assert value.startswith(COMPRESSED) and len(value) < len(json.dumps(RECORD)) / 3
    raw.close()


class Boom:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


@pytest.mark.parametrize(
    "planted",
    [
        pickle.dumps(Boom()),
        b"not json",
        b"\xff\xfe",
        COMPRESSED + b"garbage",
        COMPRESSED + zlib.compress(b"0" * (MAX_VALUE_BYTES + 1)),
        json.dumps({"key": KEY, "record": {"response": {}}, "digest": "0" * 64}).encode(),
    ],
    ids=["pickle", "text", "bytes", "bad-zlib", "bomb", "digest"],
)
def test_a_value_that_fails_its_check_is_corrupt_and_nothing_is_unpickled(shared_redis, planted, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = raw_client(shared_redis)
    raw.set(f"{shared_redis.namespace}:s1:cache:{KEY}", planted)
    raw.close()

    async def scenario():
        client = connect(shared_redis)
        try:
            with pytest.raises(CorruptEntry):
                await RedisCacheStore(client, shared_redis.prefix).lookup(KEY)
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert not (tmp_path / "PWNED").exists()


def test_the_disk_tier_is_read_first_and_warmed_by_shared_hits(shared_redis, tmp_path):
    async def scenario():
        client = connect(shared_redis)
        try:
            shared = RedisCacheStore(client, shared_redis.prefix)
            await shared.store(KEY, RECORD)  # paid by another worker
            with ResponseCache(tmp_path / "disk") as disk:
                tiered = TieredCache(disk, shared, SharedCacheHealth("test"))
                assert disk.get(KEY) is None
                assert await tiered.lookup(KEY) == RECORD
                assert disk.get(KEY) == RECORD  # copied to this machine
                other = KEY.replace("v1:", "v1:f")
                await tiered.store(other, {"refusal": "x"})
                assert disk.get(other) == {"refusal": "x"} and await shared.lookup(other) == {"refusal": "x"}
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_a_lost_server_leaves_the_cache_local_with_one_warning(private_redis, tmp_path):
    server = private_redis()
    target = redis_target(server.url, "lost")
    stream = io.StringIO()
    configure_logging(stream=stream, json_lines=True)

    async def scenario():
        client = connect(target)
        try:
            with ResponseCache(tmp_path / "disk") as disk:
                tiered = TieredCache(disk, RedisCacheStore(client, target.prefix), SharedCacheHealth(target.display))
                await tiered.store(KEY, RECORD)
                server.kill()
                other = KEY.replace("v1:", "v1:e")
                assert await tiered.lookup(other) is None  # the shared tier fails: a miss, not an error
                await tiered.store(other, {"refusal": "y"})
                await tiered.store(KEY.replace("v1:", "v1:d"), {"refusal": "z"})
                assert await tiered.lookup(other) == {"refusal": "y"}  # served from disk
                assert await tiered.lookup(KEY) == RECORD
                assert tiered.health.lost
        finally:
            await client.aclose()

    asyncio.run(scenario())
    structlog.reset_defaults()
    warnings = [json.loads(line) for line in stream.getvalue().splitlines() if "cache.shared_lost" in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"


def test_answers_kept_on_disk_while_the_server_was_away_are_shared_by_the_next_run(private_redis, tmp_path):
    server = private_redis(persist=True)
    target = redis_target(server.url, "pending")
    other = request_key(endpoint="e", model="m", messages=[{"role": "user", "content": "other"}], params={})

    async def while_lost():
        client = connect(target)
        try:
            with ResponseCache(tmp_path / "disk") as disk:
                tiered = TieredCache(disk, RedisCacheStore(client, target.prefix), SharedCacheHealth("test"))
                await tiered.store(KEY, RECORD)  # shared
                server.kill()
                await tiered.store(other, {"refusal": "kept on disk only"})
                return tiered.unshared_path.read_text()
        finally:
            await client.aclose()

    async def next_run():
        client = connect(target)
        try:
            with ResponseCache(tmp_path / "disk") as disk:
                tiered = TieredCache(disk, RedisCacheStore(client, target.prefix), SharedCacheHealth("test"))
                shared = await tiered.share_pending()
                return shared, await RedisCacheStore(client, target.prefix).lookup(other), tiered.unshared_path
        finally:
            await client.aclose()

    noted = asyncio.run(while_lost())
    assert noted == other + "\n"
    server.start()
    shared, found, path = asyncio.run(next_run())
    assert (shared, found) == (1, {"refusal": "kept on disk only"})
    assert not path.exists() and list(path.parent.glob("unshared.keys*")) == []


def test_a_lost_server_is_tried_again_with_backoff_and_the_shared_cache_recovers(private_redis, tmp_path):
    """Stopped, then started again on its port: the cache goes local, tries the server again after 1 s,
    2 s, 4 s... (the injected clock), comes back on the first try that answers, and shares what it kept."""
    server = private_redis()
    target = redis_target(server.url, "recovers")
    now = [0.0]
    health = SharedCacheHealth(target.display, clock=lambda: now[0], first_retry_s=1.0, max_retry_s=8.0)
    stream = io.StringIO()
    configure_logging(stream=stream, json_lines=True)
    kept, elsewhere = (
        request_key(endpoint="e", model="m", messages=[{"role": "user", "content": text}], params={})
        for text in ("kept", "elsewhere")
    )

    async def scenario():
        client = connect(target)
        shared = RedisCacheStore(client, target.prefix)
        try:
            with ResponseCache(tmp_path / "disk") as disk:
                tiered = TieredCache(disk, shared, health)
                await tiered.store(KEY, RECORD)
                server.kill()
                await tiered.store(kept, {"refusal": "kept on disk while the server was away"})
                assert health.lost and health.losses == 1
                tries = []
                for step in (0.5, 0.6, 0.5, 1.5, 0.6):  # at 0.5, 1.1 (a try), 1.6, 3.1 (a try: 2 s later), 3.7
                    now[0] += step
                    assert await tiered.lookup(elsewhere) is None
                    tries.append(health.tries)
                assert tries == [0, 1, 1, 2, 2]
                assert health.lost and health.recoveries == 0
                server.start()  # back on the same port, empty (it keeps nothing on disk)
                await shared.store(elsewhere, {"refusal": "stored by another worker"})
                assert await tiered.lookup(elsewhere) is None  # not tried before the wait is over
                now[0] += 8.0
                found = await tiered.lookup(elsewhere)  # the try: answered, the shared cache is back
                await tiered.drain()
                return found, await shared.lookup(kept), tiered.unshared_path.exists()
        finally:
            await client.aclose()

    found, shared_kept, notes_left = asyncio.run(scenario())
    structlog.reset_defaults()
    assert found == {"refusal": "stored by another worker"}
    assert not health.lost and health.recoveries == 1
    assert shared_kept == {"refusal": "kept on disk while the server was away"} and not notes_left
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events.count("cache.shared_lost") == 1 and events.count("cache.shared_recovered") == 1


def test_a_disk_write_that_waits_past_a_lease_does_not_starve_the_renewer(shared_redis, tmp_path):
    """Another process holds the disk cache's write lock for four leases' time while this one stores an
    answer: the store waits on the cache's thread, the loop goes on, and the lease is renewed throughout."""
    import sqlite3
    import threading

    from gateway.leases import Claim
    from gateway.leases.redis import RedisLeases

    held_for_s, lease_s = 1.2, 0.3
    other = request_key(endpoint="e", model="m", messages=[{"role": "user", "content": "other"}], params={})

    async def scenario():
        client = connect(shared_redis)
        try:
            with ResponseCache(tmp_path / "disk", off_loop=True) as disk:
                health = SharedCacheHealth("test")
                shared = RedisCacheStore(client, shared_redis.prefix)
                tiered = TieredCache(disk, shared, health)
                leases = RedisLeases(client, shared_redis.prefix, shared, health, lease_s=lease_s)
                assert await leases.claim(KEY) is Claim.SEND
                token = leases._held[KEY]
                writer = sqlite3.connect(tmp_path / "disk" / "cache.db", isolation_level=None, check_same_thread=False)
                writer.execute("BEGIN IMMEDIATE")  # another process writing: SQLite's write lock is taken
                release = threading.Timer(held_for_s, writer.rollback)
                release.start()
                try:
                    await tiered.store(other, RECORD)  # waits for the lock, four leases long
                finally:
                    release.join()
                    writer.close()
                still_held = await client.get(leases.prefix + KEY)
                await leases.release(KEY)
                return token, still_held, disk.get(other), health.lost
        finally:
            await client.aclose()

    token, still_held, stored, lost = asyncio.run(scenario())
    assert stored == RECORD and not lost
    assert still_held == token  # renewed while the disk waited: no other worker could take the call


def test_only_a_process_with_shared_state_moves_disk_cache_io_off_the_loop(shared_redis, tmp_path):
    """Renewers live on the loop only with a Redis server: there the disk waits on the cache's thread;
    alone, lookups run inline (a thread hop per call would slow a replay by thousands of hops)."""
    from gateway.runtime import GatewaySettings, Runtime

    with Runtime(GatewaySettings(cache_dir=tmp_path / "alone")) as alone:
        assert isinstance(alone.cache, ResponseCache) and not alone.cache.off_loop
    with Runtime(GatewaySettings(cache_dir=tmp_path / "tiered", redis=shared_redis)) as tiered:
        assert isinstance(tiered.cache, TieredCache) and tiered.cache.local.off_loop
    unshared = GatewaySettings(cache_dir=tmp_path / "limits-only", redis=shared_redis, share_cache=False)
    with Runtime(unshared) as limits_only:
        assert isinstance(limits_only.cache, ResponseCache) and limits_only.cache.off_loop
