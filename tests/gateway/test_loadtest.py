"""``scripts/loadtest.py`` run as a user runs it: a subprocess against the in-process simulator."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "loadtest.py"
CONTRACT_KEYS = {"ok", "failed", "attempts", "retries", "rate_limited", "p50_ms", "p95_ms", "wall_s", "throughput_rps"}


def loadtest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # cwd is a scratch directory: no .env is read, and anything written by mistake would show up there.
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=180)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_json_report_has_every_key_and_counts_every_request(tmp_path):
    result = loadtest("--requests", "24", "--concurrency", "4", "--sim-latency-ms", "5", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().count("\n") == 0  # exactly one JSON object on stdout
    report = json.loads(result.stdout)
    assert CONTRACT_KEYS <= report.keys()
    assert (report["ok"], report["failed"], report["attempts"], report["retries"]) == (24, 0, 24, 0)
    assert report["rate_limited"] == 0 and report["cached"] == 0
    assert 0 < report["p50_ms"] <= report["p95_ms"]
    assert report["wall_s"] > 0 and report["throughput_rps"] > 0
    assert report["backend"] == "simulator" and report["max_in_flight"] <= 4
    # The gateway cached into a temporary directory: the run cache ($HSOPT_CACHE_DIR here) is untouched.
    assert not (tmp_path / "cache").exists() and list(tmp_path.iterdir()) == []


def test_repeat_sends_one_live_request_and_serves_the_rest_from_the_gateway(tmp_path):
    result = loadtest("--requests", "12", "--repeat", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert (report["ok"], report["attempts"], report["cached"]) == (12, 1, 11)


def test_unreachable_endpoint_fails_with_status_1_and_never_prints_the_key(tmp_path):
    key = "sk-loadtest-not-printed-7731"
    result = loadtest(
        "--model",
        "openai/gpt-4o",
        "--api-base",
        f"http://127.0.0.1:{closed_port()}/v1",
        "--api-key",
        key,
        "--requests",
        "3",
        "--max-attempts",
        "2",
        "--timeout-s",
        "5",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert (report["ok"], report["failed"], report["attempts"], report["retries"]) == (0, 3, 6, 3)
    assert report["errors"] == {"Unavailable": 3}
    assert key not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--requests", "0"], "--requests"),
        (["--concurrency", "many"], "--concurrency"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--model", "simulator", "--api-base", "http://127.0.0.1:1/v1"], "--api-base"),
        (["--model", "azure/missing-credentials"], "AZURE_API_KEY"),
        (["--model", "no-such-provider/model-x"], "unknown model"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(tmp_path, args, message):
    result = loadtest(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr


def test_against_a_quota_the_load_test_paces_to_what_the_endpoint_reports(tmp_path):
    from simulator import SimConfig, Simulator

    # 600,000 tokens a minute over 0.2 s slices: a bucket of 2,000 tokens, refilled at 10,000 a second;
    # 60 requests of about 150 tokens each need about a second of quota, well past the first bucket.
    with Simulator(SimConfig(latency_ms=20, tpm=600_000, burst_s=0.2)) as sim:
        result = loadtest(
            *("--model", "openai/gpt-4o", "--api-base", sim.openai_api_base, "--api-key", "k"),
            *("--requests", "60", "--concurrency", "8", "--max-tokens", "128", "--json"),
            cwd=tmp_path,
        )
        server = sim.stats()
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["ok"] == 60 and report["failed"] == 0
    assert report["pacing_wait_s"] > 0  # it waited on the quota the headers reported, no --tpm given
    assert server["rate_limited"] <= 8  # at most the first round, sent before any answer told the quota
