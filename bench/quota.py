"""Quota benchmark: optimizations that share one provider quota, each in a process of its own.

``python -m bench.quota --quota-tpm 1000000`` starts a standalone simulator that enforces a
tokens-per-minute quota (``--latency-ms`` 100 by default) and runs ``scripts/optimize.py`` against it:
alone, then three and then six processes at once with different seeds, each without ``--tpm`` (the
gateway paces itself by the simulator's rate-limit headers) and again with ``--tpm`` set to the whole
quota in every process (``--client-tpm``). Every process gets a fresh cache, so every call is live.
Each seed is also run once against an unlimited simulator: its ``optimized_program.json`` is the
reference that every quota-bound run of that seed must reproduce byte for byte.

Figures per scenario (``quota_figures``), from the simulator's own counters over the span from the
first request it received to the last answer it sent:

* ``useful_per_quota``: prompt plus completion tokens of the answers the runs kept (an answer cut
  at ``max_tokens`` and asked again is not kept) per minute, over the quota;
* ``admitted_per_quota``: what the quota was charged (prompt plus ``max_tokens`` of every admitted
  request) per minute, over the quota; above 1 by at most the bucket the quota starts with;
* ``useful_per_allowed``: the useful tokens over what the quota allowed in the span, its starting
  bucket (``burst_s`` seconds of quota) included: the figure a short span cannot flatter;
* ``share_429``: requests answered 429 over all requests;
* whether every run completed and reproduced its seed's reference program.

The quotas are chosen so that the quota, not this machine's CPU, bounds the runs: a run's CPU time
(``cpu_s``, user plus system of every process) is reported beside the span so that this can be checked.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.simctl import SimSettings, SimulatorProcess  # noqa: E402  (after the path set-up above)

SIM_KEY = "sim-local-key"


@dataclass(frozen=True)
class Scenario:
    """Processes that share the quota at once: their seeds, and the ``--tpm`` each is given (None: none)."""

    name: str
    seeds: tuple[int, ...]
    client_tpm: float | None = None

    @property
    def processes(self) -> int:
        return len(self.seeds)


def scenarios(counts: Sequence[int], quota_tpm: float, *, client_tpm: bool, first_seed: int = 1) -> list[Scenario]:
    """One scenario per process count (seeds ``first_seed``...), without ``--tpm`` and, if asked, with it."""
    found = []
    for count in counts:
        seeds = tuple(range(first_seed, first_seed + count))
        label = "solo" if count == 1 else f"{count} processes"
        found.append(Scenario(f"{label}, no --tpm", seeds))
        if client_tpm:
            found.append(Scenario(f"{label}, --tpm {quota_tpm:g} each", seeds, client_tpm=quota_tpm))
    return found


@dataclass(frozen=True)
class RunResult:
    """One optimization process: its seed, exit status, wall time and whether it reproduced its reference."""

    seed: int
    returncode: int
    wall_s: float
    identical: bool | None  # None: no reference to compare with
    error: str | None = None


def quota_figures(stats: dict[str, Any], quota_tpm: float, burst_s: float = 10.0) -> dict[str, Any]:
    """The quota figures of one scenario from the simulator's counters (``GET /_sim/stats`` after it)."""
    requests = int(stats["requests"])
    limited = int(stats["statuses"].get("429", 0))
    tokens = stats["tokens"]
    useful = int(tokens["prompt"]) + int(tokens["completion"]) - int(tokens["truncated"])
    span_s = float(stats["span_s"])
    minutes = span_s / 60.0
    per_min = quota_tpm if quota_tpm > 0 else float("nan")
    return {
        "requests": requests,
        "answered_429": limited,
        "share_429": round(limited / requests, 4) if requests else 0.0,
        "span_s": round(span_s, 1),
        "useful_tokens": useful,
        "admitted_tokens": int(tokens["quota"]),
        "truncated_answers": int(stats["truncated"]),
        "useful_per_quota": round(useful / minutes / per_min, 4) if minutes > 0 else None,
        "useful_per_allowed": round(useful / (per_min * (span_s + burst_s) / 60.0), 4) if minutes > 0 else None,
        "admitted_per_quota": round(int(tokens["quota"]) / minutes / per_min, 4) if minutes > 0 else None,
    }


