"""Shared fixtures: every stored thing goes under tmp_path, global state is reset between tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest
import structlog

from gateway import logs


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    monkeypatch.setenv("HSOPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HSOPT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # MLflow, if anything reaches it, writes to a store of this test's own, never to the working directory.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    for name in (
        "AZURE_API_KEY",
        "AZURE_OPENAI_KEY",
        "AZURE_OPENAI_API_KEY",
        "AZURE_API_BASE",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_DEPLOYMENT_NAME",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    logs._registered.clear()
    yield
    structlog.reset_defaults()
    logs._registered.clear()


def needed(what: str) -> None:
    """Skip a test whose tool is missing here; in CI (CI=true), which installs it, fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing: CI installs it (.ci/run), so this test must run there")
    pytest.skip(f"{what} is not installed here")


@pytest.fixture
def chromium() -> str:
    """The path of Debian's chromium, for headless rendering tests."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        needed("chromium (apt-get install chromium)")
    assert path is not None
    return path
