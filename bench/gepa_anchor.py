"""The GEPA anchor: stock ``dspy.GEPA`` with ``num_threads``, as a DSPy user would run it, for our GEPA run to beat.

Same simulator, data splits, seed, budget and request bodies as ``scripts/optimize.py --optimizer
gepa``: one ``dspy.LM`` per role over LiteLLM with DSPy's own cache, each role's ``max_tokens`` as
our run sets it; the metric asks the judge's five attributes one after another (as the seed's
metric did) and returns the same feedback text our feedback metric gives (``optimizer/gepa/
feedback.py``), so GEPA shows the reflection model the same prompts and walks the same path. DSPy
calls that metric a second time per example it reflects on; the anchor counts those calls, whose
five judge requests DSPy's cache answers (our run never makes them).

Run it as its own process (``python -m bench.gepa_anchor ...``); it writes one JSON file of figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TQDM_DISABLE", "1")

import dspy  # noqa: E402  (after the set-up above)

from bench.anchor import add_stock_flags, stock_setup  # noqa: E402  (after the set-up above)
from evaluation.engine import ExampleResult, JudgeScores  # noqa: E402  (after the set-up above)
from evaluation.metric import DEFAULT_WEIGHTS  # noqa: E402  (after the set-up above)
from evaluation.signatures import ATTRIBUTES, RUBRICS, Generator, JudgeSignature, instruction_of  # noqa: E402  (after the set-up above)
from optimizer.gepa.config import REFLECTION_MAX_TOKENS  # noqa: E402  (after the set-up above)
from optimizer.gepa.feedback import example_score, feedback_text  # noqa: E402  (after the set-up above)


class CountingMetric:
    """Five judge calls in a row, the composite and our feedback text; counts the calls for feedback."""

    def __init__(self, judge_lm: dspy.LM) -> None:
        self.judge_lm = judge_lm
        self.judge = dspy.Predict(JudgeSignature)
        self.feedback_calls = 0
        self._lock = threading.Lock()

    def __call__(
        self,
        gold: dspy.Example,
        pred: dspy.Prediction,
        trace: Any = None,
        pred_name: Any = None,
        pred_trace: Any = None,
    ) -> dspy.Prediction:
        if pred_name is not None:
            with self._lock:
                self.feedback_calls += 1
        response = str(pred.response)
        scores, notes = {}, {}
        try:
            with dspy.context(lm=self.judge_lm):
                for attribute in ATTRIBUTES:
                    out = self.judge(prompt=gold.prompt, response=response, rubric=RUBRICS[attribute])
                    scores[attribute] = min(4, max(0, int(out.score)))
                    notes[attribute] = str(out.justification or "")
            result = ExampleResult(
                0, gold.prompt, response, JudgeScores(scores, notes), DEFAULT_WEIGHTS.composite(scores)
            )
        except Exception as exc:  # the judge's answer could not be used: scored 0, as our run scores it for GEPA
            result = ExampleResult(0, gold.prompt, response, None, None, failure=f"judge: {exc}", failure_kind="judge")
        return dspy.Prediction(score=example_score(result), feedback=feedback_text(result, DEFAULT_WEIGHTS))


def run_anchor(args: argparse.Namespace) -> dict[str, Any]:
    """Baseline on dev and test, ``dspy.GEPA`` compile, the winner on test: each with ``num_threads``."""
    dspy.configure_cache(enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=str(args.dspy_cache_dir))
    import litellm  # noqa: F401  (our runs import LiteLLM before their first phase; so does this)

    # LiteLLM, as the seed's anchor (bench/anchor.py): the same request bodies as ours.
    setup = stock_setup(args, args.api_base, engine="litellm", num_retries=3)
    task_lm, judge_lm = setup.lm(setup.limits.generation.max_tokens), setup.lm(setup.limits.judge.max_tokens)
    reflection_lm = setup.lm(REFLECTION_MAX_TOKENS)
    dspy.configure(lm=task_lm)
    train, dev, test = setup.train, setup.dev, setup.test
    metric = CountingMetric(judge_lm)
    walls: dict[str, float] = {}

    def evaluate(phase: str, program: dspy.Module, devset: list[dspy.Example]) -> float:
        started = time.perf_counter()
        evaluator = dspy.Evaluate(
            devset=devset,
            metric=lambda g, p, t=None: metric(g, p).score,
            num_threads=args.threads,
            display_progress=False,
        )
        score = float(evaluator(program).score)
        walls[phase] = walls.get(phase, 0.0) + time.perf_counter() - started
        return score

    baseline = Generator()
    scores = {"baseline_dev": evaluate("baseline_eval", baseline, dev)}
    if test:
        scores["baseline_test"] = evaluate("baseline_eval", baseline, test)
    optimizer = dspy.GEPA(
        metric=metric,
        max_metric_calls=args.max_metric_calls,
        reflection_lm=reflection_lm,
        num_threads=args.threads,
        track_stats=True,
        warn_on_score_mismatch=False,
        seed=args.seed,
    )
    started = time.perf_counter()
    optimized = optimizer.compile(baseline, trainset=train, valset=dev)
    walls["search"] = time.perf_counter() - started
    detail = optimized.detailed_results
    if test:
        scores["optimized_test"] = evaluate("test_eval", optimized, test)
    return {
        "phases_wall_s": round(sum(walls.values()), 3),
        "phases": {name: round(wall, 3) for name, wall in walls.items()},
        "scores": scores,
        "instruction": instruction_of(optimized),
        "candidates": [
            {"instruction": instruction_of(c), "parents": p, "dev_score": round(100 * v, 2), "found_after": n}
            for c, p, v, n in zip(
                detail.candidates,
                detail.parents,
                detail.val_aggregate_scores,
                detail.discovery_eval_counts,
                strict=True,
            )
        ],
        "total_metric_calls": detail.total_metric_calls,
        "feedback_metric_calls": metric.feedback_calls,
        "judge_calls_from_dspy_cache": 5 * metric.feedback_calls,
        "workload": {
            k: getattr(args, k) for k in ("train_size", "dev_size", "test_size", "max_metric_calls", "seed", "threads")
        },
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Stock dspy.GEPA with num_threads on the simulator, timed.")
    add_stock_flags(p, train_size=40, dev_size=20, test_size=20)
    p.add_argument("--max-metric-calls", type=int, default=150)
    p.add_argument("--threads", type=int, default=16, help="num_threads of GEPA and Evaluate (16)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.result.write_text(json.dumps(run_anchor(args), indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
