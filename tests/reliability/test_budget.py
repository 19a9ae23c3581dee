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
