"""The sweep benchmark: 3 seeds x 2 subsets as one sweep against the same six runs one after another,
and the same sweep killed half-way and run again.

1. Speed and identity. The six runs of ``scripts/optimize.py`` (the seed's default configuration,
   the embedded simulator) one after another, sharing one fresh cache as a user's six commands
   would, against ``scripts/sweep.py --seeds 1,2,3 --subsets middle,high`` with a fresh cache of its
   own. The machine is shared, so the two are measured back to back, in the order A B B A over two
   rounds, with the load average before each; the figure is the ratio of the summed wall times.
   Every cell's ``optimized_program.json`` and ``evaluations.json`` must be byte-identical to its
   standalone run's, and its results equal but for where it wrote and how many calls it paid.
2. Kill and rerun. Against a standalone simulator that counts every request it answers: the sweep
   once to the end (the clean count), then again on a fresh cache, killed with SIGKILL once the
   simulator has answered half the clean count, and the same command run to the end. It must
   finish; every request beyond the clean count must be one in flight at the kill (at most the
   concurrency), the cache must hold exactly the clean count of answers, and every cell's artifacts
   must be those of the clean sweep.

``python -m bench.sweep_bench [--rounds 2] [--quick]`` prints the figures and writes
``bench/sweep_results.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.reliability import SIM_KEY, StandaloneSimulator, cache_health, optimize_env
from optimizer.sweep.grid import Axis, Grid, build_grid

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl"
RESULTS = ROOT / "bench" / "sweep_results.json"
SEEDS = ("1", "2", "3")
SUBSETS = ("middle", "high")
QUICK_FLAGS = [
    "--train-size",
    "40",
    "--dev-size",
    "10",
    "--test-size",
    "20",
    "--num-candidates",
    "3",
    "--num-trials",
    "3",
]
VOLATILE = {"config", "token_usage", "run_id", "optuna_study"}
CONCURRENCY = 16


def grid(flags: list[str]) -> Grid:
    return build_grid([Axis("seed", SEEDS), Axis("subset", SUBSETS)], ["--dataset", str(SAMPLE), *flags])


def _timed(cmd: list[str], *, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd`` to the end; its wall time, and the CPU time it and its children used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env or optimize_env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


def sequential(work: Path, g: Grid, flags: list[str], concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """The six runs one after another, as six commands sharing one (fresh) cache."""
    load = os.getloadavg()[0]
    cache = work / "cache"
    runs = []
    for cell in g.cells:
        cmd = [sys.executable, "scripts/optimize.py", *cell.flags, "--out", str(work / cell.name)]
        runs.append(_timed([*cmd, "--cache-dir", str(cache), "--concurrency", str(concurrency), "--quiet"]))
    return {
        "wall_s": round(sum(r["wall_s"] for r in runs), 2),
        "cpu_s": round(sum(r["cpu_s"] for r in runs), 2),
        "runs_wall_s": [round(r["wall_s"], 2) for r in runs],
        "load_before": load,
    }


def _sweep_grid(flags: list[str]) -> list[str]:
    """``scripts/sweep.py`` over the benchmark's seeds and subsets of the shipped sample, then ``flags``."""
    return [
        sys.executable,
        "scripts/sweep.py",
        "--seeds",
        ",".join(SEEDS),
        "--subsets",
        ",".join(SUBSETS),
        "--dataset",
        str(SAMPLE),
        *flags,
    ]


def sweep(work: Path, flags: list[str], concurrency: int = CONCURRENCY) -> dict[str, Any]:
    load = os.getloadavg()[0]
    cmd = [
        *_sweep_grid(flags),
        "--out",
        str(work),
        "--cache-dir",
        str(work / "cache"),
        "--concurrency",
        str(concurrency),
        "--quiet",
    ]
    figures = _timed(cmd)
    return {"wall_s": round(figures["wall_s"], 2), "cpu_s": round(figures["cpu_s"], 2), "load_before": load}


