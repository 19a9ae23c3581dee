"""GEPA as a run's optimizer: DSPy's own ``dspy.GEPA``, built from the run's ``SearchSetup`` (optimizer/search.py).

GEPA reflects on the feedback of a few training examples (minibatches of the train split), proposes
a new instruction with the reflection model, keeps it if it beats its parent on that minibatch, and
then scores it on the dev split (its valset), where it keeps a Pareto front per example. Its
evaluations run on our engine and its reflection in the ``reflect`` phase (``adapter.py``); its
second metric call per example is answered from the first (``feedback.py``).

What GEPA keeps instead of Optuna trials: its candidates, each with its parents and its dev score
per example, and the Pareto front over them, in the run's results (``gepa``). Where a run has an
Optuna storage, the candidates are also written there as the run's study, one completed trial per
candidate (its dev score as the value, its index as the parameter, its parents and Pareto count as
attributes), so optuna-dashboard lists GEPA's runs beside MIPROv2's.
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

import dspy

from evaluation.engine import EvaluationResult
from evaluation.signatures import instruction_of
from optimizer.gepa.adapter import EngineEvaluations, dispatching
from optimizer.gepa.config import GEPAConfig, metric_call_budget
from optimizer.gepa.feedback import FeedbackMetric
from optimizer.search import SearchSetup

# GEPA logs each iteration at INFO; the run draws its own progress and reports the search in its results.
logging.getLogger("dspy.teleprompt.gepa.gepa").setLevel(logging.WARNING)


class GEPASearch:
    """The ``InstructionSearch`` of GEPA."""

    def __init__(self, setup: SearchSetup, config: GEPAConfig, reflection_model: dspy.LM) -> None:
        self.config = config
        self._setup = setup
        self._reflection_model = reflection_model
        self.metric = FeedbackMetric(setup.evaluator.weights)
        self.evaluations: EngineEvaluations | None = None
        self._remembered: list[tuple[str, list[str], concurrent.futures.Future[EvaluationResult]]] = []
        self._detail: Any = None
        self._budget = 0

    def remember(
        self, program: dspy.Module, prompts: list[str], result: concurrent.futures.Future[EvaluationResult]
    ) -> None:
        self._remembered.append((instruction_of(program), list(prompts), result))

    def optimize(self, baseline: dspy.Module, trainset: list[dspy.Example], devset: list[dspy.Example]) -> dspy.Module:
        setup = self._setup
        self._budget = metric_call_budget(self.config, len(devset))
        setup.note(
            f"[search] GEPA: up to {self._budget} metric calls (an example evaluated by a candidate), "
            f"reflecting on minibatches of {self.config.reflection_minibatch_size} training examples"
        )
        evaluations = EngineEvaluations(
            evaluator=setup.evaluator,
            loop=setup.loop,
            ledger=setup.ledger,
            metric=self.metric,
            devset_prompts=[e.prompt for e in devset],
            progress=setup.progress("GEPA metric calls", self._budget),
        )
        for instruction, prompts, future in self._remembered:
            evaluations.remember(instruction, prompts, future)
        self.evaluations = evaluations
        optimizer = dspy.GEPA(
            metric=self.metric,
            **self.config.budget_kwargs(),
            reflection_minibatch_size=self.config.reflection_minibatch_size,
            reflection_lm=self._reflection_model,
            use_merge=self.config.use_merge,
            max_merge_invocations=self.config.max_merge_invocations,
            track_stats=True,
            warn_on_score_mismatch=False,
            seed=self.config.seed,
        )
        with setup.ledger.phase("search"), dispatching(evaluations):
            optimized = optimizer.compile(baseline, trainset=trainset, valset=devset)
        self._detail = optimized.detailed_results
        del optimized.detailed_results  # the results file holds it; the saved program stays DSPy's state
        self._record_study()
        return optimized

    def _record_study(self) -> None:
        """The candidates as the run's study in the Optuna storage, one completed trial each."""
        sink, setup = self._setup.studies, self._setup
        if sink is None:
            return
        from optuna.distributions import IntDistribution, distribution_to_json

        gepa = self.results()["gepa"]
        rows = gepa["candidates"]
        sink.begin(
            setup.study,
            {
                **setup.study_attrs,
                "optimizer": "gepa",
                **gepa["settings"],
                "candidates": [r["instruction"] for r in rows],
            },
        )
        distribution = distribution_to_json(IntDistribution(0, max(0, len(rows) - 1)))
        for row in rows:
            sink.trial(
                setup.study,
                {
                    "number": row["index"],
                    "state": "COMPLETE",
                    "value": row["dev_score"],
                    "params": {"candidate": row["index"]},
                    "distributions": {"candidate": distribution},
                    "user_attrs": {
                        "instruction_index": row["index"],
                        "parents": row["parents"],
                        "pareto_examples": row["pareto_examples"],
                        "discovered_after_metric_calls": row["discovered_after_metric_calls"],
                    },
                    "datetime_start": None,
                    "datetime_complete": None,
                },
            )

    def evaluated(self, program: dspy.Module, prompts: list[str]) -> EvaluationResult | None:
        if self.evaluations is None or prompts != self.evaluations.devset_prompts:
            return None
        return self.evaluations.full_result(instruction_of(program))

    def results(self) -> dict[str, Any]:
        detail = self._detail
        evaluations = self.evaluations
        if detail is None or evaluations is None:
            return {"optimizer": "gepa", "gepa": None, "trials": [], "candidates": []}
        instructions = [instruction_of(program) for program in detail.candidates]
        front: dict[int, int] = {}
        for best in detail.per_val_instance_best_candidates.values():
            for index in sorted(best):
                front[index] = front.get(index, 0) + 1
        rows = []
        for index, text in enumerate(instructions):
            full = evaluations.full_result(text)
            subscores = detail.val_subscores[index]
            rows.append(
                {
                    "index": index,
                    "instruction": text,
                    "parents": [p for p in detail.parents[index] if p is not None],
                    "dev_score": round(100.0 * detail.val_aggregate_scores[index], 2),
                    "dev_examples_scored": len(subscores),
                    "pareto_examples": front.get(index, 0),
                    "discovered_after_metric_calls": detail.discovery_eval_counts[index],
                    "candidate_failures": len(full.candidate_failures) if full is not None else None,
                    "judge_failures": len(full.judge_failures) if full is not None else None,
                }
            )
        return {
            "optimizer": "gepa",
            "gepa": {
                "settings": {
                    **self.config.budget_kwargs(),
                    "metric_call_budget": self._budget,
                    "reflection_minibatch_size": self.config.reflection_minibatch_size,
                    "reflection_max_tokens": self.config.reflection_max_tokens,
                    "use_merge": self.config.use_merge,
                    "seed": self.config.seed,
                },
                "best_index": detail.best_idx,
                "candidates": rows,
                "pareto_front": {
                    str(example): sorted(best)
                    for example, best in sorted(detail.per_val_instance_best_candidates.items())
                },
                "total_metric_calls": detail.total_metric_calls,
                "full_dev_evaluations": detail.num_full_val_evals,
                "reflections": evaluations.reflections,
                "feedback_calls_answered_without_calls": self.metric.answered,
                "judge_calls_saved": 5 * self.metric.answered,
            },
            # The keys every optimizer's results share (report, tracking): candidates, no Optuna trials.
            "trials": [],
            "candidates": instructions,
            "candidate_evaluations": [
                {
                    "index": row["index"],
                    "evaluated": row["dev_examples_scored"] > 0,
                    "score": row["dev_score"],
                    "candidate_failures": row["candidate_failures"],
                    "judge_failures": row["judge_failures"],
                }
                for row in rows
            ],
        }
