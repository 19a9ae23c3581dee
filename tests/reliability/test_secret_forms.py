"""Secrets in every form stay secret: plant one of each, run, sweep and log to MLflow, then search everything.

Each secret is distinct, so a leak names its form: a Redis password in the URL's user-info and one in
its query string (``redis://host/0?password=``, which redis-py reads), a PostgreSQL password in the
user-info and in the query string of ``--optuna-storage``, an MLflow tracking URI with credentials (a
real MLflow store on PostgreSQL), an API key (sent by the transport, quoted back by a provider in an
error long enough to be cut, the key straddling the cut), and a token in a header the provider quotes.

Searched afterwards: every line the commands printed (file descriptors, so helper processes too),
every file under the test's directory (run and sweep outputs, caches, MLflow artifacts), every row of
the PostgreSQL schemas the stores wrote (Optuna's and MLflow's), and every key and value on the Redis
servers. Neither a secret nor its first characters may appear anywhere.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

from gateway.shared.testing import RedisServer
from gateway.testing import RefusingProvider
from optimizer.cli import main as optimize_main
from optimizer.sweep.cli import main as sweep_main
from optimizer.testing import small_flags

SECRETS = {
    "redis user-info password": "RdsUsrPw-5b8e1f2a",
    "redis query password": "RdsQryPw-9c2d7a4e",
    "postgres user-info password": "PgUsrPw-3e7f0b6d",
    "postgres query password": "PgQryPw-6a1c4d8b",
    "mlflow URI password": "MlfUriPw-8d2b5e1c",
    "API key": "sk-PlantedKey-4f9a2c71e6b3d058",
    "header token": "HdrTok-7e3c9a10f4",
}
PREFIX_CHARS = 8  # what a secret cut short would still show
KEY_AT = 290  # where the quoted key starts in the error's first line: across the 300-character cut


def found_in(data: bytes) -> list[str]:
    """The forms of the secrets (whole, or their first characters) that ``data`` shows."""
    return [form for form, secret in SECRETS.items() if secret[:PREFIX_CHARS].encode() in data]


class QuotingProvider(RefusingProvider):
    """An OpenAI-compatible endpoint that refuses every request with 401, quoting a header token of its
    own and then the caller's key so that the key straddles the 300-character cut of an error line."""

    def __init__(self) -> None:
        super().__init__(401, "invalid_api_key")
        self.lead = 0  # characters before the provider's message in the error's text (set by ``probe``)

    def message(self, key: str) -> str:
        head = f"upstream refused: {{'x-api-key': '{SECRETS['header token']}'}} "
        return head + "." * max(0, KEY_AT - self.lead - len(head)) + f" {key} is not a valid key"

    def probe(self) -> None:
        """Measure where LiteLLM puts the provider's message in its exception's text."""
        import litellm

        try:
            litellm.completion(
                model="openai/gpt-4o",
                api_base=self.url,
                api_key="probe",
                messages=[{"role": "user", "content": "hi"}],
                num_retries=0,
            )
        except Exception as exc:
            self.lead = str(exc).index("upstream refused")
        else:
            raise AssertionError("the provider answered")


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def new_schema(postgres: str) -> str:
    schema = f"hsopt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return schema


def schema_rows(postgres: str, schema: str) -> bytes:
    """Every row of every table in ``schema``, as text."""
    dump: list[str] = []
    with psycopg.connect(postgres, autocommit=True) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
        for (table,) in tables:
            rows = connection.execute(f'SELECT * FROM {schema}."{table}"').fetchall()
            dump += [f"{table}: {row!r}" for row in rows]
    assert dump, f"nothing was stored in {schema}"
    return "\n".join(dump).encode("utf-8", "replace")


def redis_contents(server: RedisServer) -> bytes:
    client = redis.Redis.from_url(server.url)
    try:
        dump: list[bytes] = []
        for key in client.scan_iter(count=1000):
            dump.append(key)
            kind = client.type(key)
            if kind == b"string":
                dump.append(client.get(key) or b"")
            elif kind == b"hash":
                dump += [b"%s=%s" % item for item in client.hgetall(key).items()]
            elif kind in (b"list", b"set", b"zset"):
                dump.append(repr(client.dump(key)).encode())
        assert dump, f"nothing was stored on the Redis server at port {server.port}"
        return b"\n".join(dump)
    finally:
        client.close()


