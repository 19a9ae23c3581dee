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


# -- Redis: the machine's server under a unique namespace, or a private one a test may kill ----------
@pytest.fixture
def shared_redis():
    """A ``RedisTarget`` on the machine's Redis (127.0.0.1:6379) under a namespace of its own, deleted after.

    No server answering is a failure, never a skip: the shared-state tests must run.
    """
    from gateway.shared import testing as redis_testing
    from gateway.shared.target import redis_target

    url = redis_testing.MACHINE_REDIS_URL
    if not redis_testing.ping(url):
        pytest.fail(f"no Redis answers at {url}: start one (redis-server) to run the shared-state tests")
    target = redis_target(url, redis_testing.unique_namespace())
    yield target
    redis_testing.delete_namespace(url, target.namespace)


@pytest.fixture
def private_redis(tmp_path):
    """Start ``redis-server``s of the test's own on free ports (``private_redis(password=...)``); all stop after."""
    from gateway.shared.testing import RedisServer

    servers = []

    def start(**kwargs):
        server = RedisServer(tmp_path / f"redis-{len(servers)}", **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
