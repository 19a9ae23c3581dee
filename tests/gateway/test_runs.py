"""One gateway serving several runs: each call in its run's ledger, one budget over them all."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from cache import CachePolicy
from gateway import errors
from gateway.budget import LocalBudget
from gateway.core import Gateway
from gateway.facade import GatewayLoop
from gateway.ledger import Ledger
from gateway.runs import RunLedgers
from gateway.testing import ScriptedTransport, chat_response
from gateway.types import ChatCall, Endpoint

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="test|v1", price_model="gpt-4o")


def call(text: str) -> ChatCall:
    return ChatCall(ENDPOINT, [{"role": "user", "content": text}], {"temperature": 0.0, "max_tokens": 20})


def test_each_runs_calls_land_in_its_own_ledger_and_phase():
    runs = RunLedgers()
    transport = ScriptedTransport(delay_s=0.01)
    gateway = Gateway(transport, policy=CachePolicy.OFF, ledger=runs, concurrency=4)
    loop = GatewayLoop()
    ledgers = {name: Ledger() for name in ("a", "b")}
    try:

        def drive(name: str, count: int) -> None:
            ledger = ledgers[name]
            with runs.run(ledger), ledger.phase(f"phase-{name}"):
                # From this thread, and from tasks it starts on the loop: both carry the run.
                loop.run(gateway.complete(call(f"{name} first")))

                async def many() -> None:
                    await asyncio.gather(*(gateway.complete(call(f"{name} {i}")) for i in range(count)))

                loop.run(many())

        threads = [threading.Thread(target=drive, args=(n, c)) for n, c in (("a", 3), ("b", 7))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        loop.close()
    a, b = ledgers["a"].as_dict(), ledgers["b"].as_dict()
    assert set(a["phases"]) == {"phase-a"} and set(b["phases"]) == {"phase-b"}
    assert a["total"]["live_calls"] == 4 and b["total"]["live_calls"] == 8
    assert runs.unattributed.total().live_calls == 0
    assert runs.total().live_calls == 12 == len(transport.sent)


def test_a_call_outside_any_run_is_unattributed():
    runs = RunLedgers()
    gateway = Gateway(ScriptedTransport(), policy=CachePolicy.OFF, ledger=runs)
    asyncio.run(gateway.complete(call("lost")))
    assert runs.unattributed.total().live_calls == 1 and runs.total().live_calls == 1


def test_the_cap_is_one_for_every_run():
    # Each call costs $0.00013 at GPT-4o prices (40 prompt and 3 completion tokens): the cap has room
    # for 11 of them in all. A cap per run would let each of the two runs pay for 11.
    runs = RunLedgers()
    budget = LocalBudget(0.0015)
    response = chat_response("ok", prompt_tokens=40, completion_tokens=3)
    transport = ScriptedTransport(fallback=lambda c: response)
    gateway = Gateway(transport, policy=CachePolicy.OFF, ledger=runs, budget=budget)
    loop = GatewayLoop()
    outcomes: dict[str, list[str]] = {"a": [], "b": []}

    def drive(name: str) -> None:
        with runs.run(Ledger()):
            for i in range(20):
                try:
                    loop.run(gateway.complete(call(f"{name} {i}")))
                    outcomes[name].append("ok")
                except (errors.BudgetExceeded, errors.RunAborted):
                    outcomes[name].append("stopped")

    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(drive, ["a", "b"]))
    finally:
        loop.close()
    paid = outcomes["a"].count("ok") + outcomes["b"].count("ok")
    assert 0 < paid <= 11
    assert runs.total().cost_usd <= 0.0015
    assert budget.spent_usd == pytest.approx(runs.total().cost_usd)
    assert isinstance(gateway.fatal_error, errors.BudgetExceeded)
