"""Command-line entry of the main job: flags in, ``run_optimization`` out, one clear line on user errors."""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from cache import CacheError, CachePolicy
from evaluation.data import DEFAULT_DATASET, DEFAULT_SUBSET, SUBSETS, DataError
from evaluation.engine import EvaluationError
from evaluation.stats import GatePolicy
from evaluation.structured import STRUCTURED_MODES
from gateway import errors as gw_errors
from gateway.config import load_env
from gateway.ledger import format_ledger
from gateway.logs import configure_logging
from gateway.redaction import redact_text, register_url
from gateway.retry import RetryPolicy
from gateway.shared.target import add_redis_flag, check_budget_name, target_from_flag
from gateway.transports.http import TRANSPORT_CHOICES
from optimizer.gepa.flags import add_gepa_flags, gepa_config, gepa_flags_given
from optimizer.local_model import gguf_problem
from optimizer.mipro.phased import SearchConfig
from optimizer.progress import Progress
from optimizer.run import RunConfig, RunError, run_optimization
from optimizer.studies import StudyStorageError
from optimizer.tracking.record import TrackingError

USER_ERRORS = (
    CacheError,
    DataError,
    RunError,
    TrackingError,
    EvaluationError,
    gw_errors.PermanentError,
    gw_errors.BudgetExceeded,
    gw_errors.CacheMiss,
    gw_errors.CorruptCacheEntry,
    gw_errors.RunAborted,
    gw_errors.SharedStateUnavailable,
    gw_errors.TransientError,
    gw_errors.Interrupted,
    StudyStorageError,
)


def _number(kind: type, text: str, *, minimum: float, strict: bool) -> Any:
    try:
        value = kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
    if value < minimum or (strict and value == minimum) or value != value:  # value != value: NaN
        bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
        raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
    return value


def positive_int(text: str) -> int:
    return int(_number(int, text, minimum=1, strict=False))


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0."""
    return int(_number(int, text, minimum=0, strict=False))


def positive_float(text: str) -> float:
    return float(_number(float, text, minimum=0, strict=True))


def non_negative_float(text: str) -> float:
    return float(_number(float, text, minimum=0, strict=False))


class OneLineParser(argparse.ArgumentParser):
    """Reports a bad flag as one line (and exit 2), not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def add_subset_flag(parser: argparse.ArgumentParser) -> None:
    """``--subset middle|high``: the helpfulness band the splits are drawn from."""
    parser.add_argument(
        "--subset",
        choices=tuple(SUBSETS),
        default=DEFAULT_SUBSET,
        help="data subset: 'middle' keeps helpfulness 2-3, 'high' keeps helpfulness 4 (middle)",
    )


