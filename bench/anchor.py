"""The anchor: the seed project's setup re-created with stock DSPy, for the benchmarks to beat.

What the seed did, and what this module does on the same simulator and the same data splits:

* one ``dspy.LM("openai/gpt-4o", ...)`` per role over LiteLLM with DSPy's own cache (memory and disk,
  the disk part in a directory of our choosing) and DSPy's own retries;
* the generator is ``dspy.Predict(HelpSteer2Signature)``; the metric runs ``dspy.Predict(JudgeSignature)``
  five times, one attribute after another, and combines the scores with the composite weights;
* stock ``MIPROv2`` (auto=None, 6 candidates, 10 trials, zero-shot, seed 42, no minibatch) whose
  internal ``Evaluate`` and our own dev/test evaluations use ``num_threads=2``.

The only addition is timing: the three MIPROv2 steps are wrapped to record their wall time and the
server requests they caused, so the figures line up with our ledger's phases. Run it as its own
process (``python -m bench.anchor ...``); it writes one JSON file with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TQDM_DISABLE", "1")

import dspy  # noqa: E402  (after the set-up above)
from dspy.teleprompt import MIPROv2  # noqa: E402  (after the set-up above)

from evaluation.data import load_rows, prepare_splits  # noqa: E402  (after the set-up above)
from evaluation.metric import DEFAULT_WEIGHTS  # noqa: E402  (after the set-up above)
from evaluation.signatures import ATTRIBUTES, RUBRICS, Generator, JudgeSignature, instruction_of  # noqa: E402  (after the set-up above)
from optimizer.answer_limits import AnswerLimits, answer_limits  # noqa: E402  (after the set-up above)

SIM_KEY = "sim-local-key"


class PhaseClock:
    """Wall time and server requests per phase; ``requests`` reads the simulator's counter."""

    def __init__(self, requests: Callable[[], int]) -> None:
        self._requests = requests
        self.phases: dict[str, dict[str, float]] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        before, started = self._requests(), time.perf_counter()
        try:
            yield
        finally:
            entry = self.phases.setdefault(name, {"wall_s": 0.0, "server_requests": 0})
            entry["wall_s"] += time.perf_counter() - started
            entry["server_requests"] += self._requests() - before


class TimedMIPROv2(MIPROv2):
    """Stock MIPROv2; its three steps only report their wall time to a ``PhaseClock``."""

    clock: PhaseClock

    def _bootstrap_fewshot_examples(self, *args: Any, **kwargs: Any) -> Any:
        with self.clock.phase("bootstrap"):
            return super()._bootstrap_fewshot_examples(*args, **kwargs)

    def _propose_instructions(self, *args: Any, **kwargs: Any) -> Any:
        with self.clock.phase("propose"):
            return super()._propose_instructions(*args, **kwargs)

    def _optimize_prompt_parameters(self, *args: Any, **kwargs: Any) -> Any:
        with self.clock.phase("search"):
            return super()._optimize_prompt_parameters(*args, **kwargs)


def make_metric(judge_lm: dspy.LM) -> Callable[..., float]:
    """The seed's metric: five judge calls in a row, then the weighted composite."""
    judge = dspy.Predict(JudgeSignature)

    def helpsteer_metric(example: dspy.Example, prediction: dspy.Prediction, trace: Any = None) -> float:
        scores = {}
        with dspy.context(lm=judge_lm):
            for attribute in ATTRIBUTES:
                out = judge(prompt=example.prompt, response=str(prediction.response), rubric=RUBRICS[attribute])
                scores[attribute] = min(4, max(0, int(out.score)))
        return DEFAULT_WEIGHTS.composite(scores)

    return helpsteer_metric


def _examples(rows: list[Any]) -> list[dspy.Example]:
    return [dspy.Example(prompt=r.prompt, response=r.response).with_inputs("prompt") for r in rows]


@dataclass(frozen=True)
class StockSetup:
    """What a stock-DSPy anchor starts from: the run's splits as DSPy examples, each role's answer limits
    as our run sets them (optimizer/run.py, so that both send the same bodies) and ``lm``, one role's
    ``dspy.LM`` over LiteLLM with DSPy's own cache and retries."""

    train: list[dspy.Example]
    dev: list[dspy.Example]
    test: list[dspy.Example]
    limits: AnswerLimits
    lm: Callable[[int], dspy.LM]  # called with the role's max_tokens


def stock_setup(args: argparse.Namespace, api_base: str, *, engine: str, num_retries: int) -> StockSetup:
    """The splits of ``args.dataset`` for ``args``' seed and sizes, their answer limits, and the LM factory."""

    def lm(max_tokens: int) -> dspy.LM:
        return dspy.LM(
            "openai/gpt-4o",
            api_base=api_base,
            api_key=SIM_KEY,
            cache=True,
            engine=engine,
            num_retries=num_retries,
            temperature=0.0,
            max_tokens=max_tokens,
        )

    loaded = load_rows(args.dataset)
    splits = prepare_splits(
        loaded, seed=args.seed, train_size=args.train_size, dev_size=args.dev_size, test_size=args.test_size
    )
    # Stock DSPy does not ask a cut answer again, as our run does: those few requests are ours alone.
    limits = answer_limits(splits.train)
    return StockSetup(_examples(splits.train), _examples(splits.dev), _examples(splits.test), limits, lm)


