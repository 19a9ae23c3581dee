import multiprocessing
import os

import diskcache
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


class _Payload:
    """Unpickling this makes a directory: the trace of a pickle that ran code when it was read."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _plant_with_stock_diskcache(directory, key, value):
    # What someone with write access to the cache directory could leave there: diskcache's own Disk
    # stores a non-text key or value in its pickle mode.
    with diskcache.Cache(str(directory)) as stock:
        stock.set(key, value)


def test_a_pickled_value_is_corrupt_and_never_unpickled(tmp_path):
    directory, marker = tmp_path / "c", tmp_path / "ran-code"
    ResponseCache(directory).close()
    _plant_with_stock_diskcache(directory, "v1:abc", _Payload(marker))
    with ResponseCache(directory) as cache:
        with pytest.raises(CorruptEntry, match="pickle"):
            cache.get("v1:abc")
    assert not marker.exists()
    # The stock reader would have run it: the planted row really is a live pickle.
    with diskcache.Cache(str(directory)) as stock:
        stock.get("v1:abc")
    assert marker.exists()


def test_a_pickled_key_is_listed_unread_and_reported_corrupt(tmp_path):
    directory, marker = tmp_path / "c", tmp_path / "ran-code"
    with ResponseCache(directory) as cache:
        cache.set("v1:good", {"response": {"x": 1}})
    _plant_with_stock_diskcache(directory, _Payload(marker), "anything")
    with ResponseCache(directory) as cache:
        keys = cache.keys()
        assert len(keys) == 2 and "v1:good" in keys
        (odd,) = [k for k in keys if k != "v1:good"]
        with pytest.raises(CorruptEntry, match="pickle"):
            cache.get(odd)
        assert cache.get("v1:good") == {"response": {"x": 1}}
    assert not marker.exists()


def test_a_row_naming_a_file_outside_the_directory_is_neither_read_nor_deleted(tmp_path):
    directory, outside = tmp_path / "c", tmp_path / "precious.txt"
    outside.write_text('{"not": "yours"}')
    with ResponseCache(directory) as cache:
        cache.set("v1:abc", {"response": {"x": 1}})
        # Point the row at a file outside the directory, as a tampered database could (text mode, file-backed).
        cache._store._sql(
            "UPDATE Cache SET mode = ?, filename = ?, value = NULL WHERE key = ?",
            (diskcache.core.MODE_TEXT, str(outside), "v1:abc"),
        )
        with pytest.raises(CorruptEntry, match="outside the cache directory"):
            cache.get("v1:abc")
        cache.set("v1:abc", {"response": {"x": 2}})  # replacing the row would delete the file it names
        assert cache.get("v1:abc") == {"response": {"x": 2}}
    assert outside.read_text() == '{"not": "yours"}'


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
