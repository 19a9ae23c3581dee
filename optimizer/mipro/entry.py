"""MIPROv2 as a run's optimizer: ``PhasedMIPROv2`` built from the run's ``SearchSetup`` (optimizer/search.py).

It adds MIPROv2's settings to the study's attributes, says what bootstrap and proposal are doing,
and reports its trials and candidate instructions in the run's results.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import dspy

from evaluation.engine import EvaluationResult
from optimizer.mipro.phased import PhasedMIPROv2, SearchConfig
from optimizer.search import SearchSetup


class MIPROv2Search:
    """The ``InstructionSearch`` of MIPROv2."""

    def __init__(self, setup: SearchSetup, config: SearchConfig) -> None:
        self.config = config
        self._note = setup.note
        self.optimizer = PhasedMIPROv2(
            evaluator=setup.evaluator,
            loop=setup.loop,
            ledger=setup.ledger,
            config=config,
            prompt_model=setup.prompt_model,
            task_model=setup.task_model,
            progress=setup.progress,
            stop_reason=setup.stop_reason,
            studies=setup.studies,
            study=setup.study,
            study_attrs={
                **setup.study_attrs,
                "num_candidates": config.num_candidates,
                "num_trials": config.num_trials,
                "minibatch": config.minibatch,
            },
        )

    def remember(
        self, program: dspy.Module, prompts: list[str], result: concurrent.futures.Future[EvaluationResult]
    ) -> None:
        self.optimizer.remember(program, prompts, result)

    def optimize(self, baseline: dspy.Module, trainset: list[dspy.Example], devset: list[dspy.Example]) -> dspy.Module:
        self._note(
            "[bootstrap/propose] MIPROv2 is bootstrapping proposer context and proposing "
            f"{self.config.num_candidates} instructions"
        )
        return self.optimizer.optimize(baseline, trainset, devset)

    def evaluated(self, program: dspy.Module, prompts: list[str]) -> EvaluationResult | None:
        return self.optimizer.evaluated(program, prompts)

    def results(self) -> dict[str, Any]:
        optimizer = self.optimizer
        candidates = optimizer.log.candidates
        index = {text: i for i, text in enumerate(candidates)}
        return {
            "trials": [
                {
                    "trial": t.trial,
                    "instruction_index": index.get(t.instruction),
                    "score": t.score,
                    "full_eval": t.full_eval,
                    "examples": t.examples,
                    "failures": t.candidate_failures + t.judge_failures,
                    "candidate_failures": t.candidate_failures,
                    "judge_failures": t.judge_failures,
                    "reused": t.reused,
                    "prefetched": t.prefetched,
                }
                for t in optimizer.log.trials
            ],
            "candidates": candidates,
            "candidate_evaluations": _candidate_evaluations(candidates, optimizer),
        }


def _candidate_evaluations(candidates: list[str], optimizer: PhasedMIPROv2) -> list[dict[str, Any]]:
    """Per candidate instruction, its dev score and failures of each kind, from its full-evaluation trial."""
    rows = []
    for index, text in enumerate(candidates):
        full = [t for t in optimizer.log.trials if t.instruction == text and t.full_eval]
        first = full[0] if full else None  # repeats reuse the first evaluation: the same numbers
        rows.append(
            {
                "index": index,
                "evaluated": first is not None,
                "score": first.score if first else None,
                "candidate_failures": first.candidate_failures if first else None,
                "judge_failures": first.judge_failures if first else None,
            }
        )
    return rows