@pytest.fixture
def schemas(postgres_url: str) -> Iterator[dict[str, str]]:
    made = {name: new_schema(postgres_url) for name in ("run", "sweep", "mlflow")}
    yield made
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        for schema in made.values():
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_secrets_planted_in_every_form_are_found_in_nothing(
    tmp_path, postgres_url, schemas, private_redis, capfd, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # MLflow's relative defaults land here, and are searched
    plain = private_redis(password=SECRETS["redis user-info password"])
    queried = private_redis(password=SECRETS["redis query password"])
    redis_userinfo = plain.url
    redis_query = f"redis://127.0.0.1:{queried.port}/0?password={SECRETS['redis query password']}"
    search_path = "options=-csearch_path%3D"

    # The session's server (the machine's, or one of its own on a socket) trusts local connections: a
    # password in the URL is carried along and written wherever the run writes its URLs, never checked.
    def with_password(password: str) -> str:
        assert "://postgres@" in postgres_url, postgres_url
        return postgres_url.replace("://postgres@", f"://postgres:{password}@", 1)

    pg_userinfo = with_query(with_password(SECRETS["postgres user-info password"]), search_path + schemas["run"])
    pg_query = with_query(
        with_query(postgres_url, f"password={SECRETS['postgres query password']}"), search_path + schemas["sweep"]
    )
    mlflow_uri = with_query(with_password(SECRETS["mlflow URI password"]), search_path + schemas["mlflow"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "secrets")
    monkeypatch.setenv("OPENAI_API_KEY", SECRETS["API key"])
    outputs: dict[str, str] = {}

    def ran(name: str, code: int, expected: int = 0) -> None:
        captured = capfd.readouterr()
        outputs[name] = captured.out + captured.err
        assert code == expected, f"{name}: {outputs[name][-3000:]}"

    flags = small_flags("--sim-latency-ms", "1", "--log-json")
    run = tmp_path / "run"
    code = optimize_main(
        [*flags, "--out", str(run), "--cache-dir", str(tmp_path / "cache-run")]
        + ["--redis-url", redis_userinfo, "--optuna-storage", pg_userinfo, "--mlflow"]
    )
    ran("run", code)
    sweep = tmp_path / "sweep"
    code = sweep_main(
        ["--seeds", "1,2", *flags, "--out", str(sweep), "--cache-dir", str(tmp_path / "cache-sweep")]
        + ["--redis-url", redis_query, "--optuna-storage", pg_query, "--mlflow"]
    )
    ran("sweep", code)

    with QuotingProvider() as provider:
        provider.probe()
        capfd.readouterr()
        refused = ["--model", "openai/gpt-4o", "--api-base", provider.url, "--transport", "litellm"]
        code = optimize_main(
            [*small_flags("--log-json"), *refused, "--out", str(tmp_path / "refused")]
            + ["--cache-dir", str(tmp_path / "cache-refused"), "--optuna-storage", "none"]
        )
        ran("refused run", code, expected=2)
    assert "invalid_api_key" in outputs["refused run"] or "AuthenticationError" in outputs["refused run"]

    # Everything was written where it is searched below.
    results = json.loads((run / "optimization_results.json").read_text())
    assert results["config"]["redis"] and results["config"]["optuna_storage"]
    cell_results = json.loads((sweep / "cells" / "seed-1" / "optimization_results.json").read_text())
    assert cell_results["config"]["redis"].startswith("redis://127.0.0.1:")
    assert "mlflow: run " in outputs["run"] and "mlflow: sweep run " in outputs["sweep"]

    leaks: dict[str, list[str]] = {}
    for name, text in outputs.items():
        leaks[f"output of the {name}"] = found_in(text.encode("utf-8", "replace"))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"ledger.json", "optimization_results.json", "sweep.json", "sweep_results.json", "report.html"} <= {
        p.name for p in files
    }
    artifacts = [p for p in files if "mlruns" in p.parts or "mlartifacts" in p.parts]
    assert any(p.name == "best_model.json" for p in artifacts), "no MLflow artifact was written under the test"
    for path in files:
        leaks[str(path.relative_to(tmp_path))] = found_in(path.read_bytes())
    for name, schema in schemas.items():
        leaks[f"PostgreSQL schema of the {name}"] = found_in(schema_rows(postgres_url, schema))
    for server in (plain, queried):
        leaks[f"Redis at port {server.port}"] = found_in(redis_contents(server))
    leaks = {where: forms for where, forms in leaks.items() if forms}
    assert not leaks, json.dumps(leaks, indent=1)