def build_parser(parser_class: type[argparse.ArgumentParser] = OneLineParser) -> argparse.ArgumentParser:
    """optimize.py's flags (``parser_class``: how a bad one is reported; one line and exit 2 by default)."""
    p = parser_class(
        prog="optimize.py",
        description="Optimize the HelpSteer2 generator's instruction with DSPy MIPROv2 through the caching gateway.",
    )
    p.add_argument("--concurrency", type=positive_int, default=16, help="LLM calls in flight at once (16)")
    p.add_argument(
        "--model",
        help="LiteLLM model for generation (default: the Azure deployment in the "
        "environment, else the embedded simulator); 'simulator' forces the simulator",
    )
    p.add_argument("--prompt-model", help="model that proposes instructions (default: --model)")
    p.add_argument("--judge-model", help="model that judges responses (default: --model)")
    p.add_argument("--api-base", help="API base URL for the models")
    p.add_argument("--price-model", help="model name to price calls with (e.g. gpt-4o for an Azure deployment)")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="Hugging Face name or JSON/JSONL/CSV/Parquet file")
    add_subset_flag(p)
    p.add_argument("--skip-bad-rows", action="store_true", help="skip malformed dataset rows instead of stopping")
    p.add_argument("--seed", type=non_negative_int, default=42, help="seed of every random choice (42)")
    p.add_argument("--train-size", type=positive_int, default=160)
    p.add_argument("--dev-size", type=positive_int, default=40)
    p.add_argument("--test-size", type=non_negative_int, default=100)
    p.add_argument("--num-candidates", type=positive_int, default=6, help="instruction candidates (6)")
    p.add_argument("--num-trials", type=positive_int, default=10, help="Bayesian search trials (10)")
    p.add_argument("--minibatch", action="store_true", help="evaluate trials on minibatches of the dev set")
    p.add_argument("--out", type=Path, help="run directory (default runs/<run-id>/, runs/latest points to it)")
    p.add_argument("--cache-dir", type=Path, help="response cache directory (default $HSOPT_CACHE_DIR or .cache/llm)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--replay", action="store_true", help="answer only from the cache: zero API spend")
    mode.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    mode.add_argument("--refresh", action="store_true", help="ignore cached answers, store fresh ones")
    p.add_argument("--max-cost", type=positive_float, help="stop before spending more than this many USD")
    add_redis_flag(p)
    p.add_argument(
        "--budget-name",
        metavar="NAME",
        help="with --redis-url and --max-cost: one cap shared by every worker that names this budget",
    )
    p.add_argument("--dry-run", action="store_true", help="print the estimate and stop")
    p.add_argument("--rpm", type=positive_float, help="client-side requests-per-minute limit")
    p.add_argument("--tpm", type=positive_float, help="client-side tokens-per-minute limit")
    p.add_argument(
        "--max-wait-s",
        type=non_negative_float,
        default=RetryPolicy().max_wait_s,
        metavar="S",
        help="how long one call keeps retrying while the provider answers 429 or asks to wait "
        f"(Retry-After), in seconds of waiting ({RetryPolicy().max_wait_s:g})",
    )
    p.add_argument("--sim-latency-ms", type=non_negative_float, help="the simulator's median latency in ms")
    p.add_argument(
        "--transport",
        choices=TRANSPORT_CHOICES,
        default="auto",
        help="how calls reach the provider: 'auto' sends OpenAI-compatible and Azure calls straight over "
        "HTTP where that is exactly what LiteLLM would send, the rest through LiteLLM; 'litellm' "
        "sends every call through LiteLLM (auto)",
    )
    p.add_argument(
        "--structured-outputs",
        choices=STRUCTURED_MODES,
        default="auto",
        help="JSON schemas for every role's answers: 'auto' probes each self-hosted endpoint once (--local-model, "
        "or an --api-base that is not OpenAI's or Azure's) and uses them where the server enforces them; "
        "OpenAI, Azure and the simulator keep stock DSPy requests; 'on' for every role; 'off' for none (auto)",
    )
    p.add_argument(
        "--local-model",
        type=Path,
        metavar="PATH.gguf",
        help="serve this GGUF model with llama.cpp's own server on 127.0.0.1 for all three roles, with "
        "--concurrency parallel slots ($0; needs the [local] extra: pip install -e '.[local]')",
    )
    p.add_argument(
        "--gate-min-improvement",
        type=float,
        default=0.0,
        metavar="PP",
        help="release gate: the test improvement's 95%% CI lower bound must exceed this (points, 0)",
    )
    p.add_argument(
        "--gate-max-regression",
        type=non_negative_float,
        default=5.0,
        metavar="PP",
        help="release gate: hold if any attribute clearly regresses by more than this (points, 5)",
    )
    p.add_argument(
        "--mlflow",
        action="store_true",
        help="log the run to MLflow (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME; default: MLflow's local "
        "mlflow.db): params, each trial's score and instruction, results, artifacts; needs the [mlflow] extra",
    )
    p.add_argument(
        "--mlflow-traces",
        action="store_true",
        help="with --mlflow: also a trace of every LM call, with token usage (implies --mlflow)",
    )
    p.add_argument(
        "--optuna-storage",
        metavar="URL",
        help="Optuna storage that keeps the search's trials, one study per run named by its run id "
        "(default: sqlite file optuna.db in the run directory; any SQLAlchemy URL, e.g. "
        "postgresql://user@host/db; 'none' to keep none)",
    )
    add_gepa_flags(p, positive_int)
    p.add_argument("--log-json", action="store_true", help="log JSON lines instead of console lines")
    p.add_argument("--quiet", action="store_true", help="no progress bars or info lines (warnings and errors only)")
    return p


