"""The benchmark: the seed's stock-DSPy setup, our optimizer at several concurrencies, replays and rate limits.

Everything runs in one invocation, side by side, against standalone simulator processes, each run
in a child process of its own (separate memory, globals and interpreter lock). Figures are ratios
taken within one invocation, because the machine is shared and absolute times drift. The order puts
the anchor and our C=16 run next to each other, since their ratio is the headline.

``python scripts/bench.py [--quick] [--latency-ms L]`` prints the table and writes ``bench/results.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.bound import anchor_bound, run_bound, search_rounds
from bench.procs import CommandFailed, ProcessFigures, run_measured
from bench.report import format_report, targets
from bench.simctl import ROOT, SimSettings, SimulatorProcess

SAMPLE = ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl"
DEFAULT_LATENCY_MS = 100.0
DEFAULT_LEVELS = (1, 4, 16, 64)


@dataclass(frozen=True)
class Workload:
    """Sizes of one optimization job (the seed's: 160/40/100, 6 candidates, 10 trials, seed 42)."""

    name: str
    train_size: int
    dev_size: int
    test_size: int
    num_candidates: int
    num_trials: int
    seed: int = 42

    def flags(self) -> list[str]:
        """The same flags for ``scripts/optimize.py`` and ``bench/anchor.py``."""
        return [
            "--dataset",
            str(SAMPLE),
            "--train-size",
            str(self.train_size),
            "--dev-size",
            str(self.dev_size),
            "--test-size",
            str(self.test_size),
            "--num-candidates",
            str(self.num_candidates),
            "--num-trials",
            str(self.num_trials),
            "--seed",
            str(self.seed),
        ]


FULL = Workload("full", 160, 40, 100, 6, 10)
QUICK = Workload("quick", 40, 10, 20, 3, 3)


@dataclass(frozen=True)
class BenchConfig:
    workload: Workload
    sim: SimSettings
    levels: tuple[int, ...]
    headline_level: int
    anchor_engine: str
    tpm_limit: int
    ratelimit_s: float
    ratelimit_warmup_s: float
    ratelimit_concurrency: int
    work_dir: Path
    timeout_s: float
    embedded: bool = False


class Bench:
    """Runs the pieces and collects their figures into one JSON-ready dict."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.work = config.work_dir
        self.env = dict(
            os.environ,
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            OPENAI_API_KEY="sim-local-key",
            TQDM_DISABLE="1",
            HSOPT_CACHE_DIR=str(self.work / "default-cache"),
            PYTHONUNBUFFERED="1",
        )

    def _run(self, label: str, cmd: list[str]) -> ProcessFigures:
        print(f"  running {label} …", file=sys.stderr, flush=True)
        figures = run_measured(
            cmd, env=self.env, cwd=ROOT, log_path=self.work / f"{label}.log", timeout_s=self.config.timeout_s
        )
        print(
            f"    {label}: {figures.wall_s:.1f} s, peak RSS {figures.max_rss_mib:.0f} MiB", file=sys.stderr, flush=True
        )
        return figures

    # -- the pieces ------------------------------------------------------------------------------
    def anchor(self, sim: SimulatorProcess, label: str, *, replay: bool = False) -> dict[str, Any]:
        """The seed's setup; with ``replay`` it runs again on the DSPy cache the first run filled."""
        result_path = self.work / f"{label}.json"
        cmd = [
            sys.executable,
            "-m",
            "bench.anchor",
            "--api-base",
            sim.openai_api_base,
            "--dspy-cache-dir",
            str(self.work / "anchor-dspy-cache"),
            "--result",
            str(result_path),
            "--engine",
            self.config.anchor_engine,
            *self.config.workload.flags(),
        ]
        if not replay:
            cmd.append("--preimport-litellm")
        sim.reset()
        figures = self._run(label, cmd)
        stats = sim.stats()
        data: dict[str, Any] = json.loads(result_path.read_text())
        data.update(figures.as_dict())
        data["server"] = _server_figures(stats)
        if not replay:
            mean = data["server"]["mean_latency_s"] or self.config.sim.mean_latency_s
            bound = anchor_bound(data["phases"], mean_latency_s=mean)
            data["mean_latency_s"] = round(mean, 6)
            data["bound_s"] = round(bound, 3)
            data["efficiency"] = round(bound / data["phases_wall_s"], 4) if data["phases_wall_s"] > 0 else None
        return data

    def ours(self, sim: SimulatorProcess | None, concurrency: int, *, replay_of: int | None = None) -> dict[str, Any]:
        """``scripts/optimize.py`` at one concurrency with a fresh cache (or replaying a level's cache).

        Without ``sim`` the run starts its own embedded simulator (the shipped default), whose
        counters this process cannot read; its live calls then come from the ledger alone.
        """
        level = replay_of if replay_of is not None else concurrency
        label = f"ours-c{concurrency}" + ("-replay" if replay_of is not None else "") + ("" if sim else "-embedded")
        out = self.work / label
        if sim is not None:
            backend = ["--model", "openai/gpt-4o", "--api-base", sim.openai_api_base, "--price-model", "gpt-4o"]
        else:
            backend = ["--sim-latency-ms", f"{self.config.sim.latency_ms:g}"]
        cache = self.work / (f"cache-c{level}" + ("" if sim else "-embedded"))
        cmd = [
            sys.executable,
            str(ROOT / "scripts" / "optimize.py"),
            *backend,
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
            "--quiet",
            "--concurrency",
            str(concurrency),
            *self.config.workload.flags(),
        ]
        if replay_of is not None:
            cmd.append("--replay")
        if sim is not None:
            sim.reset()
        figures = self._run(label, cmd)
        stats = sim.stats() if sim is not None else None
        ledger = json.loads((out / "ledger.json").read_text())
        results = json.loads((out / "optimization_results.json").read_text())
        server = (
            _server_figures(stats)
            if stats is not None
            else {
                "requests": ledger["total"]["live_calls"],
                "max_in_flight": None,
                "rate_limited": None,
                "mean_latency_s": None,
            }
        )
        # The latency the run's own requests drew (every run draws the same ones for the same
        # requests); the embedded simulator's counters are out of reach: its nominal mean then.
        mean = server["mean_latency_s"] or self.config.sim.mean_latency_s
        bounds = run_bound(
            ledger,
            num_candidates=self.config.workload.num_candidates,
            mean_latency_s=mean,
            concurrency=concurrency,
            search_rounds=search_rounds(results["trials"]),
        )
        # Phases overlap in our runs: the ledger's total wall is the time any phase was open.
        phases_wall = float(ledger["total"]["wall_s"])
        bound = sum(b.bound_s for b in bounds)
        data: dict[str, Any] = dict(figures.as_dict())
        data.update(
            {
                "concurrency": concurrency,
                "phases": {
                    name: {
                        key: p[key]
                        for key in ("wall_s", "live_calls", "cached_calls", "started_s", "ended_s")
                        if key in p
                    }
                    for name, p in ledger["phases"].items()
                },
                "mean_latency_s": round(mean, 6),
                "phases_wall_s": round(phases_wall, 3),
                "bound": {
                    b.phase: {
                        "critical_s": round(b.critical_s, 3),
                        "throughput_s": round(b.throughput_s, 3),
                        "bound_s": round(b.bound_s, 3),
                    }
                    for b in bounds
                },
                "bound_s": round(bound, 3),
                "efficiency": round(bound / phases_wall, 4) if phases_wall > 0 else None,
                "efficiency_process": round(bound / figures.wall_s, 4) if figures.wall_s > 0 else None,
                "server": server,
                "scores": {
                    "baseline_dev": results["dev"]["baseline"],
                    "optimized_dev": results["dev"]["optimized"],
                    **(
                        {"baseline_test": results["test"]["baseline"], "optimized_test": results["test"]["optimized"]}
                        if results.get("test")
                        else {}
                    ),
                },
                "instruction": results["optimized_signature"]["instructions"],
            }
        )
        return data

    def ratelimit(self, client_limit: bool) -> dict[str, Any]:
        """Load through the gateway against a fresh TPM-limited simulator (its bucket starts full)."""
        config = self.config
        settings = SimSettings(config.sim.latency_ms, config.sim.latency_sigma, tpm=config.tpm_limit)
        label = "ratelimit-" + ("limiter-on" if client_limit else "limiter-off")
        with SimulatorProcess(settings, self.work / f"sim-{label}.log") as sim:
            result_path = self.work / f"{label}.json"
            cmd = [
                sys.executable,
                "-m",
                "bench.ratelimit",
                "--api-base",
                sim.openai_api_base,
                "--tpm",
                str(config.tpm_limit),
                "--concurrency",
                str(config.ratelimit_concurrency),
                "--duration-s",
                str(config.ratelimit_s),
                "--warmup-s",
                str(config.ratelimit_warmup_s),
                "--result",
                str(result_path),
            ]
            if client_limit:
                cmd.append("--client-limit")
            figures = self._run(label, cmd)
        data: dict[str, Any] = json.loads(result_path.read_text())
        data.update(figures.as_dict())
        return data

    # -- the whole bench -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        config = self.config
        headline = config.headline_level
        order = [headline] + [c for c in config.levels if c != headline]
        results: dict[str, Any] = {"ours": {}}
        with SimulatorProcess(config.sim, self.work / "sim-main.log") as sim:
            results["anchor"] = self.anchor(sim, "anchor")
            for level in order:
                results["ours"][str(level)] = self.ours(sim, level)
            results["replay"] = {
                "ours": self.ours(sim, headline, replay_of=headline),
                "anchor": self.anchor(sim, "anchor-replay", replay=True),
            }
        if config.embedded:
            results["ours_embedded"] = self.ours(None, headline)
        results["ratelimit"] = {"limiter_on": self.ratelimit(True), "limiter_off": self.ratelimit(False)}
        return results


def _server_figures(stats: dict[str, Any]) -> dict[str, Any]:
    """What the simulator saw of one run: requests, most in flight, 429s, and the mean latency they drew."""
    requests = int(stats["requests"])
    latency = stats.get("latency_s")
    return {
        "requests": requests,
        "max_in_flight": stats["max_in_flight"],
        "rate_limited": stats["rate_limited"],
        "mean_latency_s": round(float(latency) / requests, 6) if requests and latency else None,
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.py", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small workload (40/10/20, 3 candidates, 3 trials)")
    p.add_argument(
        "--latency-ms",
        type=float,
        default=DEFAULT_LATENCY_MS,
        help=f"the simulator's median latency in ms ({DEFAULT_LATENCY_MS:g})",
    )
    p.add_argument("--latency-sigma", type=float, default=0.5, help="log-normal spread of the latency (0.5)")
    p.add_argument(
        "--levels",
        default=",".join(map(str, DEFAULT_LEVELS)),
        help="our concurrency levels, comma-separated (1,4,16,64)",
    )
    p.add_argument(
        "--anchor-engine",
        choices=("litellm", "auto"),
        default="litellm",
        help="the anchor's DSPy LM backend: LiteLLM as the seed used (default), or DSPy 3.4's choice",
    )
    p.add_argument(
        "--embedded",
        action="store_true",
        help="also run ours at the headline concurrency with the embedded simulator (the shipped default)",
    )
    p.add_argument("--tpm", type=int, default=90_000, help="the simulator's TPM quota in the rate-limit runs")
    p.add_argument("--ratelimit-s", type=float, help="seconds per rate-limit run (60; quick: 25)")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json", help="where the JSON goes")
    p.add_argument("--work-dir", type=Path, help="keep logs, caches and run outputs here (default: a temp dir)")
    p.add_argument("--timeout-s", type=float, default=1800.0, help="limit for any one child process")
    return p


def _levels(args: argparse.Namespace) -> tuple[int, ...]:
    """The concurrency levels from ``--levels``, after checking every flag a user could get wrong."""
    try:
        levels = tuple(sorted({int(x) for x in args.levels.split(",") if x.strip()}))
    except ValueError:
        raise SystemExit(f"bench.py: --levels must be whole numbers, got {args.levels!r}") from None
    if not levels or min(levels) < 1:
        raise SystemExit("bench.py: --levels needs at least one level of 1 or more")
    if args.latency_ms < 0 or args.latency_sigma < 0:
        raise SystemExit("bench.py: latency and its spread must not be negative")
    if args.tpm < 1 or (args.ratelimit_s is not None and args.ratelimit_s <= 0):
        raise SystemExit("bench.py: --tpm and --ratelimit-s must be positive")
    return levels


def config_from_args(args: argparse.Namespace, work_dir: Path) -> BenchConfig:
    levels = _levels(args)
    ratelimit_s = args.ratelimit_s or (25.0 if args.quick else 60.0)
    return BenchConfig(
        workload=QUICK if args.quick else FULL,
        sim=SimSettings(args.latency_ms, args.latency_sigma),
        levels=levels,
        headline_level=16 if 16 in levels else max(levels),
        anchor_engine=args.anchor_engine,
        tpm_limit=args.tpm,
        ratelimit_s=ratelimit_s,
        ratelimit_warmup_s=min(10.0, ratelimit_s / 5),
        ratelimit_concurrency=16,
        work_dir=work_dir,
        timeout_s=args.timeout_s,
        embedded=args.embedded,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _levels(args)  # refuse bad flags before making a working directory
    command = "python scripts/bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="hsopt-bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    config = config_from_args(args, work_dir)
    started = datetime.datetime.now(datetime.UTC)
    print(
        f"benchmark ({config.workload.name} workload, median latency {config.sim.latency_ms:g} ms); logs in {work_dir}",
        file=sys.stderr,
        flush=True,
    )
    try:
        figures = Bench(config).run()
    except CommandFailed as exc:
        print(f"bench.py: {exc}", file=sys.stderr)
        return 1
    finished = datetime.datetime.now(datetime.UTC)
    report = {
        "command": command.strip(),
        "started": started.isoformat(timespec="seconds"),
        "bench_wall_s": round((finished - started).total_seconds(), 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "workload": asdict(config.workload),
        "simulator": {
            "median_latency_ms": config.sim.latency_ms,
            "sigma": config.sim.latency_sigma,
            "mean_latency_ms": round(config.sim.mean_latency_s * 1000, 2),
        },
        "anchor_engine": config.anchor_engine,
        "headline_level": config.headline_level,
        "tpm_limit": config.tpm_limit,
        **figures,
    }
    report["targets"] = targets(report)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(format_report(report))
    print(f"\nresults: {args.results}")
    if args.work_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0
