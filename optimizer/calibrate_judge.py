"""Measure the judge against the dataset's human labels: ``python scripts/calibrate_judge.py --dataset D --n 100``.

The judged rows are ones the optimizer would not use with the same seed and split sizes. The
backend is chosen as optimize.py chooses it: the named --judge-model, else the Azure deployment in
the environment, else the embedded simulator.
"""

import argparse
import functools
import json
import logging
import sys
from pathlib import Path
from typing import NoReturn

from evaluation.calibration import calibration_report, calibration_rows, format_report, is_shipped_sample, judge_rows
from evaluation.data import DEFAULT_DATASET, read_rows
from evaluation.engine import Evaluator
from gateway.config import load_env
from gateway.logs import configure_logging
from gateway.runtime import GatewaySettings, Runtime
from gateway.shared.target import add_redis_flag, target_from_flag
from optimizer.answer_limits import JUDGE_MAX_TOKENS, AnswerLimit
from optimizer.backend import open_backend
from optimizer.cli import USER_ERRORS, add_subset_flag, non_negative_float, non_negative_int, positive_int


class _Parser(argparse.ArgumentParser):
    """Reports a bad flag as one ``error:`` line (argparse would print the usage first)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="calibrate_judge.py",
        description="Agreement of the LLM judge with the human labels, on rows the optimizer does not use.",
    )
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="Hugging Face name or JSON/JSONL/CSV/Parquet file")
    p.add_argument("--n", type=positive_int, default=100, help="rows to judge (100); 5 judge calls each")
    p.add_argument(
        "--judge-model",
        help="LiteLLM model of the judge (default: the Azure deployment in the "
        "environment, else the embedded simulator)",
    )
    p.add_argument("--api-base", help="API base URL for the judge model")
    p.add_argument("--price-model", help="model name to price calls with")
    add_subset_flag(p)
    p.add_argument("--seed", type=non_negative_int, default=42, help="the run's seed (42)")
    p.add_argument("--train-size", type=positive_int, default=160, help="the run's train size (160)")
    p.add_argument("--dev-size", type=positive_int, default=40, help="the run's dev size (40)")
    p.add_argument("--test-size", type=non_negative_int, default=100, help="the run's test size (100)")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip malformed dataset rows instead of stopping")
    p.add_argument("--concurrency", type=positive_int, default=16, help="judge calls in flight at once (16)")
    p.add_argument("--cache-dir", type=Path, help="response cache directory (default $HSOPT_CACHE_DIR or .cache/llm)")
    p.add_argument("--sim-latency-ms", type=non_negative_float, help="the simulator's median latency in ms")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    add_redis_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    load_env()
    args = build_parser().parse_args(argv)
    configure_logging(json_lines=False, level=logging.WARNING)
    try:
        loaded = read_rows(
            args.dataset, skip_bad_rows=args.skip_bad_rows, note=functools.partial(print, file=sys.stderr)
        )
        selection = calibration_rows(
            loaded,
            n=args.n,
            seed=args.seed,
            train_size=args.train_size,
            dev_size=args.dev_size,
            test_size=args.test_size,
            subset=args.subset,
        )
        with open_backend(
            args.judge_model, api_base=args.api_base, price_model=args.price_model, sim_latency_ms=args.sim_latency_ms
        ) as backend:
            print(
                f"judging {len(selection.rows)} rows with {backend.judge.model} ({backend.name}), "
                f"{5 * len(selection.rows)} calls",
                file=sys.stderr,
            )
            settings = GatewaySettings(
                concurrency=args.concurrency,
                cache_dir=args.cache_dir,
                seed=args.seed,
                redis=target_from_flag(args.redis_url),
            )
            with Runtime(settings) as runtime:
                judge = AnswerLimit.of(JUDGE_MAX_TOKENS)
                judge_lm = runtime.lm(
                    backend.judge,
                    temperature=0.0,
                    max_tokens=judge.max_tokens,
                    retry_max_tokens=judge.retry_max_tokens,
                )
                # The evaluator only judges here; it never generates, so the judge stands in as task model.
                evaluator = Evaluator(judge_lm, judge_lm)
                with runtime.ledger.phase("calibration"):
                    judged = runtime.loop.run(judge_rows(evaluator, selection.rows))
                ledger = runtime.ledger.as_dict()
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = calibration_report(
        selection.rows,
        judged,
        source=loaded.source,
        selection=selection.description,
        synthetic=is_shipped_sample(loaded),
        judge={"backend": backend.name, "model": backend.judge.model},
    )
    total = ledger["total"]
    report["calls"] = {
        "live": total["live_calls"],
        "cached": total["cached_calls"],
        "cost_usd": total["cost_usd"] if total["cost_known"] else None,
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False, sort_keys=False))
    else:
        print(format_report(report))
        cost = "unknown" if report["calls"]["cost_usd"] is None else f"${report['calls']['cost_usd']:.4f}"
        print(f"\ncalls: {total['live_calls']} live, {total['cached_calls']} cached; cost {cost}")
    return 0