# The flags whose value is the RunConfig field of the same name, unchanged.
SAME_NAMED = (
    "dataset",
    "subset",
    "skip_bad_rows",
    "seed",
    "train_size",
    "dev_size",
    "test_size",
    "model",
    "prompt_model",
    "judge_model",
    "api_base",
    "price_model",
    "concurrency",
    "rpm",
    "tpm",
    "max_wait_s",
    "cache_dir",
    "sim_latency_ms",
    "dry_run",
    "transport",
    "structured_outputs",
    "local_model",
    "optuna_storage",
)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    policy = (
        CachePolicy.REPLAY
        if args.replay
        else CachePolicy.OFF
        if args.no_cache
        else CachePolicy.REFRESH
        if args.refresh
        else CachePolicy.READ_WRITE
    )
    if args.minibatch and args.dev_size < 2:
        raise RunError("--minibatch needs a dev set of at least 2 examples")
    search = SearchConfig(
        num_candidates=max(2, args.num_candidates),
        num_trials=args.num_trials,
        seed=args.seed,
        minibatch=args.minibatch,
        minibatch_size=min(35, max(1, args.dev_size - 1)),
    )
    if args.budget_name is not None and (args.redis_url is None or args.max_cost is None):
        raise RunError("--budget-name names a budget shared on a Redis server: it needs --redis-url and --max-cost")
    if args.num_candidates < 2:
        raise RunError("--num-candidates must be at least 2 (the baseline instruction and one proposal)")
    if args.local_model is not None:
        check_local_model_flags(args)
    for url in (args.optuna_storage, args.api_base):
        register_url(url)  # a database password or a token in an endpoint's URL is never written anywhere
    if args.optimizer != "gepa" and gepa_flags_given(args):
        raise RunError(f"{', '.join(gepa_flags_given(args))} set GEPA's run: add --optimizer gepa")
    return RunConfig(
        **{name: getattr(args, name) for name in SAME_NAMED},
        optimizer=args.optimizer,
        gepa=gepa_config(args, args.seed),
        reflection_model=args.reflection_model,
        search=search,
        max_cost_usd=args.max_cost,
        policy=policy,
        out_dir=args.out,
        redis=target_from_flag(args.redis_url),
        budget_name=check_budget_name(args.budget_name) if args.budget_name is not None else None,
        gate=GatePolicy(min_improvement=args.gate_min_improvement, max_attribute_regression=args.gate_max_regression),
    )


def check_local_model_flags(args: argparse.Namespace) -> None:
    """``--local-model`` serves every role: it names a readable GGUF file and no other model or server."""
    for flag, value in (
        ("--model", args.model),
        ("--prompt-model", args.prompt_model),
        ("--judge-model", args.judge_model),
        ("--api-base", args.api_base),
    ):
        if value is not None:
            raise RunError(f"--local-model serves all three roles: drop {flag}")
    problem = gguf_problem(args.local_model)
    if problem is not None:
        raise RunError(f"--local-model {args.local_model}: {problem}")


