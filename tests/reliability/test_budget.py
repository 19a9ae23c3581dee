"""The budget cap: a run given less than its estimate stops before exceeding it, says so, keeps its ledger."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from cache import CachePolicy
from gateway import errors
from gateway.budget import LocalBudget
from gateway.core import Gateway
from gateway.testing import ScriptedTransport, chat_response
from gateway.types import ChatCall, Endpoint
from optimizer.run import run_optimization

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_max_cost_below_the_estimate_stops_before_exceeding_it(harness, tmp_path):
    estimate = run_optimization(replace(harness.SMALL, dry_run=True, cache_dir=tmp_path / "unused")).results["estimate"]
    estimated_usd = sum(row["cost_usd"] for row in estimate)
    cap = round(estimated_usd / 4, 2)
    command = [
        sys.executable,
        str(ROOT / "scripts" / "optimize.py"),
        *harness.SMALL_FLAGS,
        "--quiet",
        "--sim-latency-ms",
        "0",
        "--max-cost",
        str(cap),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "run"),
    ]
    try:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=45)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run hung at the budget cap (${cap}) instead of stopping")
    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: budget reached:"), done.stderr
    assert f"${cap:.4f} cap" in lines[0]
    ledger = json.loads((tmp_path / "run" / "ledger.json").read_text())
    assert ledger["max_cost_usd"] == cap
    assert 0 < ledger["total"]["cost_usd"] <= cap  # stopped before, not after, the cap
    assert ledger["total"]["live_calls"] > 0
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["ledger.json"]  # nothing else, nothing half


def test_a_call_that_cannot_fit_is_refused_even_after_rounding_residue():
    """Reservations add and subtract floats; once nothing is in flight, what is left is rounding dust.

    These four prompt sizes leave about 4e-19 reserved after all four calls settle. A call that does
    not fit under the cap must then raise ``BudgetExceeded``, not wait for a release that never comes.
    """
    sizes = [2095, 1991, 1659, 1243]

    async def scenario() -> None:
        budget = LocalBudget(max_cost_usd=0.05)
        transport = ScriptedTransport(
            delay_s=0.01, fallback=lambda c: chat_response("ok", prompt_tokens=10, completion_tokens=5)
        )
        gateway = Gateway(transport, policy=CachePolicy.OFF, budget=budget)
        endpoint = Endpoint(model="openai/gpt-4o", identity="test", price_model="gpt-4o")
        small = [ChatCall(endpoint, [{"role": "user", "content": "x" * n}], {"max_tokens": 256}) for n in sizes]
        await asyncio.gather(*(gateway.complete(call) for call in small))
        too_big = ChatCall(endpoint, [{"role": "user", "content": "y"}], {"max_tokens": 10_000})
        try:
            await asyncio.wait_for(gateway.complete(too_big), timeout=5)
        except errors.BudgetExceeded:
            return
        except TimeoutError:
            pytest.fail(f"the call waited for a release that never comes ({budget.reserved_usd!r} left reserved)")
        pytest.fail("a call over the cap was answered")

    asyncio.run(scenario())


# -- pricing an Azure deployment ---------------------------------------------------------------------
SERVED_PRICE = "azure/gpt-4o-2024-08-06"  # what the simulator's Azure route names, as Azure does


@pytest.fixture
def azure_sim(monkeypatch, tmp_path):
    """The simulator's Azure route, configured from the environment as a user would."""
    from simulator import SimConfig, Simulator

    monkeypatch.chdir(tmp_path)
    with Simulator(SimConfig(latency_ms=0.0)) as sim:
        monkeypatch.setenv("AZURE_API_KEY", "azure-key-for-the-simulator")
        monkeypatch.setenv("AZURE_API_BASE", sim.base_url)
        monkeypatch.setenv("AZURE_API_VERSION", "2024-10-21")
        yield sim


def azure_flags(harness, tmp_path: Path, *extra: str) -> list[str]:
    # The deployment is called gpt-4o, as many are: its name must not be taken for the model's.
    cache, out = str(tmp_path / "cache"), str(tmp_path / "run")
    return [*harness.SMALL_FLAGS, "--model", "azure/gpt-4o", "--quiet", "--cache-dir", cache, "--out", out, *extra]


def test_max_cost_refuses_to_start_until_the_deployment_has_a_price(harness, azure_sim, tmp_path, capsys):
    from optimizer.cli import main

    status = main(azure_flags(harness, tmp_path, "--max-cost", "5"))
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and "--price-model" in lines[0] and "azure/gpt-4o" in lines[0], err
    assert not out.strip()
    assert azure_sim.stats()["requests"] == 0  # nothing was spent
    assert not (tmp_path / "run").exists() or list((tmp_path / "run").iterdir()) == []


