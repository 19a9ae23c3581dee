import multiprocessing
import os

import pytest

from cache import CorruptEntry, ResponseCache, canonical_json, request_key


def _key(**overrides):
    args = {
        "endpoint": "azure|host|2024-10-21|dep",
        "model": "azure/dep",
        "messages": [{"role": "user", "content": "hi"}],
        "params": {"temperature": 0.0, "max_tokens": 100},
    }
    args.update(overrides)
    return request_key(**args)


def test_key_is_versioned_and_stable():
    key = _key()
    assert key.startswith("v1:") and len(key) == 3 + 64
    assert key == _key(params={"max_tokens": 100, "temperature": 0.0})  # order does not matter


def test_key_changes_with_what_changes_the_answer():
    base = _key()
    assert _key(model="azure/other") != base
    assert _key(params={"temperature": 0.7, "max_tokens": 100}) != base
    assert _key(params={"temperature": 0.0, "max_tokens": 100, "seed": 0}) != base
    assert _key(endpoint="azure|host|2025-01-01|dep") != base
    assert _key(messages=[{"role": "user", "content": "hi!"}]) != base
    assert _key(rollout_id=1) != base and _key(rollout_id=1) != _key(rollout_id=2)


def test_key_ignores_client_settings_and_secrets():
    secret = {"api_key": "sk-very-secret", "timeout": 5, "api_base": "http://x", "extra_headers": {"a": "b"}}
    assert _key(params={"temperature": 0.0, "max_tokens": 100, **secret}) == _key()


def test_canonical_json_is_sorted_and_compact():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == '{"a":[1,{"c":"é","d":2}],"b":1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_round_trip_and_integrity(tmp_path):
    with ResponseCache(tmp_path / "c") as cache:
        cache.set("v1:abc", {"response": {"x": 1}})
        assert cache.get("v1:abc") == {"response": {"x": 1}}
        assert cache.get("v1:missing") is None


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        b"bytes",
        '{"key": "v1:abc", "record": {"response": {"x": 2}}, "digest": "0000"}',
        '{"key": "v1:other", "record": {"response": {"x": 2}}, "digest": "0000"}',
        '{"key": "v1:abc"}',
    ],
)
def test_corrupted_entries_are_detected(tmp_path, raw):
    with ResponseCache(tmp_path / "c") as cache:
        cache.raw_set("v1:abc", raw)
        with pytest.raises(CorruptEntry):
            cache.get("v1:abc")


def test_entry_moved_to_another_key_is_detected(tmp_path):
    with ResponseCache(tmp_path / "c") as cache:
        cache.set("v1:aaa", {"response": {"x": 1}})
        stolen = cache._store.get("v1:aaa")
        cache.raw_set("v1:bbb", stolen)
        with pytest.raises(CorruptEntry, match="another key"):
            cache.get("v1:bbb")


def test_default_directory_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HSOPT_CACHE_DIR", str(tmp_path / "moved"))
    with ResponseCache() as cache:
        cache.set("v1:k", {"response": {}})
    assert (tmp_path / "moved").is_dir()


def _writer(directory: str, offset: int, count: int) -> None:
    with ResponseCache(directory) as cache:
        for i in range(count):
            # Both processes write an overlapping range of keys with identical records.
            cache.set(f"v1:{(offset + i) % 150:04d}", {"response": {"n": (offset + i) % 150}})


def test_two_processes_share_one_directory(tmp_path):
    directory = str(tmp_path / "shared")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(directory, off, 100)) for off in (0, 50)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with ResponseCache(directory) as cache:
        assert len(cache) == 150
        for key in cache.keys():
            assert cache.get(key) == {"response": {"n": int(key[3:])}}
    assert os.path.isdir(directory)
