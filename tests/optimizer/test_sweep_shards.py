"""A sweep as two shards in two processes sharing the real Redis: the same results as one process, calls paid once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer.sweep.cli import main as sweep_main
from optimizer.sweep.cli import settings_from_args
from optimizer.sweep.runner import run_sweep
from optimizer.sweep.stats import RESULTS_FILE, write_sweep_results

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl")
GRID = ["--seeds", "1,2", "--subsets", "middle,high", "--dataset", SAMPLE, "--train-size", "20", "--dev-size", "8"]
GRID += ["--test-size", "8", "--num-candidates", "3", "--num-trials", "3", "--sim-latency-ms", "1"]


def numbers(results: dict) -> dict:
    """What a sweep found, without what it cost or how it was spread over processes."""
    cells = [{k: v for k, v in c.items() if k not in ("cost", "wall_s")} for c in results["cells"]]
    return {"cells": cells, "groups": results["groups"], "subset_comparison": results["subset_comparison"]}


def live_calls(results: dict) -> int:
    return sum(c["cost"]["live_calls"] for c in results["cells"])


@pytest.mark.slow
def test_two_shards_sharing_redis_are_one_sweep(tmp_path, shared_redis, capsys):
    # One process, no shared state.
    settings, _ = settings_from_args([*GRID, "--out", str(tmp_path / "one"), "--cache-dir", str(tmp_path / "c1")])
    run_sweep(settings, gather=write_sweep_results)
    one = json.loads((tmp_path / "one" / RESULTS_FILE).read_text())

    # Two shards at once, as a job array's two tasks: one sweep directory, a cache directory each (two
    # machines' disks), the Redis server shared.
    env = {**os.environ, "HSOPT_REDIS_NAMESPACE": shared_redis.namespace, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    shards = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "sweep.py"), *GRID, "--out", str(tmp_path / "sharded")]
            + ["--cache-dir", str(tmp_path / f"cache-{i}"), "--shard", f"{i}/2", "--quiet"]
            + ["--redis-url", shared_redis.url],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for shard in shards:
        out, err = shard.communicate(timeout=300)
        assert shard.returncode == 0, err[-3000:]
    states = [json.loads(p.read_text()) for p in sorted((tmp_path / "sharded" / "cells").glob("*/cell.json"))]
    assert len(states) == 4 and {s["status"] for s in states} == {"finished"}
    assert all(shared_redis.url not in json.dumps(s) for s in states)  # the URL stays out of the cells' files

    # The last shard to finish gathered every cell; report gathers the same.
    last = json.loads((tmp_path / "sharded" / RESULTS_FILE).read_text())
    assert sweep_main(["report", str(tmp_path / "sharded")]) == 0
    gathered = json.loads((tmp_path / "sharded" / RESULTS_FILE).read_text())
    assert numbers(last) == numbers(gathered) == numbers(one)
    # Every distinct request was paid once, in one process as in two: a call one shard made was
    # answered to the other from Redis (or by waiting for it there), never paid again.
    assert live_calls(gathered) == live_calls(one) > 0
    capsys.readouterr()