@dataclass
class QuotaBench:
    """Runs the scenarios; ``work`` holds every run's directory, cache and log."""

    quota_tpm: int
    work: Path
    latency_ms: float = 100.0
    latency_sigma: float = 0.5
    burst_s: float = 10.0
    concurrency: int = 16
    workload: tuple[str, ...] = ()
    timeout_s: float = 3600.0
    references: dict[int, bytes] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return dict(os.environ, OPENAI_API_KEY=SIM_KEY, LITELLM_LOCAL_MODEL_COST_MAP="True", TQDM_DISABLE="1")

    def command(self, api_base: str, seed: int, out: Path, client_tpm: float | None) -> list[str]:
        cmd = [
            sys.executable,
            str(ROOT / "scripts" / "optimize.py"),
            "--model",
            "openai/gpt-4o",
            "--api-base",
            api_base,
            "--price-model",
            "gpt-4o",
            "--seed",
            str(seed),
            "--concurrency",
            str(self.concurrency),
            "--out",
            str(out / "run"),
            "--cache-dir",
            str(out / "cache"),
            "--quiet",
            *self.workload,
        ]
        if client_tpm is not None:
            cmd += ["--tpm", f"{client_tpm:g}"]
        return cmd

    def run_processes(
        self, api_base: str, label: str, seeds: Sequence[int], client_tpm: float | None
    ) -> list[RunResult]:
        """Start one optimization per seed at once and wait for them all."""
        procs = []
        for seed in seeds:
            out = self.work / label / f"seed-{seed}"
            out.mkdir(parents=True, exist_ok=True)
            log = (out / "log.txt").open("w")
            started = time.perf_counter()
            proc = subprocess.Popen(
                self.command(api_base, seed, out, client_tpm),
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            procs.append((seed, out, proc, log, started))
        results = []
        for seed, out, proc, log, started in procs:
            try:
                returncode = proc.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                returncode = proc.wait()
            log.close()
            wall = time.perf_counter() - started
            program = out / "run" / "optimized_program.json"
            error = None
            if returncode != 0:
                lines = (out / "log.txt").read_text(errors="replace").strip().splitlines()
                last = lines[-1] if lines else ""
                error = next((line for line in reversed(lines) if line.startswith("error:")), last)
            reference = self.references.get(seed)
            identical = None if reference is None or not program.exists() else program.read_bytes() == reference
            results.append(RunResult(seed, returncode, round(wall, 1), identical, error))
        return results

    def reference_runs(self, seeds: Sequence[int]) -> None:
        """Each seed once against an unlimited simulator (no latency): the programs the quota runs must reproduce."""
        settings = SimSettings(latency_ms=0.0, latency_sigma=0.0)
        with SimulatorProcess(settings, self.work / "sim-reference.log") as sim:
            for seed in seeds:
                if seed in self.references:
                    continue
                (result,) = self.run_processes(sim.openai_api_base, "reference", [seed], None)
                if result.returncode != 0:
                    raise RuntimeError(f"reference run of seed {seed} failed: {result.error}")
                program = self.work / "reference" / f"seed-{seed}" / "run" / "optimized_program.json"
                self.references[seed] = program.read_bytes()

    def scenario(self, scenario: Scenario) -> dict[str, Any]:
        """One scenario against a fresh quota-bound simulator (its bucket starts full)."""
        settings = SimSettings(self.latency_ms, self.latency_sigma, tpm=self.quota_tpm, burst_s=self.burst_s)
        label = scenario.name.replace(" ", "-").replace(",", "").replace("--", "")
        print(f"  {scenario.name} …", file=sys.stderr, flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with SimulatorProcess(settings, self.work / f"sim-{label}.log") as sim:
            results = self.run_processes(sim.openai_api_base, label, scenario.seeds, scenario.client_tpm)
            stats = sim.stats()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        figures = quota_figures(stats, self.quota_tpm, self.burst_s)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        data: dict[str, Any] = {
            "scenario": scenario.name,
            "processes": scenario.processes,
            "client_tpm": scenario.client_tpm,
            **figures,
            "completed": sum(r.returncode == 0 for r in results),
            "identical": sum(bool(r.identical) for r in results),
            "cpu_s": round(cpu, 1),
            "runs": [asdict(r) for r in results],
        }
        print(f"    {format_row(data)}", file=sys.stderr, flush=True)
        return data


def format_row(d: dict[str, Any]) -> str:
    return (
        f"{d['scenario']}: {d['completed']}/{d['processes']} completed, {d['identical']} identical, "
        f"{d['requests']} requests, {d['share_429']:.2%} answered 429, useful {d['useful_per_quota']:.3f} "
        f"({d['useful_per_allowed']:.3f} of what it allowed) and admitted {d['admitted_per_quota']:.3f} of the quota "
        f"over {d['span_s']:.0f} s (CPU {d['cpu_s']:.0f} s)"
    )


def format_table(results: list[dict[str, Any]], quota_tpm: int) -> str:
    lines = [
        f"quota {quota_tpm:,} tokens/min",
        (
            "| scenario | completed | identical to unlimited | requests | answered 429 | useful tokens/min / quota "
            "| useful / allowed | admitted / quota | span s | CPU s |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in results:
        lines.append(
            f"| {d['scenario']} | {d['completed']}/{d['processes']} | {d['identical']}/{d['processes']} "
            f"| {d['requests']:,} | {d['answered_429']} ({d['share_429']:.2%}) | {d['useful_per_quota']:.3f} "
            f"| {d['useful_per_allowed']:.3f} | {d['admitted_per_quota']:.3f} | {d['span_s']:.0f} | {d['cpu_s']:.0f} |"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Optimizations sharing one provider quota, in separate processes.")
    p.add_argument("--quota-tpm", type=int, default=1_000_000, help="the simulator's tokens-per-minute quota")
    p.add_argument("--latency-ms", type=float, default=100.0, help="the simulator's median latency (100)")
    p.add_argument("--burst-s", type=float, default=10.0, help="seconds of quota the simulator's bucket holds (10)")
    p.add_argument("--processes", default="1,3,6", help="process counts, one scenario each (1,3,6)")
    p.add_argument("--client-tpm", action="store_true", help="also run each count with --tpm set to the quota")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "quota", help="run directories and logs")
    p.add_argument("--result", type=Path, help="write the figures as JSON here")
    p.add_argument(
        "workload", nargs=argparse.REMAINDER, help="flags passed to every optimize.py after -- (default: none)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    counts = [int(c) for c in args.processes.split(",") if c.strip()]
    workload = tuple(a for a in args.workload if a != "--")
    bench = QuotaBench(
        args.quota_tpm,
        args.work,
        latency_ms=args.latency_ms,
        burst_s=args.burst_s,
        concurrency=args.concurrency,
        workload=workload,
    )
    args.work.mkdir(parents=True, exist_ok=True)
    plan = scenarios(counts, args.quota_tpm, client_tpm=args.client_tpm)
    print(f"reference runs (unlimited simulator), seeds 1-{max(counts)} …", file=sys.stderr, flush=True)
    bench.reference_runs(range(1, max(counts) + 1))
    results = [bench.scenario(s) for s in plan]
    print(format_table(results, args.quota_tpm))
    if args.result is not None:
        report = {
            "quota_tpm": args.quota_tpm,
            "latency_ms": args.latency_ms,
            "burst_s": args.burst_s,
            "workload": workload,
            "scenarios": results,
        }
        args.result.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
