"""The money promises, measured: the cap on dense text, attempts in doubt, a lost shared budget, prompt caching.

    python -m bench.money            # prints the figures (about a minute on a loaded 2-core machine)
    python -m bench.money --json     # the same as one JSON object

Nothing here needs a network: calls go to a fake provider that bills every call its worst case
(``gateway.testing.billed_in_full``: the prompt as GPT-4o's tokenizer counts it, every choice as
long as its limit) or to the embedded simulator over loopback; the shared budget runs on the
machine's Redis (127.0.0.1:6379, a namespace of its own, deleted after) and, for the restart, on a
private ``redis-server`` this module starts and kills.

* **overshoot**: 240 calls of 2,000-character Chinese text, code and long URLs (a quarter with
  ``n=3``, a quarter with no ``max_tokens``) under a cap of 30% of what they would cost, at
  concurrency 16 and 64, with the local and the shared budget: spent / cap (goal: at most 1 + 1e-9).
* **in doubt**: the same calls where a third of the attempts time out after the provider may have
  received them: spent (answers + attempts in doubt) / cap, and the money counted in doubt.
* **restart**: a worker spends under a shared budget; the server restarts with nothing on disk;
  the same worker's rerun, and a rerun after another machine's worker created the name afresh,
  must spend nothing until the budget is re-created explicitly with what was spent.
* **prompt caching**: 48 prompts sharing 1,500 tokens of instructions through the simulator at
  concurrency 1 and 16: cached prompt tokens, the ledger's dollars against the same tokens at the
  full price, and whether the answers are the same at both concurrencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import structlog

from cache import CachePolicy
from gateway import errors
from gateway.budget import Budget, LocalBudget
from gateway.budget.notes import BudgetNotes
from gateway.budget.redis import RedisBudget, read_budget, recreate_budget
from gateway.config import simulator_endpoint
from gateway.core import Gateway
from gateway.ledger import Ledger
from gateway.pricing import Price, price_of, usage_tokens
from gateway.retry import RetryPolicy
from gateway.shared import testing as redis_testing
from gateway.shared.conn import connect
from gateway.shared.target import RedisTarget, redis_target
from gateway.testing import ScriptedTransport, billed_in_full, dense_call, worst_case_cost
from gateway.transports.http import OpenAIHTTPTransport
from gateway.types import ChatCall, Endpoint

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="bench|gpt-4o", api_key="k")
PRICE = price_of("gpt-4o") or Price("gpt-4o", 2.5e-06, 1e-05)  # the map lists it; the fallback is for mypy
CALLS = 240
CAP_SHARE = 0.3
ROUNDING = 1e-9


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


class InDoubtProvider:
    """``billed_in_full``, except that every third attempt times out after the provider received it."""

    def __init__(self) -> None:
        self.attempts = 0
        self.billed_usd = 0.0  # what a provider that bills every request it received would charge at most

    async def send(self, call: ChatCall) -> dict[str, Any]:
        self.attempts += 1
        number = self.attempts
        await asyncio.sleep(0.002)
        answer = billed_in_full(call)
        self.billed_usd += PRICE.cost(*usage_tokens(answer)[:2])
        if number % 3 == 0:
            raise errors.RequestTimeout("read timed out (the provider may have answered)")
        return answer


async def _spend(budget: Budget, cap: float, concurrency: int, *, in_doubt: bool = False) -> dict[str, Any]:
    calls = [dense_call(i, ENDPOINT) for i in range(CALLS)]
    ledger = Ledger(max_cost_usd=cap)
    transport: Any = InDoubtProvider() if in_doubt else ScriptedTransport(fallback=billed_in_full, delay_s=0.002)
    gateway = Gateway(
        transport,
        policy=CachePolicy.OFF,
        ledger=ledger,
        budget=budget,
        concurrency=concurrency,
        retry=RetryPolicy(base_s=0.0, max_backoff_s=0.0),
        sleep=_no_wait,
    )
    outcomes = await asyncio.gather(*(gateway.complete(c) for c in calls), return_exceptions=True)
    total = ledger.total()
    return {
        "answered": sum(1 for o in outcomes if not isinstance(o, BaseException)),
        "spent_usd": round(ledger.spent_usd, 6),
        "in_doubt_attempts": total.in_doubt,
        "in_doubt_usd": round(total.in_doubt_usd, 6),
    }


def overshoot(target: RedisTarget | None, concurrency: int, *, in_doubt: bool = False) -> dict[str, Any]:
    """Spend on dense text under a cap of 30% of the uncapped cost; spent / cap from the budget's own total."""
    name = f"dense-{concurrency}{'-doubt' if in_doubt else ''}"  # a budget of its own for each measurement
    cap = round(worst_case_cost([dense_call(i, ENDPOINT) for i in range(CALLS)], PRICE) * CAP_SHARE, 4)

    async def run() -> dict[str, Any]:
        if target is None:
            local = LocalBudget(cap)
            result = await _spend(local, cap, concurrency, in_doubt=in_doubt)
            result["budget_spent_usd"] = local.spent_usd
            return result
        client = connect(target)
        try:
            shared = RedisBudget(client, target, name, cap)
            await shared.open()
            result = await _spend(shared, cap, concurrency, in_doubt=in_doubt)
            state = await read_budget(client, target, name)
            result["budget_spent_usd"] = state["spent_usd"] if state else None
            return result
        finally:
            await client.aclose()

    result = asyncio.run(run())
    spent = result["budget_spent_usd"]
    return {
        "budget": "local" if target is None else "shared",
        "concurrency": concurrency,
        "cap_usd": cap,
        **result,
        "spent_over_cap": round(spent / cap, 6),
        "within_cap": spent <= cap * (1 + ROUNDING),
    }