def test_the_estimate_does_not_price_a_deployment_by_its_name(harness, azure_sim, tmp_path, monkeypatch):
    config = replace(
        harness.SMALL, model="azure/gpt-4o", sim_latency_ms=None, dry_run=True, cache_dir=tmp_path / "cache"
    )
    rows = run_optimization(config).results["estimate"]
    assert [row["cost_usd"] for row in rows if row["calls"]] == [None] * 5  # final_eval makes no call
    priced = run_optimization(replace(config, price_model="gpt-4o")).results["estimate"]
    assert all(row["cost_usd"] is not None for row in priced if row["calls"])
    assert azure_sim.stats()["requests"] == 0


def test_a_deployment_is_priced_from_its_answers_and_a_later_capped_run_starts(harness, azure_sim, tmp_path, capsys):
    from gateway.pricing import price_of
    from optimizer.cli import main

    # Without a cap the run goes ahead and learns the served model from the first answer.
    assert main(azure_flags(harness, tmp_path)) == 0, capsys.readouterr().err
    capsys.readouterr()
    ledger = json.loads((tmp_path / "run" / "ledger.json").read_text())
    total = ledger["total"]
    assert total["cost_known"] is True and total["live_calls"] > 0
    price = price_of(SERVED_PRICE)
    assert price is not None
    assert total["cost_usd"] == pytest.approx(price.cost(total["prompt_tokens"], total["completion_tokens"]), abs=1e-5)
    results = json.loads((tmp_path / "run" / "optimization_results.json").read_text())
    assert results["models"]["priced_as"] == {"task": SERVED_PRICE, "prompt": SERVED_PRICE, "judge": SERVED_PRICE}
    # A later capped run on the same cache knows the price before its first call, and keeps to the cap.
    requests_before = azure_sim.stats()["requests"]
    cap = round(total["cost_usd"] / 4, 2)
    status = main(azure_flags(harness, tmp_path, "--refresh", "--max-cost", str(cap)))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and lines == [lines[0]] and lines[0].startswith("error: budget reached:"), err
    capped = json.loads((tmp_path / "run" / "ledger.json").read_text())["total"]
    assert 0 < capped["cost_usd"] <= cap and capped["live_calls"] > 0
    assert azure_sim.stats()["requests"] - requests_before == capped["requests"]


def test_a_worker_with_an_empty_disk_finds_the_price_in_the_shared_cache(
    harness, azure_sim, tmp_path, capsys, shared_redis, monkeypatch
):
    from optimizer.cli import main

    monkeypatch.setenv("HSOPT_REDIS_NAMESPACE", shared_redis.namespace)
    shared = ["--redis-url", shared_redis.url]
    first = tmp_path / "first"
    assert main([*azure_flags(harness, first), *shared]) == 0, capsys.readouterr().err
    capsys.readouterr()
    # Another machine: nothing on its disk, the served model noted only on the server.
    second = tmp_path / "second"
    status = main([*azure_flags(harness, second), *shared, "--max-cost", "5"])
    err = capsys.readouterr().err
    assert status == 0, err
    ledger = json.loads((second / "run" / "ledger.json").read_text())["total"]
    assert ledger["live_calls"] == 0 and ledger["cached_calls"] > 0  # every answer came from the server
    # Without the server the same worker would not know the price: it refuses before any call.
    status = main([*azure_flags(harness, tmp_path / "third"), "--max-cost", "5"])
    assert status == 2 and "--price-model" in capsys.readouterr().err


def test_a_capped_sweep_finds_the_price_in_the_shared_cache(
    harness, azure_sim, tmp_path, capsys, shared_redis, monkeypatch
):
    from optimizer.cli import main
    from optimizer.sweep.cli import main as sweep_main

    monkeypatch.setenv("HSOPT_REDIS_NAMESPACE", shared_redis.namespace)
    shared = ["--redis-url", shared_redis.url]
    assert main([*azure_flags(harness, tmp_path / "first"), *shared]) == 0, capsys.readouterr().err
    capsys.readouterr()
    grid = ["--seeds", "42", *harness.SMALL_FLAGS, "--model", "azure/gpt-4o", "--quiet", "--max-cost", "5"]
    sweep = [*grid, "--out", str(tmp_path / "sweep"), "--cache-dir", str(tmp_path / "sweep-cache")]
    assert sweep_main([*sweep, *shared]) == 0, capsys.readouterr().err
    capsys.readouterr()
    # Without the server the sweep cannot price the deployment and stops before any call.
    alone = [*grid, "--out", str(tmp_path / "alone"), "--cache-dir", str(tmp_path / "alone-cache")]
    assert sweep_main(alone) == 2 and "--price-model" in capsys.readouterr().err
