"""Two optimize processes on one cache directory at the same time: both finish, nothing is corrupted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cache import CorruptEntry, ResponseCache

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_runs_share_one_cache_and_agree(harness, reference, tmp_path):
    cache_dir = tmp_path / "shared-cache"
    runs = []
    for name in ("first", "second"):
        command = [
            sys.executable,
            str(ROOT / "scripts" / "optimize.py"),
            *harness.SMALL_FLAGS,
            "--quiet",
            "--sim-latency-ms",
            "1",
            "--cache-dir",
            str(cache_dir),
            "--out",
            str(tmp_path / name),
        ]
        runs.append(subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]

    with ResponseCache(cache_dir) as cache:
        keys = cache.keys()
        for key in keys:
            try:
                assert cache.get(key) is not None
            except CorruptEntry as exc:
                pytest.fail(f"corrupted entry after two concurrent runs: {exc}")
    assert len(keys) == reference.ledger["total"]["live_calls"]

    program = harness._program(reference)
    ledgers = []
    for name in ("first", "second"):
        run_dir = tmp_path / name
        assert (run_dir / "optimized_program.json").read_bytes() == program, name
        results = json.loads((run_dir / "optimization_results.json").read_text())
        assert harness.differing_keys(results, reference.results) == [], name
        ledgers.append(json.loads((run_dir / "ledger.json").read_text())["total"])
    # Each call was paid at least once and at most once per process.
    live = sum(ledger["live_calls"] for ledger in ledgers)
    assert len(keys) <= live <= 2 * len(keys)
