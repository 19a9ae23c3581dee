"""Our adapter in the place where ``dspy.GEPA`` builds its own, and the engine that evaluates for it.

``dspy.GEPA.compile`` imports ``DspyAdapter`` from ``dspy.teleprompt.gepa.gepa_utils`` each time it
runs and builds one with its settings; GEPA's engine draws a tqdm bar. While a run of ours is
compiling (``dispatching``), a stand-in sits in each of those two places of the module globals and
answers for the optimizer of the calling context (``optimizer/swapped_globals.py``, as for MIPROv2:
a sweep's cells each get their own); with no run in the context DSPy's own objects answer. The last
run to finish puts them back.

``EngineAdapter`` is DSPy's adapter with two things changed:

* **evaluations** (GEPA's ``evaluate`` and ``batch_evaluate``: seed, minibatches, children, the
  valset) run on our evaluation engine, every pair of a batch at once, through the gateway, instead
  of DSPy's ``Evaluate`` on ``num_threads`` threads; results come back in batch order, so GEPA sees
  the same numbers at any concurrency;
* **reflection** (``propose_new_texts``, DSPy's own instruction proposer on the reflection model)
  runs in the ledger phase ``reflect``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import dspy
from dspy.teleprompt.gepa import gepa_utils
from gepa.core import engine as gepa_engine
from gepa.core.adapter import EvaluationBatch

from evaluation.engine import EvaluationResult, Evaluator
from gateway.facade import GatewayLoop
from gateway.ledger import Ledger
from optimizer.gepa.feedback import FeedbackMetric, example_score
from optimizer.swapped_globals import SwappedGlobals

REFLECT_PHASE = "reflect"
Batch = EvaluationBatch[dspy.Prediction, dict[str, Any]]  # one per (candidate, batch): outputs, scores, traces


@dataclass
class CandidateLog:
    """What GEPA asked of one instruction: its examples evaluated, and its full dev evaluation if any."""

    instruction: str
    examples: int = 0
    full: EvaluationResult | None = None


@dataclass
class EngineEvaluations:
    """GEPA's evaluations of one run, on the run's engine; what it evaluated, for the results."""

    evaluator: Evaluator
    loop: GatewayLoop
    ledger: Ledger
    metric: FeedbackMetric
    devset_prompts: list[str]
    progress: Callable[[int, int], None] | None = None
    remembered: dict[tuple[str, tuple[str, ...]], concurrent.futures.Future[EvaluationResult]] = field(
        default_factory=dict
    )
    candidates: dict[str, CandidateLog] = field(default_factory=dict)
    reflections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(
        self, instruction: str, prompts: list[str], result: concurrent.futures.Future[EvaluationResult]
    ) -> None:
        self.remembered[(instruction, tuple(prompts))] = result

    async def _one(self, program: dspy.Module, prompts: list[str], window: asyncio.Semaphore) -> EvaluationResult:
        instruction = _instruction(program)
        ready = self.remembered.get((instruction, tuple(prompts)))
        if ready is not None:  # the run evaluates this anyway (the baseline on dev): wait for it
            return await asyncio.wrap_future(ready)
        full = prompts == self.devset_prompts
        # A reflection minibatch of three is too small for the judge-failure share: only full dev
        # evaluations are held to it (the run's own evaluations are, as always).
        evaluator = self.evaluator if full else _without_failure_share(self.evaluator)
        return await evaluator.evaluate(program, prompts, window=window)

    def evaluate(
        self, adapter: EngineAdapter, items: Sequence[tuple[dict[str, str], list[dspy.Example]]], capture_traces: bool
    ) -> list[Batch]:
        """Every (candidate, batch) pair at once on the engine; batches of GEPA's shape, in order."""
        programs = [adapter.build_program(candidate) for candidate, _ in items]

        async def evaluate_all() -> list[EvaluationResult]:
            window = self.evaluator.shared_window()
            return list(
                await asyncio.gather(
                    *(
                        self._one(program, [example.prompt for example in batch], window)
                        for program, (_, batch) in zip(programs, items, strict=True)
                    )
                )
            )

        results = self.loop.run(evaluate_all())
        return [
            self._batch(program, batch, result, capture_traces)
            for program, (_, batch), result in zip(programs, items, results, strict=True)
        ]

    def _batch(
        self, program: dspy.Module, batch: list[dspy.Example], result: EvaluationResult, capture_traces: bool
    ) -> Batch:
        instruction = _instruction(program)
        (predictor,) = program.predictors()
        outputs, scores, trajectories = [], [], []
        for index, (example, judged) in enumerate(zip(batch, result.examples, strict=True)):
            self.metric.record(instruction, judged)
            prediction = dspy.Prediction(response=judged.response or "")
            score = example_score(judged)
            outputs.append(prediction)
            scores.append(score)
            trace = [(predictor, {"prompt": example.prompt}, prediction)]
            trajectories.append(
                {"example_ind": index, "example": example, "prediction": prediction, "trace": trace, "score": score}
            )
        with self._lock:
            log = self.candidates.setdefault(instruction, CandidateLog(instruction))
            log.examples += len(batch)
            if [e.prompt for e in batch] == self.devset_prompts and log.full is None:
                log.full = result
        return Batch(outputs=outputs, scores=scores, trajectories=trajectories if capture_traces else None)

    @contextlib.contextmanager
    def reflecting(self) -> Iterator[None]:
        with self.ledger.phase(REFLECT_PHASE):
            yield
        with self._lock:
            self.reflections += 1

    def full_result(self, instruction: str) -> EvaluationResult | None:
        log = self.candidates.get(instruction)
        return log.full if log is not None else None