def add_stock_flags(p: argparse.ArgumentParser, *, train_size: int, dev_size: int, test_size: int) -> None:
    """The flags both anchors take: the simulator, DSPy's cache, the result file, the data and the seed."""
    p.add_argument("--api-base", required=True, help="OpenAI-style base URL of a running simulator (…/v1)")
    p.add_argument("--dspy-cache-dir", type=Path, required=True, help="DSPy's disk cache directory")
    p.add_argument("--result", type=Path, required=True, help="where to write the JSON figures")
    p.add_argument("--dataset", default=str(ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl"))
    p.add_argument("--train-size", type=int, default=train_size)
    p.add_argument("--dev-size", type=int, default=dev_size)
    p.add_argument("--test-size", type=int, default=test_size)
    p.add_argument("--seed", type=int, default=42)


def run_anchor(args: argparse.Namespace, api_base: str, requests: Callable[[], int]) -> dict[str, Any]:
    """The seed's whole job: baseline dev score, MIPROv2 compile, optimized dev score, test scores."""
    dspy.configure_cache(enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=str(args.dspy_cache_dir))
    if args.preimport_litellm:
        # Our runs import LiteLLM before their first phase; so does this, so that the phases compare.
        # (Not for a replay: stock DSPy answers from its cache without ever importing LiteLLM.)
        import litellm  # noqa: F401  (imported for its start-up cost alone)

    setup = stock_setup(args, api_base, engine=args.engine, num_retries=args.num_retries)
    limits = setup.limits
    task_lm = setup.lm(limits.generation.max_tokens)
    judge_lm = setup.lm(limits.judge.max_tokens)
    prompt_lm = setup.lm(limits.proposer.max_tokens)
    dspy.configure(lm=task_lm)
    train, dev, test = setup.train, setup.dev, setup.test
    metric = make_metric(judge_lm)
    clock = PhaseClock(requests)

    def evaluate(phase: str, program: dspy.Module, devset: list[dspy.Example]) -> float:
        with clock.phase(phase):
            evaluator = dspy.Evaluate(
                devset=devset, metric=metric, num_threads=args.threads, display_progress=False, display_table=False
            )
            return float(evaluator(program).score)

    baseline = Generator()
    scores = {"baseline_dev": evaluate("baseline_eval", baseline, dev)}
    optimizer = TimedMIPROv2(
        metric=metric,
        prompt_model=prompt_lm,
        task_model=task_lm,
        auto=None,
        num_candidates=args.num_candidates,
        max_bootstrapped_demos=0,
        max_labeled_demos=0,
        num_threads=args.threads,
        seed=args.seed,
        verbose=False,
    )
    optimizer.clock = clock
    optimized = optimizer.compile(
        baseline, trainset=train, valset=dev, num_trials=args.num_trials, minibatch=False, seed=args.seed
    )
    scores["optimized_dev"] = evaluate("final_eval", optimized, dev)
    if test:
        scores["baseline_test"] = evaluate("test_eval", baseline, test)
        scores["optimized_test"] = evaluate("test_eval", optimized, test)
    return {
        "phases": {
            name: {"wall_s": round(v["wall_s"], 3), "server_requests": int(v["server_requests"])}
            for name, v in clock.phases.items()
        },
        "phases_wall_s": round(sum(v["wall_s"] for v in clock.phases.values()), 3),
        "scores": scores,
        "instruction": instruction_of(optimized),
        "litellm_imported": "litellm" in sys.modules,
        "workload": {
            k: getattr(args, k)
            for k in (
                "train_size",
                "dev_size",
                "test_size",
                "num_candidates",
                "num_trials",
                "seed",
                "threads",
                "engine",
            )
        },
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="The seed's stock-DSPy MIPROv2 setup, timed per phase.")
    add_stock_flags(p, train_size=160, dev_size=40, test_size=100)
    p.add_argument("--num-candidates", type=int, default=6)
    p.add_argument("--num-trials", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="Evaluate's num_threads (the seed used 2)")
    p.add_argument("--num-retries", type=int, default=3)
    p.add_argument("--preimport-litellm", action="store_true", help="import LiteLLM before the first phase")
    p.add_argument(
        "--engine",
        choices=("litellm", "auto"),
        default="litellm",
        help="DSPy's LM backend: LiteLLM, as the seed used (default), or DSPy 3.4's own choice",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from bench.simctl import read_stats

    def requests() -> int:
        return int(read_stats(args.api_base)["requests"])

    result = run_anchor(args, args.api_base, requests)
    args.result.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