def print_summary(results: dict[str, Any], ledger: dict[str, Any], run_dir: Path | None) -> None:
    dev, test = results.get("dev") or {}, results.get("test")
    print()
    print(f"{'':<10}{'baseline':>10}{'optimized':>11}{'change':>9}")
    print(f"{'dev':<10}{dev['baseline']:>10.2f}{dev['optimized']:>11.2f}{dev['improvement']:>+9.2f}")
    if test:
        print(f"{'test':<10}{test['baseline']:>10.2f}{test['optimized']:>11.2f}{test['improvement']:>+9.2f}")
        interval = (test.get("ci95") or {}).get("improvement") or {}
        if interval.get("low") is not None:
            print(
                f"test improvement 95% CI: [{interval['low']:+.2f}, {interval['high']:+.2f}] points "
                f"({interval['n_pairs']} paired examples)"
            )
        gate = test.get("gate")
        if gate:
            print(f"release gate: {gate['verdict'].upper()}")
            for reason in gate["reasons"]:
                print(f"  - {reason}")
    for name, split in (("dev", dev), ("test", test or {})):
        failed = split.get("failed") or {}
        base, opt = failed.get("baseline") or {}, failed.get("optimized") or {}
        if isinstance(base, dict) and isinstance(opt, dict) and any((*base.values(), *opt.values())):
            print(
                f"{name} failures, baseline/optimized: {base.get('candidate', 0)}/{opt.get('candidate', 0)} of the "
                f"program's own output (counted as 0), {base.get('judge', 0)}/{opt.get('judge', 0)} of the judge "
                "(left out)"
            )
    print(f"\nwinning instruction:\n  {results['optimized_signature']['instructions']}\n")
    print(format_ledger(ledger))
    if run_dir is not None:
        print(f"\noutputs: {run_dir}/  (report: {run_dir / 'report.html'})")


# Collect young objects every 10,000 allocations instead of 700, and the older generations (where a
# full pass over every object of DSPy, LiteLLM and the run takes 50-200 ms) almost never in a run.
GC_THRESHOLDS = (10_000, 50, 100)


@contextlib.contextmanager
def quiet_garbage_collector() -> Iterator[None]:
    """Keep the cyclic garbage collector from stalling the gateway loop during a run.

    A collection holds the interpreter lock: while it runs the loop reads no answers and sends no
    requests, and a full one over the objects of a loaded DSPy and LiteLLM stalled every call slot
    for up to 200 ms, several times a run. What exists once the modules are imported lives as long
    as the run, so it is frozen out of collection; the rest is collected less often. Both are
    undone afterwards.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def make_tracker(args: argparse.Namespace) -> Any:
    """The MLflow tracker the flags ask for, or None; one-line TrackingError when MLflow is not installed."""
    if not (args.mlflow or args.mlflow_traces):
        return None
    from optimizer.tracking.mlflow import RunTracker  # MLflow itself is imported only when the run starts

    return RunTracker(traces=args.mlflow_traces)


RESUME_HINT = "completed calls are cached; rerun the same command to resume"


def resume_hint(exc: BaseException) -> str:
    """The hint for a run stopped by the provider (it kept failing past the retry policy): rerun later."""
    cause = exc.cause if isinstance(exc, gw_errors.RunAborted) else exc
    return f" ({RESUME_HINT})" if isinstance(cause, gw_errors.TransientError) else ""


def main(argv: list[str] | None = None) -> int:
    load_env()
    args = build_parser().parse_args(argv)
    configure_logging(json_lines=args.log_json, level=logging.WARNING if args.quiet else logging.INFO)
    tracker = None
    try:
        config = config_from_args(args)
        tracker = make_tracker(args)
        with quiet_garbage_collector():
            outcome = run_optimization(
                config,
                progress=Progress(enabled=not args.quiet),
                on_run_dir=tracker.start if tracker is not None else None,
            )
    except USER_ERRORS as exc:
        if tracker is not None:
            tracker.finish()
        print(f"error: {redact_text(str(exc))}{resume_hint(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if tracker is not None:
            tracker.finish(interrupted=True)
        print(f"interrupted: {RESUME_HINT}", file=sys.stderr)
        return 130
    if config.dry_run:
        return 0
    logged = tracker.finish() if tracker is not None else None
    print_summary(outcome.results, outcome.ledger, outcome.run_dir)
    if logged is not None:
        print(f"mlflow: run {logged} at {tracker.store.display_uri}")
    return 0