class EngineAdapter(gepa_utils.DspyAdapter):  # type: ignore[misc]  # DSPy's class (imported before any swap), untyped
    """DSPy's GEPA adapter, its evaluations on our engine and its reflection in the ``reflect`` phase."""

    def __init__(self, evaluations: EngineEvaluations, **options: Any) -> None:
        super().__init__(**options)
        self._evaluations = evaluations

    def evaluate(
        self,
        batch: list[dspy.Example],
        candidate: dict[str, str],
        capture_traces: bool = False,
        num_threads: Any = None,
    ) -> Batch:
        return self._evaluations.evaluate(self, [(candidate, batch)], capture_traces)[0]

    def batch_evaluate(
        self, items: list[tuple[dict[str, str], list[dspy.Example]]], *, capture_traces: bool = True
    ) -> list[Batch]:
        return self._evaluations.evaluate(self, items, capture_traces)

    def propose_new_texts(
        self,
        candidate: dict[str, str],
        reflective_dataset: dict[str, list[dict[str, Any]]],
        components_to_update: list[str],
    ) -> dict[str, str]:
        with self._evaluations.reflecting():
            texts: dict[str, str] = super().propose_new_texts(candidate, reflective_dataset, components_to_update)
            return texts


def _instruction(program: dspy.Module) -> str:
    (predictor,) = program.predictors()
    text: str = predictor.signature.instructions
    return text


def _without_failure_share(evaluator: Evaluator) -> Evaluator:
    lenient = copy.copy(evaluator)
    lenient.max_failure_share = 1.0
    return lenient


# -- the stand-ins in DSPy's and GEPA's module globals ------------------------------------------------
class _QuietBar:
    """GEPA's progress bar inside a run of ours: the run reports progress to ``EngineEvaluations.progress``."""

    def __init__(self, total: int | None = None, **_: Any) -> None:
        self.total = total or 0
        self.n = 0
        evaluations = _SWAP.current()
        self._report = evaluations.progress if evaluations is not None else None

    def update(self, delta: int) -> None:
        self.n += delta
        if self._report is not None:
            self._report(min(self.n, self.total), self.total)

    def close(self) -> None:
        pass


def _adapter(**options: Any) -> Any:
    evaluations = _SWAP.current()
    if evaluations is None:
        return _SWAP.stock("DspyAdapter")(**options)
    return EngineAdapter(evaluations, **options)


def _tqdm(*args: Any, **kwargs: Any) -> Any:
    if _SWAP.current() is None:
        return _SWAP.stock("tqdm")(*args, **kwargs)
    return _QuietBar(**kwargs)


_SWAP: SwappedGlobals[EngineEvaluations] = SwappedGlobals(
    "gepa_run", ((gepa_utils, "DspyAdapter", _adapter), (gepa_engine, "tqdm", _tqdm))
)


def dispatching(evaluations: EngineEvaluations) -> contextlib.AbstractContextManager[None]:
    """Run the block with ``dspy.GEPA`` building our adapter for ``evaluations`` in this context."""
    return _SWAP.dispatching(evaluations)


__all__ = ["EngineAdapter", "EngineEvaluations", "dispatching"]
