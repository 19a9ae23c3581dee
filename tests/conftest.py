"""Shared fixtures: every stored thing goes under tmp_path, global state is reset between tests."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest
import structlog

from gateway import logs


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    monkeypatch.setenv("HSOPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HSOPT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
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