def identical(g: Grid, sweep_dir: Path, runs_dir: Path) -> list[str]:
    """Cells whose artifacts or results differ from their standalone run's (empty when all match)."""
    problems = []
    for cell in g.cells:
        here, alone = sweep_dir / "cells" / cell.name, runs_dir / cell.name
        for name in ("optimized_program.json", "evaluations.json"):
            if (here / name).read_bytes() != (alone / name).read_bytes():
                problems.append(f"{cell.name}: {name}")
        mine = json.loads((here / "optimization_results.json").read_text())
        theirs = json.loads((alone / "optimization_results.json").read_text())
        keys = sorted(k for k in set(mine) | set(theirs) if k not in VOLATILE and mine.get(k) != theirs.get(k))
        problems += [f"{cell.name}: results[{k}]" for k in keys]
    return problems


def speed(work: Path, flags: list[str], rounds: int, concurrency: int = CONCURRENCY) -> dict[str, Any]:
    g = grid(flags)
    measured: list[dict[str, Any]] = []
    mismatches: list[str] = []
    for r in range(rounds):
        order = ("sequential", "sweep") if r % 2 == 0 else ("sweep", "sequential")
        dirs = {kind: work / f"round{r}-{kind}" for kind in order}
        for kind in order:
            figures = (
                sequential(dirs[kind], g, flags, concurrency)
                if kind == "sequential"
                else sweep(dirs[kind], flags, concurrency)
            )
            measured.append({"round": r, "kind": kind, **figures})
            print(
                f"  round {r} {kind:<10} {figures['wall_s']:7.1f} s wall  {figures['cpu_s']:7.1f} s CPU  "
                f"(load {figures['load_before']:.2f})",
                flush=True,
            )
        mismatches += identical(g, dirs["sweep"], dirs["sequential"])
        for path in dirs.values():
            shutil.rmtree(path, ignore_errors=True)
    seq = sum(m["wall_s"] for m in measured if m["kind"] == "sequential")
    swp = sum(m["wall_s"] for m in measured if m["kind"] == "sweep")
    return {
        "measurements": measured,
        "sequential_wall_s": round(seq, 2),
        "sweep_wall_s": round(swp, 2),
        "sweep_over_sequential": round(swp / seq, 3),
        "cells_identical_to_standalone": not mismatches,
        "mismatches": mismatches,
    }


def _sweep_cmd(out: Path, cache: Path, sim_url: str, flags: list[str]) -> list[str]:
    return [
        *_sweep_grid(flags),
        "--model",
        "openai/gpt-4o",
        "--api-base",
        f"{sim_url}/v1",
        "--price-model",
        "gpt-4o",
        "--concurrency",
        str(CONCURRENCY),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--quiet",
    ]


