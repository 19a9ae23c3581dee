"""MIPROv2's bootstrap, proposal and search trials run concurrently yet give what stock DSPy's sequential code gives."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.propose import GroundedProposer
from dspy.teleprompt import mipro_optimizer_v2

from evaluation.data import load_rows, prepare_splits
from evaluation.engine import Evaluator
from evaluation.signatures import Generator
from gateway.config import simulator_endpoint
from gateway.runtime import GatewaySettings, Runtime
from gateway.transports.litellm import LiteLLMTransport
from gateway.types import ChatCall
from optimizer.mipro.concurrent import run_concurrently
from optimizer.mipro.phased import PhasedMIPROv2, SearchConfig
from simulator import SIM_VERSION, SimConfig, Simulator

CONFIG = SearchConfig(num_candidates=4, num_trials=5, seed=7)
SAMPLE = str(Path(__file__).resolve().parents[2] / "evaluation" / "sample" / "helpsteer2_sample.jsonl")


class PhaseWatch:
    """A transport wrapper that records the most calls in flight in each ledger phase."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ledger: Any = None
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.sent: list[tuple[str, str]] = []
        # Generations in flight by their system message (it holds the program's instruction).
        self.programs: Counter[str] = Counter()
        self.most_programs = 0

    async def send(self, call: ChatCall) -> dict[str, Any]:
        phase = self.ledger.current_phase()
        self.in_flight[phase] = self.in_flight.get(phase, 0) + 1
        self.peak[phase] = max(self.peak.get(phase, 0), self.in_flight[phase])
        self.sent.append((phase, repr((call.messages, sorted(call.params.items()), call.rollout_id))))
        program = (
            str(call.messages[0]["content"]) if phase == "search" and call.params.get("max_tokens") == 512 else None
        )
        if program is not None:
            self.programs[program] += 1
            self.most_programs = max(self.most_programs, len(+self.programs))
        try:
            return await self.inner.send(call)
        finally:
            self.in_flight[phase] -= 1
            if program is not None:
                self.programs[program] -= 1


class SequentialStepsMIPROv2(PhasedMIPROv2):
    """Bootstrap, proposal and search trials exactly as stock DSPy runs them, one after another."""

    def _prefetch(self, programs: list[dspy.Module]) -> int:
        return 0

    def _bootstrap_fewshot_examples(self, *args: Any, **kwargs: Any) -> Any:
        with self.ledger.phase("bootstrap"):
            return mipro_optimizer_v2.MIPROv2._bootstrap_fewshot_examples(self, *args, **kwargs)

    proposer_class = GroundedProposer


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
            optimizer = cls(
                evaluator=evaluator,
                loop=rt.loop,
                ledger=rt.ledger,
                config=CONFIG,
                prompt_model=rt.lm(endpoint, temperature=0.0, max_tokens=512),
                task_model=task,
            )
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
    for phase in ("bootstrap", "propose", "search"):
        assert sorted(r for p, r in con_watch.sent if p == phase) == sorted(r for p, r in seq_watch.sent if p == phase)
        assert con_ledger["phases"][phase]["live_calls"] == seq_ledger["phases"][phase]["live_calls"] > 0


def test_bootstrap_sets_and_proposals_overlap(both):
    (_, _, seq_watch, _), (_, _, con_watch, _) = both
    # Stock DSPy: one example (a generation, then its five judges) at a time, one proposal call at a time.
    assert seq_watch.peak["bootstrap"] <= 5 and seq_watch.peak["propose"] == 1
    assert con_watch.peak["bootstrap"] > 5
    assert con_watch.peak["propose"] > 1


def test_search_trials_no_score_can_change_are_evaluated_together(both):
    (seq, _, seq_watch, _), (con, _, con_watch, _) = both
    new = [t for t in con.log.trials if not t.reused]
    assert len(new) >= 3 and all(t.prefetched for t in new)  # every trial here is one of TPE's start-up trials
    assert not any(t.prefetched for t in seq.log.trials)
    assert con.mispredicted == 0  # the study made ahead picks what DSPy's own study picks
    # One program's generations at a time in stock DSPy; several programs' at once here.
    assert seq_watch.most_programs == 1 and con_watch.most_programs >= 2


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
    from optimizer.mipro.concurrent import _OneDraw

    draw = _OneDraw(12345)
    assert draw.randint(0, 10**9) == 12345
    with pytest.raises(RuntimeError, match="twice"):
        draw.randint(0, 10**9)
    with pytest.raises(RuntimeError, match=r"rng\.choice"):
        draw.choice([1, 2])
    random.Random(0)  # the real generator is untouched by the stand-in


def _study(sampler: Any) -> Any:
    """A study as MIPROv2 starts its search: the default program (instruction 0) as a finished trial."""
    import optuna

    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.add_trial(
        optuna.trial.create_trial(
            params={"0_predictor_instruction": 0},
            distributions={"0_predictor_instruction": optuna.distributions.CategoricalDistribution(range(6))},
            value=0.5,
        )
    )
    return study


def _pick(trial: Any, number: int) -> int:
    return int(trial.suggest_categorical("0_predictor_instruction", range(6)))


@pytest.mark.parametrize("seed", [0, 7, 42])
def test_predicted_trials_are_the_ones_the_study_then_picks_whatever_the_scores(seed):
    import optuna

    from optimizer.mipro.concurrent import predict_trials

    predicted = predict_trials(_study(optuna.samplers.TPESampler(seed=seed, multivariate=True)), 12, _pick)
    assert len(predicted) == 9  # TPE's 10 random start-up trials, the default program being the first
    for scores in (random.Random(seed).random, lambda: 0.0):
        study = _study(optuna.samplers.TPESampler(seed=seed, multivariate=True))
        picks: list[int] = []
        study.optimize(lambda trial, picks=picks, scores=scores: picks.append(_pick(trial, 0)) or scores(), n_trials=12)
        assert picks[:9] == predicted


def test_only_samplers_known_to_ignore_scores_are_predicted():
    import optuna

    from optimizer.mipro.concurrent import predict_trials

    assert len(predict_trials(_study(optuna.samplers.RandomSampler(seed=3)), 5, _pick)) == 5
    assert predict_trials(_study(optuna.samplers.TPESampler(seed=3, n_startup_trials=1)), 5, _pick) == []
    assert predict_trials(_study(optuna.samplers.NSGAIISampler(seed=3)), 5, _pick) == []


class WrongGuessMIPROv2(PhasedMIPROv2):
    """Predicts its search from a study seeded differently from DSPy's own."""

    def _stock_study(self) -> Any:
        self._search_args = {**self._search_args, "seed": self._search_args["seed"] + 1}
        try:
            return super()._stock_study()
        finally:
            self._search_args = {**self._search_args, "seed": self._search_args["seed"] - 1}


def test_a_wrong_early_guess_costs_calls_never_results(tmp_path, both):
    (seq, seq_best, _, _), _ = both
    wrong, wrong_best, _, _ = optimize(tmp_path, "wrong-guess", WrongGuessMIPROv2)
    assert wrong.mispredicted > 0
    assert [(t.instruction, t.score) for t in wrong.log.trials] == [(t.instruction, t.score) for t in seq.log.trials]
    assert wrong_best.dump_state() == seq_best.dump_state()
