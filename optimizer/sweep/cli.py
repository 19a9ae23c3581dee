"""Command-line entry of sweeps: ``scripts/sweep.py [--config FILE] [axes] [optimize.py flags]`` and ``report DIR``."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from gateway.config import load_env
from gateway.logs import configure_logging
from gateway.redaction import register_url
from gateway.shared.target import add_redis_flag, check_budget_name, target_from_flag
from optimizer.cli import (
    USER_ERRORS,
    OneLineParser,
    build_parser,
    config_from_args,
    positive_float,
    positive_int,
    quiet_garbage_collector,
)
from optimizer.run import RunConfig, RunError
from optimizer.sweep.grid import (
    AXIS_FLAGS,
    Axis,
    Grid,
    GridError,
    build_grid,
    option_flags,
    parse_shard,
    read_toml,
    split_list,
)
from optimizer.sweep.progress import SweepDisplay
from optimizer.sweep.runner import (
    DEFAULT_PARALLEL,
    SWEEP_FILE,
    SweepError,
    SweepOutcome,
    SweepSettings,
    cell_dir,
    run_sweep,
)
from optimizer.sweep.stats import REPORT_FILE, RESULTS_FILE, write_sweep_results

SWEEP_ERRORS = (GridError, SweepError, *USER_ERRORS)

EPILOG = """Every other flag is optimize.py's (see scripts/optimize.py --help) and is passed to every cell.
Examples:
  scripts/sweep.py --seeds 1,2,3 --subsets middle,high --out sweeps/s3x2
  scripts/sweep.py --config sweep.toml --shard 0/4        # one of four shards (a job array's index)
  scripts/sweep.py report sweeps/s3x2                     # gather sweep_results.json and sweep_report.html
"""


def build_sweep_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="sweep.py",
        description="Run many optimizations (seeds x subsets x models x ...) as one job through one gateway.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # Else "--seed 4" would be read as an abbreviation of "--seeds" instead of reaching optimize.py.
        allow_abbrev=False,
    )
    p.add_argument("--config", type=Path, help="TOML file with [grid], [options] and [sweep] tables")
    axes = p.add_argument_group("axes (comma-separated values; every combination is a cell)")
    for flag, option in AXIS_FLAGS.items():
        example = {"sizes": "160/40/100,80/20/50", "seeds": "1,2,3", "subsets": "middle,high"}.get(flag, "A,B")
        axes.add_argument(f"--{flag}", metavar="LIST", help=f"values of optimize.py's --{option} (e.g. {example})")
    p.add_argument("--out", type=Path, help="sweep directory (default sweeps/<digest of the grid>)")
    p.add_argument(
        "--parallel",
        type=positive_int,
        help=f"cells running at once in this process (default {DEFAULT_PARALLEL}); they share one gateway",
    )
    p.add_argument("--shard", metavar="I/N", help="run only cells I, I+N, I+2N, ... (0 <= I < N), e.g. a job array")
    p.add_argument("--max-cost", type=positive_float, help="stop the whole sweep before it spends more than this (USD)")
    p.add_argument("--dry-run", action="store_true", help="print the estimate of the whole sweep and stop")
    add_redis_flag(p)
    p.add_argument(
        "--budget-name",
        metavar="NAME",
        help="with --redis-url and --max-cost: one cap for every shard (and run) that names this budget",
    )
    p.add_argument(
        "--optuna-storage",
        metavar="URL",
        help="Optuna storage of every cell's trials, one study per cell (default: sqlite file optuna.db in the "
        "sweep directory; any SQLAlchemy URL, e.g. postgresql://user@host/db; 'none' to keep none)",
    )
    p.add_argument(
        "--log-json", action="store_true", help="log JSON lines (each with its cell) instead of console lines"
    )
    p.add_argument("--quiet", action="store_true", help="no progress display (warnings and errors only)")
    p.add_argument(
        "--mlflow",
        action="store_true",
        help="log the sweep to MLflow as one parent run with a nested run per cell (MLFLOW_TRACKING_URI, "
        "MLFLOW_EXPERIMENT_NAME; see optimize.py --mlflow)",
    )
    return p


class _CellFlagsParser(OneLineParser):
    """optimize.py's parser reading a cell's flags: a bad one is a GridError (the sweep names the cell)."""

    def error(self, message: str) -> NoReturn:
        raise GridError(message)


def _grid(args: argparse.Namespace, rest: list[str], toml: dict[str, Any]) -> Grid:
    axes: dict[str, tuple[str, ...]] = {
        key: tuple(str(v) for v in values) for key, values in (toml.get("grid") or {}).items()
    }
    for flag, option in AXIS_FLAGS.items():
        text = getattr(args, flag.replace("-", "_"))
        if text is not None:
            axes[option] = split_list(text, flag=flag)
    source = str(args.config) if args.config else "options"
    options = option_flags(toml.get("options") or {}, source=source) + rest
    return build_grid([Axis(option, values) for option, values in axes.items()], options)


def _cell_configs(grid: Grid, out: Path) -> dict[str, RunConfig]:
    """Each cell's RunConfig, parsed by optimize.py's own parser from the cell's flags."""
    configs = {}
    for cell in grid.cells:
        try:
            args = build_parser(_CellFlagsParser).parse_args([*cell.flags, "--out", str(cell_dir(out, cell))])
        except GridError as exc:
            raise GridError(f"cell {cell.name}: {exc}") from None
        if args.dry_run or args.max_cost is not None or args.mlflow or args.mlflow_traces:
            raise GridError(
                "--dry-run, --max-cost and --mlflow belong to the whole sweep: give them outside [options] "
                "(--mlflow-traces is for single runs)"
            )
        try:
            configs[cell.name] = config_from_args(args)
        except RunError as exc:
            raise GridError(f"cell {cell.name}: {exc}") from None
    return configs


