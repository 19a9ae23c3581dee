"""Fixtures for the tracking tests: a finished small run, and a real MLflow store (SQLite) per test."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from optimizer.run import run_optimization
from optimizer.testing import small_config, small_flags

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