def restart(workdir: Path) -> dict[str, Any]:
    """A worker spends, the server restarts empty; reruns must spend nothing until an explicit re-creation."""
    server = redis_testing.RedisServer(workdir / "redis").start()
    target = redis_target(server.url, "bench")
    here, elsewhere = BudgetNotes(workdir / "here"), BudgetNotes(workdir / "elsewhere")
    cap = round(worst_case_cost([dense_call(i, ENDPOINT) for i in range(CALLS)], PRICE) * CAP_SHARE, 4)

    async def worker(notes: BudgetNotes, first: int, count: int) -> tuple[float, str]:
        client = connect(target)
        try:
            budget = RedisBudget(client, target, "team", cap, notes=notes)
            try:
                await budget.open()
            except errors.ConfigurationError as exc:
                return 0.0, str(exc)
            ledger = Ledger(max_cost_usd=cap)
            gateway = Gateway(
                ScriptedTransport(fallback=billed_in_full),
                policy=CachePolicy.OFF,
                ledger=ledger,
                budget=budget,
                concurrency=16,
            )
            calls = [dense_call(i, ENDPOINT) for i in range(first, first + count)]
            await asyncio.gather(*(gateway.complete(c) for c in calls), return_exceptions=True)
            budget.close()
            return ledger.spent_usd, ""
        finally:
            await client.aclose()

    async def recreate(spent: float) -> None:
        client = connect(target)
        try:
            await recreate_budget(client, target, "team", cap, spent, notes=here)
        finally:
            await client.aclose()

    try:
        before, _ = asyncio.run(worker(here, 0, 20))
        server.kill()
        server.start()
        rerun, refused = asyncio.run(worker(here, 20, 20))
        fresh, _ = asyncio.run(worker(elsewhere, 40, 4))  # another machine's worker, which never spent
        rerun_after_fresh, refused_after_fresh = asyncio.run(worker(here, 60, 20))
        asyncio.run(recreate(before + fresh))
        after, _ = asyncio.run(worker(here, 80, CALLS - 80))
        total = before + fresh + after
    finally:
        server.stop()
    return {
        "cap_usd": cap,
        "spent_before_restart_usd": round(before, 6),
        "rerun_after_restart_spent_usd": round(rerun, 6),
        "rerun_refused_with": refused,
        "fresh_elsewhere_spent_usd": round(fresh, 6),
        "rerun_after_fresh_spent_usd": round(rerun_after_fresh, 6),
        "rerun_after_fresh_refused_with": refused_after_fresh,
        "after_recreation_spent_usd": round(after, 6),
        "total_spent_usd": round(total, 6),
        "total_over_cap": round(total / cap, 6),
        "no_spend_without_recreation": rerun == 0.0 and rerun_after_fresh == 0.0 and bool(refused),
    }