def kill_and_rerun(work: Path, flags: list[str], latency_ms: float) -> dict[str, Any]:
    g = grid(flags)
    env = optimize_env(OPENAI_API_KEY=SIM_KEY)
    with StandaloneSimulator("--latency-ms", f"{latency_ms:g}") as sim:
        start = sim.stats()["requests"]
        clean = _timed(_sweep_cmd(work / "clean", work / "clean-cache", sim.url, flags), env=env)
        clean_requests = sim.stats()["requests"] - start
        before = sim.stats()["requests"]
        cmd = _sweep_cmd(work / "killed", work / "killed-cache", sim.url, flags)
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        killed_at = 0
        while process.poll() is None:
            killed_at = sim.stats()["requests"] - before
            if killed_at >= clean_requests // 2:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        process.wait()
        if process.returncode != -signal.SIGKILL:
            raise RuntimeError(f"the sweep ended before it was killed ({process.returncode})")
        finished = [
            c.name
            for c in g.cells
            if (work / "killed" / "cells" / c.name / "cell.json").exists()
            and json.loads((work / "killed" / "cells" / c.name / "cell.json").read_text())["status"] == "finished"
        ]
        time.sleep(0.2)
        rerun = _timed(cmd, env=env)
        total = sim.stats()["requests"] - before
    entries, corrupted = cache_health(work / "killed-cache")
    differ = []
    for cell in g.cells:
        for name in ("optimized_program.json", "evaluations.json"):
            a = (work / "clean" / "cells" / cell.name / name).read_bytes()
            b = (work / "killed" / "cells" / cell.name / name).read_bytes()
            if a != b:
                differ.append(f"{cell.name}: {name}")
    clean_results = json.loads((work / "clean" / "sweep_results.json").read_text())
    killed_results = json.loads((work / "killed" / "sweep_results.json").read_text())
    same_stats = clean_results["groups"] == killed_results["groups"] and (
        clean_results["subset_comparison"] == killed_results["subset_comparison"]
    )
    return {
        "latency_ms": latency_ms,
        "clean_requests": clean_requests,
        "clean_wall_s": round(clean["wall_s"], 2),
        "killed_after_requests": killed_at,
        "cells_finished_before_kill": finished,
        "rerun_wall_s": round(rerun["wall_s"], 2),
        "requests_over_both_attempts": total,
        "extra_requests": total - clean_requests,
        "concurrency": CONCURRENCY,
        "cache_entries": entries,
        "corrupted_entries": corrupted,
        "artifacts_differ": differ,
        "same_statistics": same_stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="A B pairs of the speed comparison (2: A B B A)")
    parser.add_argument("--quick", action="store_true", help="a small configuration instead of the default one")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the standalone simulator's latency (20)")
    parser.add_argument("--skip-kill", action="store_true", help="only the speed comparison")
    parser.add_argument(
        "--sim-latency-ms",
        type=float,
        help="the embedded simulator's median latency in the speed comparison (its default, 20, if not given)",
    )
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="of each run and of the sweep (16)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"where to write the figures ({RESULTS.name})")
    args = parser.parse_args(argv)
    flags = QUICK_FLAGS if args.quick else []
    speed_flags = flags + (["--sim-latency-ms", f"{args.sim_latency_ms:g}"] if args.sim_latency_ms is not None else [])
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        work = Path(tmp)
        print(f"speed: six runs one after another vs one sweep ({'quick' if args.quick else 'default'} configuration)")
        figures: dict[str, Any] = {"speed": speed(work / "speed", speed_flags, args.rounds, args.concurrency)}
        s = figures["speed"]
        print(
            f"  sweep / sequential wall: {s['sweep_over_sequential']:.3f} "
            f"({s['sweep_wall_s']:.1f} s vs {s['sequential_wall_s']:.1f} s); "
            f"cells identical to standalone runs: {s['cells_identical_to_standalone']}"
        )
        if not args.skip_kill:
            print("kill: the sweep killed half-way (SIGKILL), then the same command again")
            k = figures["kill"] = kill_and_rerun(work / "kill", flags, args.latency_ms)
            print(
                f"  clean sweep: {k['clean_requests']} requests; killed after {k['killed_after_requests']} "
                f"({len(k['cells_finished_before_kill'])} cells finished); rerun {k['rerun_wall_s']:.1f} s"
            )
            print(
                f"  requests over both attempts: {k['requests_over_both_attempts']} "
                f"(+{k['extra_requests']}, in flight at the kill; concurrency {k['concurrency']}); "
                f"cache entries {k['cache_entries']}, corrupted {k['corrupted_entries']}; "
                f"artifacts differing: {len(k['artifacts_differ'])}; same statistics: {k['same_statistics']}"
            )
    figures["when"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    figures["configuration"] = "quick" if args.quick else "default"
    figures["sim_latency_ms"] = args.sim_latency_ms
    figures["concurrency"] = args.concurrency
    figures["cpus"] = os.cpu_count()
    args.results.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
