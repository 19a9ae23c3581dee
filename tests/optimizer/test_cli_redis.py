"""``--redis-url`` and ``--budget-name`` on the command line: checked at the edge, one line, no password shown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.shared.testing import free_port
from optimizer.cli import main
from optimizer.testing import small_flags

ROOT = Path(__file__).resolve().parents[2]
SMALL_FLAGS = small_flags("--quiet", "--sim-latency-ms", "0")
SECRET = "pw-Zq81-never-shown"


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert SECRET not in err
    return lines[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"http://:{SECRET}@localhost:6379", "must start with redis:// or rediss://"),
        (f"redis://:{SECRET}@:6379/0", "no host"),
        (f"redis://:{SECRET}@localhost:99999/0", "invalid Redis URL"),
    ],
)
def test_a_bad_url_is_one_line_before_anything_starts(capsys, tmp_path, url, expected):
    assert main([*SMALL_FLAGS, "--out", str(tmp_path / "run"), "--redis-url", url]) == 2
    line = one_error_line(capsys)
    assert expected in line and "***" in line
    assert not (tmp_path / "run").exists()


def test_an_unreachable_server_is_one_line_before_any_call(capsys, tmp_path):
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    assert (
        main([*SMALL_FLAGS, "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c"), "--redis-url", url])
        == 2
    )
    line = one_error_line(capsys)
    assert "cannot use Redis at redis://:***@127.0.0.1" in line and "is it running?" in line
    assert not (tmp_path / "c").exists()  # no cache opened, no call made


def test_a_refused_password_is_one_line_naming_the_password_not_showing_it(capsys, tmp_path, private_redis):
    server = private_redis(password="the-right-one")
    url = f"redis://:{SECRET}@127.0.0.1:{server.port}/0"
    assert main([*SMALL_FLAGS, "--out", str(tmp_path / "run"), "--redis-url", url]) == 2
    assert "check the password in the URL" in one_error_line(capsys)


def test_the_environment_variable_is_the_default_url(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HSOPT_REDIS_URL", f"redis://:{SECRET}@127.0.0.1:{free_port()}/0")
    assert main([*SMALL_FLAGS, "--out", str(tmp_path / "run")]) == 2
    assert "cannot use Redis" in one_error_line(capsys)


@pytest.mark.parametrize("extra", [["--max-cost", "1"], ["--redis-url", "redis://127.0.0.1:6379/0"], []])
def test_a_budget_name_needs_a_server_and_a_cap(capsys, tmp_path, extra):
    assert main([*SMALL_FLAGS, "--out", str(tmp_path / "run"), "--budget-name", "team", *extra]) == 2
    assert "--budget-name" in one_error_line(capsys)


def test_a_worker_with_another_cap_stops_before_any_call(capsys, tmp_path, shared_redis, monkeypatch):
    monkeypatch.setenv("HSOPT_REDIS_NAMESPACE", shared_redis.namespace)
    from gateway.budget.redis import budget_status

    budget_status(shared_redis, "team", new_cap_usd=3.0)
    flags = [*SMALL_FLAGS, "--cache-dir", str(tmp_path / "c"), "--redis-url", shared_redis.url]
    assert main([*flags, "--out", str(tmp_path / "run"), "--max-cost", "5", "--budget-name", "team"]) == 2
    assert "capped at $3, not $5" in one_error_line(capsys)


def test_ledger_script_reads_and_changes_a_shared_budget(tmp_path, shared_redis):
    from gateway.budget.redis import budget_status

    budget_status(shared_redis, "team", new_cap_usd=3.0)
    env = {"HSOPT_REDIS_NAMESPACE": shared_redis.namespace, "PATH": "/usr/bin:/bin"}
    script = [sys.executable, str(ROOT / "scripts" / "ledger.py"), "--redis-url", shared_redis.url]
    shown = subprocess.run(
        [*script, "--budget-name", "team", "--json", "--set-cap", "4.5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    state = json.loads(shown.stdout)
    assert state["max_cost_usd"] == 4.5 and state["spent_usd"] == 0.0
    missing = subprocess.run([*script, "--budget-name", "nobody"], env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no budget named 'nobody'" in missing.stderr


@pytest.mark.slow
def test_a_shared_run_never_shows_the_password_and_a_second_worker_pays_for_nothing(capsys, tmp_path, private_redis):
    server = private_redis(password=SECRET)
    common = [*SMALL_FLAGS, "--redis-url", server.url, "--log-json", "--max-cost", "5", "--budget-name", "team"]
    assert main([*common, "--cache-dir", str(tmp_path / "a-cache"), "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--cache-dir", str(tmp_path / "b-cache"), "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    first = json.loads((tmp_path / "a" / "ledger.json").read_text())["total"]
    second = json.loads((tmp_path / "b" / "ledger.json").read_text())["total"]
    assert first["live_calls"] > 0 and (second["live_calls"], second["cached_calls"]) == (0, first["live_calls"])
    results = json.loads((tmp_path / "a" / "optimization_results.json").read_text())
    assert results["config"]["redis"] == f"redis://:***@127.0.0.1:{server.port}/0"
    for path in tmp_path.rglob("*"):
        if path.is_file() and "redis-" not in str(path.relative_to(tmp_path)):
            assert SECRET.encode() not in path.read_bytes(), path
    from gateway.budget.redis import budget_status
    from gateway.shared.target import redis_target

    state = budget_status(redis_target(server.url), "team")
    assert state is not None and state["spent_usd"] == pytest.approx(first["cost_usd"], abs=1e-6)


@pytest.mark.slow
def test_a_tls_server_shares_the_cache_and_one_it_cannot_verify_is_one_line(capsys, tmp_path, private_redis):
    server = private_redis(tls=True)
    common = [*SMALL_FLAGS, "--redis-url", server.url]
    assert main([*common, "--cache-dir", str(tmp_path / "a-cache"), "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--cache-dir", str(tmp_path / "b-cache"), "--out", str(tmp_path / "b")]) == 0
    first = json.loads((tmp_path / "a" / "ledger.json").read_text())["total"]
    second = json.loads((tmp_path / "b" / "ledger.json").read_text())["total"]
    assert first["live_calls"] > 0 and (second["live_calls"], second["cached_calls"]) == (0, first["live_calls"])
    capsys.readouterr()

    # Without the certificate to trust, and in plain text to the TLS port: one line each, before any call.
    for url, hint in (
        (f"rediss://127.0.0.1:{server.port}/0", "?ssl_ca_certs="),
        (f"redis://127.0.0.1:{server.port}/0", "does it take TLS"),
    ):
        assert main([*SMALL_FLAGS, "--redis-url", url, "--out", str(tmp_path / "c")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: cannot use Redis at {url} ") and hint in err[0], err
        assert not (tmp_path / "c" / "ledger.json").exists()