def prompt_caching() -> dict[str, Any]:
    """Prompts sharing a long prefix through the simulator at concurrency 1 and 16."""
    from simulator import SimConfig, Simulator

    shared = " ".join(f"Rule {i}: answer plainly, cite the step, and keep units." for i in range(110))

    def one(concurrency: int) -> dict[str, Any]:
        with Simulator(SimConfig(latency_ms=20, seed=42)) as sim:
            endpoint = simulator_endpoint(sim.openai_api_base, "bench")
            transport = OpenAIHTTPTransport(max_connections=concurrency)
            ledger = Ledger()
            gateway = Gateway(transport, policy=CachePolicy.OFF, ledger=ledger, concurrency=concurrency)
            calls = [
                ChatCall(
                    endpoint,
                    [{"role": "system", "content": shared}, {"role": "user", "content": f"Question {i}: why?"}],
                    {"max_tokens": 60, "temperature": 0.0},
                )
                for i in range(48)
            ]

            async def run() -> list[Any]:
                try:
                    return list(await asyncio.gather(*(gateway.complete(c) for c in calls)))
                finally:
                    await transport.aclose()

            answers = asyncio.run(run())
        total = ledger.total()
        full = PRICE.cost(total.prompt_tokens, total.completion_tokens)
        return {
            "concurrency": concurrency,
            "prompt_tokens": total.prompt_tokens,
            "cached_prompt_tokens": total.cached_prompt_tokens,
            "cost_usd": round(total.cost_usd, 6),
            "cost_at_full_price_usd": round(full, 6),
            "contents": [a.response["choices"][0]["message"]["content"] for a in answers],
        }

    runs = [one(1), one(16)]
    same = runs[0]["contents"] == runs[1]["contents"]
    for run in runs:
        del run["contents"]
    return {"runs": runs, "same_answers_at_both": same}


def measure() -> dict[str, Any]:
    url = redis_testing.MACHINE_REDIS_URL
    if not redis_testing.ping(url):
        raise SystemExit(f"error: no Redis answers at {url}: start one (redis-server) to measure the shared budget")
    namespace = redis_testing.unique_namespace("money")
    target = redis_target(url, namespace)
    try:
        capped = [overshoot(t, c) for t in (None, target) for c in (16, 64)]
        redis_testing.delete_namespace(url, namespace)
        doubt = [overshoot(t, c, in_doubt=True) for t in (None, target) for c in (16, 64)]
    finally:
        redis_testing.delete_namespace(url, namespace)
    with tempfile.TemporaryDirectory(prefix="bench-money-") as work:
        restarted = restart(Path(work))
    return {"overshoot": capped, "in_doubt": doubt, "restart": restarted, "prompt_caching": prompt_caching()}


def report(figures: dict[str, Any]) -> str:
    lines = ["cap on dense text (240 calls, cap 30% of their cost):"]
    for row in figures["overshoot"] + figures["in_doubt"]:
        doubt = (
            f", in doubt {row['in_doubt_attempts']} (${row['in_doubt_usd']:.4f})" if row["in_doubt_attempts"] else ""
        )
        lines.append(
            f"  {row['budget']:<6} C={row['concurrency']:<3} spent/cap {row['spent_over_cap']:.6f}  "
            f"answered {row['answered']}{doubt}  {'ok' if row['within_cap'] else 'OVER THE CAP'}"
        )
    r = figures["restart"]
    lines += [
        "shared budget after a restart without persistence:",
        (
            f"  spent before ${r['spent_before_restart_usd']:.4f}; rerun spent "
            f"${r['rerun_after_restart_spent_usd']:.4f}, refused: {r['rerun_refused_with'][:90]}..."
        ),
        (
            f"  created afresh elsewhere (${r['fresh_elsewhere_spent_usd']:.4f}); rerun here spent "
            f"${r['rerun_after_fresh_spent_usd']:.4f}"
        ),
        f"  after the explicit re-creation: total ${r['total_spent_usd']:.4f} = {r['total_over_cap']:.6f} x the cap",
    ]
    lines.append("prompt caching (48 prompts sharing ~1,500 tokens, simulator):")
    for run in figures["prompt_caching"]["runs"]:
        lines.append(
            f"  C={run['concurrency']:<3} cached {run['cached_prompt_tokens']}/{run['prompt_tokens']} prompt tokens, "
            f"${run['cost_usd']:.4f} (full price ${run['cost_at_full_price_usd']:.4f})"
        )
    lines.append(f"  same answers at both concurrencies: {figures['prompt_caching']['same_answers_at_both']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.money", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    # The retries of the in-doubt measurement would fill the screen: show warnings and above only.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    figures = measure()
    print(json.dumps(figures, indent=2, sort_keys=True) if args.json else report(figures))
    ok = all(r["within_cap"] for r in figures["overshoot"] + figures["in_doubt"])
    return 0 if ok and figures["restart"]["no_spend_without_recreation"] else 1


if __name__ == "__main__":
    sys.exit(main())
