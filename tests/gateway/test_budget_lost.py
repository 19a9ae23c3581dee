"""A shared budget never silently starts again from $0, whatever made its record vanish."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from structlog.testing import capture_logs

from gateway import errors
from gateway.budget import redis as budget_redis
from gateway.budget.notes import BudgetNotes
from gateway.budget.redis import RedisBudget, budget_keys, read_budget, recreate_budget
from gateway.shared.conn import connect
from gateway.shared.target import RedisTarget, redis_target

ROOT = Path(__file__).resolve().parents[2]


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0.001)


async def open_and_spend(target: RedisTarget, notes: BudgetNotes | None, spend_usd: float, cap: float = 1.0) -> float:
    """A worker: open the budget, spend ``spend_usd`` in one call, stop; returns the shared total it saw."""
    client = connect(target)
    try:
        budget = RedisBudget(client, target, "team", cap, notes=notes, sleep=no_sleep)
        await budget.open()
        if spend_usd:
            await budget.settle(await budget.reserve(spend_usd), spend_usd)
        budget.close()
        return budget.spent_usd
    finally:
        await client.aclose()


async def state_of(target: RedisTarget) -> dict | None:
    client = connect(target)
    try:
        return await read_budget(client, target, "team")
    finally:
        await client.aclose()


def test_after_a_restart_without_persistence_a_worker_that_spent_refuses_a_fresh_budget(private_redis, tmp_path):
    server = private_redis()
    target = redis_target(server.url, "ns")
    notes = BudgetNotes(tmp_path / "cache")
    assert asyncio.run(open_and_spend(target, notes, 0.3)) == pytest.approx(0.3)
    server.kill()
    server.start()
    with pytest.raises(errors.ConfigurationError) as lost:
        asyncio.run(open_and_spend(target, notes, 0.2))
    line = str(lost.value)
    assert "\n" not in line and "no longer exists" in line
    assert line.endswith("--budget-name team --set-cap 1 --recreate-spent 0.3000")
    assert asyncio.run(state_of(target)) is None  # nothing created, nothing spent
    # A worker that never spent under it (another machine: notes of its own) creates the name afresh...
    assert asyncio.run(open_and_spend(target, BudgetNotes(tmp_path / "elsewhere"), 0.1)) == pytest.approx(0.1)
    # ...which a worker that had spent under the lost record refuses too, naming what both spent.
    with pytest.raises(errors.ConfigurationError, match=r"created again from \$0.*--recreate-spent 0\.4000$"):
        asyncio.run(open_and_spend(target, notes, 0.2))


def test_an_explicit_re_creation_carries_what_was_spent(private_redis, tmp_path):
    server = private_redis()
    target = redis_target(server.url, "ns")
    here, elsewhere = BudgetNotes(tmp_path / "here"), BudgetNotes(tmp_path / "elsewhere")
    asyncio.run(open_and_spend(target, here, 0.25))
    asyncio.run(open_and_spend(target, elsewhere, 0.25))
    server.kill()
    server.start()

    async def recreate() -> None:
        client = connect(target)
        try:
            await recreate_budget(client, target, "team", 1.0, 0.5, notes=here)
        finally:
            await client.aclose()

    asyncio.run(recreate())
    # Both machines' workers join the re-created record (an explicit one), and the spend goes on from $0.50.
    assert asyncio.run(open_and_spend(target, here, 0.1)) == pytest.approx(0.6)
    assert asyncio.run(open_and_spend(target, elsewhere, 0.1)) == pytest.approx(0.7)
    state = asyncio.run(state_of(target))
    assert state is not None and state["origin"] == "explicit" and state["spent_usd"] == pytest.approx(0.7)


@pytest.mark.parametrize("how", ["flushdb", "del"])
def test_a_record_that_vanishes_mid_run_stops_the_worker_and_is_not_recreated_by_a_settle(
    shared_redis, private_redis, tmp_path, how
):
    target = shared_redis if how == "del" else redis_target(private_redis().url, "ns")
    notes = BudgetNotes(tmp_path / "cache")

    async def scenario() -> None:
        client = connect(target)
        try:
            budget = RedisBudget(client, target, "team", 1.0, notes=notes, sleep=no_sleep)
            await budget.open()
            await budget.settle(await budget.reserve(0.2), 0.2)
            hold = await budget.reserve(0.3)
            if how == "flushdb":
                await client.flushdb()
            else:
                await client.delete(*budget_keys(target.prefix, "team"))
            await budget.settle(hold, 0.3)  # the answer came back after the record vanished
            assert await client.exists(budget_keys(target.prefix, "team")[0]) == 0
            with pytest.raises(errors.ConfigurationError, match=r"no longer exists.*--recreate-spent 0\.5000$"):
                await budget.reserve(0.1)
        finally:
            await client.aclose()

    asyncio.run(scenario())
    with pytest.raises(errors.ConfigurationError, match="no longer exists"):
        asyncio.run(open_and_spend(target, notes, 0.1))


def test_the_server_settings_that_can_lose_a_budget_are_named_once(private_redis, tmp_path, monkeypatch):
    # Once per server and process: an earlier test's server on a port now reused must not count.
    monkeypatch.setattr(budget_redis, "_WARNED", set())
    volatile = private_redis()
    durable = private_redis(persist=True)
    redis.Redis.from_url(durable.url).config_set("maxmemory-policy", "noeviction")
    evicting = private_redis(persist=True)
    redis.Redis.from_url(evicting.url).config_set("maxmemory-policy", "allkeys-lru")
    warnings = {}
    for label, server in (("volatile", volatile), ("durable", durable), ("evicting", evicting)):
        with capture_logs() as logs:
            asyncio.run(open_and_spend(redis_target(server.url, "ns"), BudgetNotes(tmp_path / label), 0.0))
            asyncio.run(open_and_spend(redis_target(server.url, "ns"), BudgetNotes(tmp_path / label), 0.0))
        warnings[label] = [e["reasons"] for e in logs if e["event"] == "budget.server_may_lose_it"]
    assert len(warnings["volatile"]) == 1 and "keeps nothing on disk" in warnings["volatile"][0]
    assert warnings["durable"] == []
    assert len(warnings["evicting"]) == 1 and "allkeys-lru" in warnings["evicting"][0]


def test_the_ledger_script_re_creates_a_lost_budget_and_set_cap_will_not(private_redis, tmp_path):
    server = private_redis()
    target = redis_target(server.url, "ns")
    cache = tmp_path / "cache"
    asyncio.run(open_and_spend(target, BudgetNotes(cache), 0.3))
    server.kill()
    server.start()
    env = {"HSOPT_REDIS_NAMESPACE": "ns", "HSOPT_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    script = [sys.executable, str(ROOT / "scripts" / "ledger.py"), "--redis-url", server.url, "--budget-name", "team"]

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*script, *flags], env=env, capture_output=True, text=True, timeout=60)

    refused = run("--set-cap", "2")
    assert refused.returncode == 2 and "--recreate-spent 0.3000" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    recreated = run("--set-cap", "2", "--recreate-spent", "0.3", "--json")
    assert recreated.returncode == 0, recreated.stderr
    state = json.loads(recreated.stdout)
    assert (state["max_cost_usd"], state["spent_usd"], state["origin"]) == (2.0, 0.3, "explicit")
    assert asyncio.run(open_and_spend(target, BudgetNotes(cache), 0.1, cap=2.0)) == pytest.approx(0.4)


def test_rerunning_the_same_worker_after_a_restart_spends_nothing(private_redis, tmp_path):
    """The issue's scenario through the runtime every script builds: the same command, run again after the
    server restarted with nothing on disk, must not create a fresh budget and spend the cap again."""
    from gateway.runtime import GatewaySettings, Runtime
    from gateway.testing import ScriptedTransport, chat_response
    from gateway.types import ChatCall, Endpoint

    server = private_redis()
    settings = GatewaySettings(
        cache_dir=tmp_path / "cache",
        max_cost_usd=1.0,
        redis=redis_target(server.url, "ns"),
        budget_name="team",
    )
    endpoint = Endpoint(model="openai/gpt-4o", identity="openai|gpt-4o", api_key="k")
    transport = ScriptedTransport(fallback=lambda c: chat_response("ok", prompt_tokens=20, completion_tokens=10))

    def worker(first: int) -> None:
        with Runtime(settings, transport) as runtime:
            for i in range(first, first + 3):
                runtime.sync.complete(ChatCall(endpoint, [{"role": "user", "content": f"q{i}"}], {"max_tokens": 10}))

    worker(0)
    sent = len(transport.sent)
    server.kill()
    server.start()
    with pytest.raises(errors.ConfigurationError, match=r"no longer exists.*--recreate-spent"):
        worker(10)
    assert len(transport.sent) == sent  # nothing more was sent, so nothing more was spent
