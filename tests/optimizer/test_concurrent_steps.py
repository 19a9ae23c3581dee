"""MIPROv2's bootstrap and proposal run concurrently yet give what stock DSPy's sequential code gives."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.propose import GroundedProposer
from dspy.teleprompt import mipro_optimizer_v2

from evaluation.data import prepare_splits, load_rows
from evaluation.engine import Evaluator
from evaluation.signatures import Generator
from gateway.config import simulator_endpoint
from gateway.runtime import GatewaySettings, Runtime
from gateway.transport import LiteLLMTransport
from gateway.types import ChatCall
from optimizer.concurrent import run_concurrently
from optimizer.mipro import PhasedMIPROv2, SearchConfig
from simulator import SIM_VERSION, SimConfig, Simulator

CONFIG = SearchConfig(num_candidates=4, num_trials=2, seed=7)
SAMPLE = str(Path(__file__).resolve().parents[2] / "evaluation" / "sample" / "helpsteer2_sample.jsonl")


class PhaseWatch:
    """A transport wrapper that records the most calls in flight in each ledger phase."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ledger: Any = None
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.sent: list[tuple[str, str]] = []

    async def send(self, call: ChatCall) -> dict[str, Any]:
        phase = self.ledger.current_phase()
        self.in_flight[phase] = self.in_flight.get(phase, 0) + 1
        self.peak[phase] = max(self.peak.get(phase, 0), self.in_flight[phase])
        self.sent.append((phase, repr((call.messages, sorted(call.params.items()), call.rollout_id))))
        try:
            return await self.inner.send(call)
        finally:
            self.in_flight[phase] -= 1


class SequentialStepsMIPROv2(PhasedMIPROv2):
    """Bootstrap and proposal exactly as stock DSPy runs them, one after another."""

    def _bootstrap_fewshot_examples(self, *args: Any, **kwargs: Any) -> Any:
        with self.ledger.phase("bootstrap"):
            return mipro_optimizer_v2.MIPROv2._bootstrap_fewshot_examples(self, *args, **kwargs)

    def _propose_instructions(self, *args: Any, **kwargs: Any) -> Any:
        saved = mipro_optimizer_v2.GroundedProposer
        mipro_optimizer_v2.GroundedProposer = GroundedProposer
        try:
            return super()._propose_instructions(*args, **kwargs)
        finally:
            mipro_optimizer_v2.GroundedProposer = saved


def optimize(tmp_path, name: str, cls: type[PhasedMIPROv2]) -> tuple[PhasedMIPROv2, dspy.Module, PhaseWatch, Any]:
    splits = prepare_splits(load_rows(SAMPLE), train_size=24, dev_size=6, test_size=0, seed=7)
    train = [dspy.Example(prompt=r.prompt).with_inputs("prompt") for r in splits.train]
    dev = [dspy.Example(prompt=r.prompt).with_inputs("prompt") for r in splits.dev]
    with Simulator(SimConfig(latency_ms=15.0, latency_sigma=0.0)) as sim:
        endpoint = simulator_endpoint(sim.openai_api_base, SIM_VERSION)
        watch = PhaseWatch(LiteLLMTransport())
        settings = GatewaySettings(concurrency=8, cache_dir=tmp_path / f"cache-{name}")
        with Runtime(settings, transport=watch) as rt:
            watch.ledger = rt.ledger
            task = rt.lm(endpoint, temperature=0.0, max_tokens=512)
            evaluator = Evaluator(task, rt.lm(endpoint, temperature=0.0, max_tokens=256))
            optimizer = cls(evaluator=evaluator, loop=rt.loop, ledger=rt.ledger, config=CONFIG,
                            prompt_model=rt.lm(endpoint, temperature=0.0, max_tokens=512), task_model=task)
            best = optimizer.optimize(Generator(), train, dev)
            return optimizer, best, watch, rt.ledger.as_dict()


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("steps")
    return optimize(tmp, "sequential", SequentialStepsMIPROv2), optimize(tmp, "concurrent", PhasedMIPROv2)


def test_concurrent_steps_propose_the_same_candidates_and_pick_the_same_program(both):
    (seq, seq_best, _, _), (con, con_best, _, _) = both
    assert len(seq.log.candidates) == CONFIG.num_candidates
    assert con.log.candidates == seq.log.candidates
    assert [(t.instruction, t.score) for t in con.log.trials] == [(t.instruction, t.score) for t in seq.log.trials]
    assert con_best.dump_state() == seq_best.dump_state()


def test_concurrent_steps_send_the_same_requests(both):
    (_, _, seq_watch, seq_ledger), (_, _, con_watch, con_ledger) = both
    for phase in ("bootstrap", "propose"):
        assert sorted(r for p, r in con_watch.sent if p == phase) == sorted(r for p, r in seq_watch.sent if p == phase)
        assert con_ledger["phases"][phase]["live_calls"] == seq_ledger["phases"][phase]["live_calls"] > 0


def test_bootstrap_sets_and_proposals_overlap(both):
    (_, _, seq_watch, _), (_, _, con_watch, _) = both
    # Stock DSPy: one example (a generation, then its five judges) at a time, one proposal call at a time.
    assert seq_watch.peak["bootstrap"] <= 5 and seq_watch.peak["propose"] == 1
    assert con_watch.peak["bootstrap"] > 5
    assert con_watch.peak["propose"] > 1


def test_run_concurrently_keeps_order_and_raises_the_first_failure_in_order():
    assert run_concurrently([lambda i=i: i * i for i in range(6)]) == [0, 1, 4, 9, 16, 25]
    finished = []

    def fails(name: str) -> Any:
        def job() -> None:
            finished.append(name)
            raise ValueError(name)
        return job

    with pytest.raises(ValueError, match="first"):
        run_concurrently([lambda: finished.append("ok"), fails("first"), fails("second")])
    assert sorted(finished) == ["first", "ok", "second"]  # every job ran to its end


def test_deferred_proposal_refuses_a_second_draw():
    from optimizer.concurrent import _OneDraw

    draw = _OneDraw(12345)
    assert draw.randint(0, 10**9) == 12345
    with pytest.raises(RuntimeError, match="twice"):
        draw.randint(0, 10**9)
    with pytest.raises(RuntimeError, match="rng.choice"):
        draw.choice([1, 2])
    random.Random(0)  # the real generator is untouched by the stand-in
