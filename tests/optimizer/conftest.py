"""Fixtures for the optimizer's tests: a finished small run, a real MLflow store (SQLite) per test, a run
again at concurrency 1, and a run killed with SIGKILL and resumed against a standalone simulator that
counts every request."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import diskcache
import pytest

from optimizer.run import RunConfig, run_optimization
from optimizer.testing import run_small, small_config, small_flags

ROOT = Path(__file__).resolve().parents[2]
# Small enough to run in seconds, large enough for the release gate (10 paired test examples).
TRACKED = small_config(test_size=12)
TRACKED_FLAGS = small_flags("--sim-latency-ms", "1", "--quiet", test_size=12)


@pytest.fixture(scope="session")
def tracked_run(tmp_path_factory) -> Path:
    """A finished run directory (its cache beside it, so reruns of the same flags are answered from it)."""
    tmp = tmp_path_factory.mktemp("tracked")
    outcome = run_optimization(replace(TRACKED, out_dir=tmp / "run", cache_dir=tmp / "cache"))
    assert outcome.run_dir is not None
    return outcome.run_dir


def _mlflow_or_skip() -> None:
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("MLflow is missing: the dev extra installs it, so the tracking tests must run in CI")
        pytest.skip("MLflow is not installed here (pip install -e '.[dev]')")


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store, its schema migrated once per session (a few seconds) and copied per test."""
    _mlflow_or_skip()
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_store(mlflow_template, tmp_path, monkeypatch):
    """A real MLflow store for this test: SQLite in tmp_path, experiment ``tests`` with its artifacts there."""
    from mlflow import MlflowClient

    from optimizer.tracking.mlflow import MlflowStore

    db = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_template, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "tests")
    monkeypatch.chdir(tmp_path)  # MLflow's relative defaults (./mlruns) land here too
    MlflowClient(uri).create_experiment("tests", artifact_location=(tmp_path / "artifacts").as_uri())
    return MlflowStore()


@pytest.fixture
def same_at_concurrency_1(tmp_path) -> Callable[[RunConfig, Path, dict, Sequence[str]], None]:
    """Checks that ``config`` run again at concurrency 1 writes the program of ``run_dir`` and the same
    ``results`` under each of ``keys``."""

    def check(config: RunConfig, run_dir: Path, results: dict, keys: Sequence[str]) -> None:
        one_dir, one, _ = run_small(tmp_path, "c1", config, concurrency=1)
        assert (one_dir / "optimized_program.json").read_bytes() == (run_dir / "optimized_program.json").read_bytes()
        for key in keys:
            assert one[key] == results[key], key

    return check


# -- kill -9 and resume, against a standalone simulator that counts every request ---------------------
@pytest.fixture
def standalone_simulator() -> Iterator[str]:
    """``scripts/simulator.py`` in a process of its own; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "scripts/simulator.py", "--port", "0", "--latency-ms", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert match, line
    yield match.group(0)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=20)


def _requests(url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"{url}/_sim/stats", timeout=10) as response:
        return int(json.load(response)["requests"])


@pytest.fixture
def killed_and_resumed(standalone_simulator, tmp_path) -> Callable[[Sequence[str], Sequence[int], Sequence[str]], None]:
    """Checks that ``optimize.py`` with some flags, killed with SIGKILL once its cache holds each of
    ``thresholds`` entries and then run again, sends only what was not answered and ends as a clean
    run does: the same program, and the same results under each of ``keys``."""
    url = standalone_simulator
    env = {**os.environ, "OPENAI_API_KEY": "sim-key"}

    def check(flags: Sequence[str], thresholds: Sequence[int], keys: Sequence[str]) -> None:
        backend = ["--model", "openai/gpt-4o", "--api-base", f"{url}/v1"]

        def optimize(name: str, cache: str) -> subprocess.Popen:
            return subprocess.Popen(
                [
                    sys.executable,
                    "scripts/optimize.py",
                    *flags,
                    *backend,
                    "--cache-dir",
                    str(tmp_path / cache),
                    "--out",
                    str(tmp_path / name),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )

        before = _requests(url)
        clean = optimize("clean", "cache-clean")
        assert clean.wait(timeout=180) == 0, clean.stderr.read()
        clean_calls = _requests(url) - before

        before = _requests(url)
        kills = 0
        for threshold in thresholds:
            proc = optimize("resumed", "cache-resumed")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with diskcache.Cache(str(tmp_path / "cache-resumed")) as cache:
                        if len(cache) >= threshold:
                            break
                except Exception:
                    pass
                time.sleep(0.05)
            assert proc.poll() is None, "the run finished before it could be killed"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
        final = optimize("resumed", "cache-resumed")
        assert final.wait(timeout=180) == 0, final.stderr.read()
        resumed_calls = _requests(url) - before
        # Only requests in flight at a kill can be sent again: at most `concurrency` per kill.
        assert clean_calls <= resumed_calls <= clean_calls + 16 * kills
        clean_program = (tmp_path / "clean" / "optimized_program.json").read_bytes()
        assert (tmp_path / "resumed" / "optimized_program.json").read_bytes() == clean_program
        clean_results = json.loads((tmp_path / "clean" / "optimization_results.json").read_text())
        resumed_results = json.loads((tmp_path / "resumed" / "optimization_results.json").read_text())
        for key in keys:
            assert resumed_results[key] == clean_results[key], key

    return check