def settings_from_args(argv: list[str]) -> tuple[SweepSettings, argparse.Namespace]:
    """The sweep the command line asks for (GridError/SweepError for a bad one)."""
    parser = build_sweep_parser()
    args, rest = parser.parse_known_args(argv)
    toml = read_toml(args.config) if args.config else {}
    sweep = toml.get("sweep") or {}
    grid = _grid(args, rest, toml)
    out = args.out or (Path(sweep["out"]) if "out" in sweep else Path("sweeps") / grid.digest())
    shard = parse_shard(args.shard) if args.shard else (0, 1)
    parallel = args.parallel or sweep.get("parallel") or DEFAULT_PARALLEL
    max_cost = args.max_cost if args.max_cost is not None else sweep.get("max-cost")
    storage = args.optuna_storage if args.optuna_storage is not None else sweep.get("optuna-storage")
    if storage is not None and not isinstance(storage, str):
        raise GridError(f"[sweep] optuna-storage must be a URL, got {storage!r}")
    register_url(storage)  # its password is never written anywhere
    for name, value in (("parallel", parallel), ("max-cost", max_cost)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise GridError(f"[sweep] {name} must be a positive number, got {value!r}")
    redis_url = args.redis_url if args.redis_url is not None else sweep.get("redis-url")
    budget_name = args.budget_name if args.budget_name is not None else sweep.get("budget-name")
    if budget_name is not None and (redis_url is None or max_cost is None):
        raise GridError("--budget-name names a budget shared on a Redis server: it needs --redis-url and --max-cost")
    redis = target_from_flag(str(redis_url)) if redis_url else None
    configs = {name: replace(config, redis=redis) for name, config in _cell_configs(grid, out).items()}
    settings = SweepSettings(
        out=out,
        grid=grid,
        configs=configs,
        shard=shard,
        parallel=int(parallel),
        max_cost_usd=float(max_cost) if max_cost is not None else None,
        dry_run=args.dry_run,
        optuna_storage=storage,
        redis=redis,
        budget_name=check_budget_name(str(budget_name)) if budget_name is not None else None,
    )
    return settings, args


def format_summary(results: dict[str, Any], out: Path) -> str:
    """The console summary: per group across seeds, middle vs high, cost, outputs."""
    lines = []
    groups = results.get("groups") or []
    if groups:
        lines.append("test improvement across seeds (composite points):")
        for g in groups:
            imp = g.get("test_improvement") or {}
            label = ", ".join(f"{k} {v}" for k, v in (g.get("values") or {}).items()) or "all cells"
            if imp.get("mean") is None:
                lines.append(f"  {label}: no finished cell with a test split")
                continue
            sd = f" ± {imp['sd']:.2f}" if imp.get("sd") is not None else ""
            ci = f", 95% CI [{imp['ci95'][0]:+.2f}, {imp['ci95'][1]:+.2f}]" if imp.get("ci95") else ""
            rate = f"; gate promote {g['promoted']}/{g['gated']}" if g.get("gated") else ""
            winners = g.get("winners") or {}
            same = (
                "; same winner on every seed"
                if winners.get("same")
                else (f"; {winners['distinct']} different winners" if winners.get("distinct", 0) > 1 else "")
            )
            lines.append(f"  {label} (n={imp['n']}): {imp['mean']:+.2f}{sd}{ci}{rate}{same}")
    for comp in results.get("subset_comparison") or []:
        diff = comp["improvement_high_minus_middle"]
        if diff.get("difference") is not None:
            ci = f" [{diff['ci95'][0]:+.2f}, {diff['ci95'][1]:+.2f}]" if diff.get("ci95") else ""
            label = ", ".join(f"{k} {v}" for k, v in comp["values"].items())
            lines.append(
                f"high - middle improvement{' (' + label + ')' if label else ''}: {diff['difference']:+.2f}{ci}"
            )
    total = (results.get("cost") or {}).get("total") or {}
    if total:
        unknown = "" if total.get("cost_known", True) else " + unpriced calls"
        lines.append(
            f"cost: ${total.get('cost_usd', 0):.4f}{unknown} for {total.get('live_calls', 0)} live calls; "
            f"{total.get('cached_calls', 0)} cached"
        )
    status = (results.get("sweep") or {}).get("status") or {}
    lines.append("cells: " + ", ".join(f"{n} {s}" for s, n in sorted(status.items())))
    lines.append(f"outputs: {out / RESULTS_FILE}  (report: {out / REPORT_FILE})")
    return "\n".join(lines)


def report_main(argv: list[str]) -> int:
    parser = OneLineParser(prog="sweep.py report", description="Gather a sweep directory's results and report.")
    parser.add_argument("dir", type=Path, help="the sweep directory (holds sweep.json)")
    args = parser.parse_args(argv)
    import json

    try:
        try:
            data = json.loads((args.dir / SWEEP_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SweepError(f"{args.dir} is not a sweep directory (no {SWEEP_FILE})") from None
        except (OSError, ValueError) as exc:
            raise SweepError(f"cannot read {args.dir / SWEEP_FILE}: {exc}") from None
        grid = Grid.from_dict(data)
        results = write_sweep_results(args.dir, grid)
    except SWEEP_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(results, args.dir))
    return 0


def main(argv: list[str] | None = None) -> int:
    load_env()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        return report_main(argv[1:])
    if argv[:1] == ["run"]:
        argv = argv[1:]
    try:
        settings, args = settings_from_args(argv)
    except SWEEP_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(json_lines=args.log_json, level=logging.INFO if args.log_json else logging.WARNING)
    display = SweepDisplay(enabled=not args.quiet)
    tracker = None
    try:
        if args.mlflow and not settings.dry_run:
            from optimizer.tracking.mlflow import SweepTracker  # MLflow itself is imported by start()

            tracker = SweepTracker(settings.out)
            tracker.start()
        with quiet_garbage_collector():
            outcome = run_sweep(
                settings, display=display, gather=write_sweep_results, observers=[tracker] if tracker else ()
            )
    except SWEEP_ERRORS as exc:
        if tracker is not None:
            tracker.finish(stopped=True)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if tracker is not None:
            tracker.finish(interrupted=True)
        print("interrupted: completed calls are cached; rerun the same command to resume", file=sys.stderr)
        return 130
    code = _finish(settings, outcome)
    logged = tracker.finish(stopped=outcome.fatal is not None) if tracker is not None else None
    if logged is not None and tracker is not None and tracker.store is not None:
        print(f"mlflow: sweep run {logged} at {tracker.store.display_uri}")
    return code


def _finish(settings: SweepSettings, outcome: SweepOutcome) -> int:
    if settings.dry_run:
        if not outcome.estimate:
            print("every cell of this shard has finished: nothing to run")
        return 0
    if outcome.summary is not None:
        print(format_summary(outcome.summary, settings.out))
    failed = outcome.failed
    if outcome.fatal is not None:
        print(f"error: {outcome.fatal}", file=sys.stderr)
    for result in failed:
        print(f"error: cell {result.cell.name} failed: {result.error}", file=sys.stderr)
    if failed or outcome.fatal is not None:
        print("rerun the same command to resume: finished cells are kept, completed calls are cached", file=sys.stderr)
        return 2
    return 0
