"""What a run needs of an instruction optimizer, whichever one it is.

``optimizer/run.py`` owns what every run needs (data, backend, baseline, held-out test, artifacts); the
optimizer is built from a ``SearchSetup`` and driven through ``InstructionSearch``. MIPROv2 is one
(``optimizer/mipro/entry.py``); another arrives as a sibling package with a class of this shape.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import dspy

from evaluation.engine import EvaluationResult, Evaluator
from gateway.facade import GatewayLoop
from gateway.ledger import Ledger
from optimizer.studies import StudySink

ProgressFactory = Callable[[str, int], Callable[[int, int], None]]  # (label, total) -> (done, total) -> None


@dataclass(frozen=True)
class SearchSetup:
    """What the run hands its optimizer: the engine and models its calls go through, and where it reports."""

    evaluator: Evaluator
    loop: GatewayLoop
    ledger: Ledger
    prompt_model: dspy.LM
    task_model: dspy.LM
    progress: ProgressFactory
    note: Callable[[str], None]  # one line for the user
    stop_reason: Callable[[], BaseException | None]  # the gateway's error that stops the run, if any
    studies: StudySink | None  # where the search's trials are recorded (optimizer/studies.py)
    study: str  # the study's name: the run id
    study_attrs: dict[str, Any] = field(default_factory=dict)  # the run's, on the study; an optimizer adds its own


class InstructionSearch(Protocol):
    """One optimizer's search for the generator's instruction, as a run drives it."""

    def remember(
        self, program: dspy.Module, prompts: list[str], result: concurrent.futures.Future[EvaluationResult]
    ) -> None:
        """Take an evaluation the run makes anyway (the baseline's on dev), done or still running."""
        ...

    def optimize(self, baseline: dspy.Module, trainset: list[dspy.Example], devset: list[dspy.Example]) -> dspy.Module:
        """The optimized program."""
        ...

    def evaluated(self, program: dspy.Module, prompts: list[str]) -> EvaluationResult | None:
        """The search's own evaluation of ``program`` on ``prompts``, if it made one (the winner's dev score)."""
        ...

    def results(self) -> dict[str, Any]:
        """The optimizer's own part of ``optimization_results.json`` (its trials and candidates)."""
        ...
