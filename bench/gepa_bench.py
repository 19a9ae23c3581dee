"""GEPA's benchmark: stock ``dspy.GEPA`` with ``num_threads`` against our GEPA run, then the race.

One invocation, against one standalone simulator process (default 100 ms median latency), each run
a child process of its own: the anchor (``bench/gepa_anchor.py``, ``num_threads`` 16), our run at
``--concurrency 16`` on a fresh cache, and the race, ``scripts/sweep.py --optimizers mipro,gepa
--seeds 1,2,3`` (one command; its cells share one gateway). Figures are ratios within the
invocation, since the machine is shared. ``python -m bench.gepa_bench`` prints a summary and writes
``bench/gepa_results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.procs import run_measured
from bench.simctl import ROOT, SimSettings, SimulatorProcess

SAMPLE = ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl"


def _sizes(args: argparse.Namespace) -> list[str]:
    return [
        *("--dataset", str(SAMPLE), "--train-size", str(args.train_size)),
        *("--dev-size", str(args.dev_size), "--test-size", str(args.test_size)),
    ]


def ideal_bound_s(results: dict[str, Any], *, latency_s: float, concurrency: int, dev: int, test: int) -> float:
    """A lower bound on our run's wall time from what its GEPA did, its steps one after another.

    GEPA's loop is sequential: each minibatch evaluation (a parent's, then a child's; 2 calls deep:
    the generation, then the judges at once) waits for the one before, and each reflection (1 deep)
    for its parent's. Full dev evaluations take max(2 deep, their calls over the concurrency); the
    first is the baseline's (the run makes it anyway), the winner on test likewise.
    """
    gepa = results["gepa"]
    minibatch = int(gepa["settings"]["reflection_minibatch_size"])

    def full(examples: int) -> float:
        return max(2.0, 6.0 * examples / concurrency) * latency_s

    fulls = max(1, int(gepa["full_dev_evaluations"]))
    minibatch_evals = max(0, int(gepa["total_metric_calls"]) - fulls * dev) / minibatch
    return (
        fulls * full(dev)
        + minibatch_evals * 2 * latency_s
        + int(gepa["reflections"]) * latency_s
        + (full(test) if test else 0.0)
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--train-size", type=int, default=40)
    p.add_argument("--dev-size", type=int, default=20)
    p.add_argument("--test-size", type=int, default=20)
    p.add_argument("--max-metric-calls", type=int, default=150)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--race-candidates", type=int, default=4, help="MIPROv2's candidates in the race")
    p.add_argument("--race-trials", type=int, default=6, help="MIPROv2's trials in the race")
    p.add_argument("--no-race", action="store_true", help="the anchor comparison alone")
    p.add_argument("--result", type=Path, default=ROOT / "bench" / "gepa_results.json")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gepa-bench-"))
    env = dict(
        os.environ,
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        OPENAI_API_KEY="sim-local-key",
        TQDM_DISABLE="1",
        HSOPT_CACHE_DIR=str(work / "default-cache"),
    )
    sim_settings = SimSettings(latency_ms=args.latency_ms)
    out: dict[str, Any] = {
        "latency_ms": args.latency_ms,
        "work_dir": str(work),
        "workload": vars(args) | {"result": None},
    }
    with SimulatorProcess(sim_settings, work / "simulator.log") as sim:
        backend = ["--model", "openai/gpt-4o", "--api-base", sim.openai_api_base, "--price-model", "gpt-4o"]

        def measured(label: str, cmd: list[str]) -> dict[str, Any]:
            print(f"  running {label} …", file=sys.stderr, flush=True)
            sim.reset()
            figures = run_measured(cmd, env=env, cwd=ROOT, log_path=work / f"{label}.log", timeout_s=3600)
            stats = sim.stats()
            print(f"    {label}: {figures.wall_s:.1f} s, {stats['requests']} requests", file=sys.stderr, flush=True)
            return {**figures.as_dict(), "server_requests": int(stats["requests"])}

        anchor_json = work / "anchor.json"
        anchor = measured(
            "anchor",
            [
                *(sys.executable, "-m", "bench.gepa_anchor", "--api-base", sim.openai_api_base),
                *("--dspy-cache-dir", str(work / "anchor-dspy-cache"), "--result", str(anchor_json)),
                *("--train-size", str(args.train_size), "--dev-size", str(args.dev_size)),
                *("--test-size", str(args.test_size), "--max-metric-calls", str(args.max_metric_calls)),
                *("--threads", str(args.concurrency)),
            ],
        )
        anchor.update(json.loads(anchor_json.read_text()))
        ours = measured(
            f"ours-c{args.concurrency}",
            [
                *(sys.executable, str(ROOT / "scripts" / "optimize.py"), *backend, *_sizes(args)),
                *("--optimizer", "gepa", "--gepa-max-metric-calls", str(args.max_metric_calls)),
                *("--concurrency", str(args.concurrency), "--quiet"),
                *("--cache-dir", str(work / "cache-ours"), "--out", str(work / "ours")),
            ],
        )
        results = json.loads((work / "ours" / "optimization_results.json").read_text())
        ledger = json.loads((work / "ours" / "ledger.json").read_text())
        bound = ideal_bound_s(
            results,
            latency_s=sim_settings.mean_latency_s,
            concurrency=args.concurrency,
            dev=args.dev_size,
            test=args.test_size,
        )
        ours.update(
            {
                "phases_wall_s": ledger["total"]["wall_s"],
                "phases": {
                    k: {"wall_s": v["wall_s"], "live_calls": v["live_calls"]} for k, v in ledger["phases"].items()
                },
                "scores": {
                    "baseline_dev": results["dev"]["baseline"],
                    "baseline_test": results["test"]["baseline"],
                    "optimized_test": results["test"]["optimized"],
                },
                "instruction": results["optimized_signature"]["instructions"],
                "gepa": {k: v for k, v in results["gepa"].items() if k not in ("candidates", "pareto_front")},
                "candidates": len(results["gepa"]["candidates"]),
                "ideal_bound_s": round(bound, 3),
                "share_of_bound": round(bound / ledger["total"]["wall_s"], 4),
            }
        )
        out["anchor"], out["ours"] = anchor, ours
        out["wall_ratio_process"] = round(anchor["wall_s"] / ours["wall_s"], 2)
        out["wall_ratio_phases"] = round(anchor["phases_wall_s"] / ours["phases_wall_s"], 2)
        if not args.no_race:
            race = measured(
                "race",
                [
                    *(sys.executable, str(ROOT / "scripts" / "sweep.py"), "--optimizers", "mipro,gepa"),
                    *("--seeds", "1,2,3", *backend, *_sizes(args)),
                    *("--num-candidates", str(args.race_candidates), "--num-trials", str(args.race_trials)),
                    *("--gepa-max-metric-calls", str(args.max_metric_calls), "--concurrency", str(args.concurrency)),
                    *("--quiet", "--cache-dir", str(work / "cache-race"), "--out", str(work / "race")),
                ],
            )
            sweep = json.loads((work / "race" / "sweep_results.json").read_text())
            race["optimizer_comparison"] = sweep["optimizer_comparison"]
            race["cells"] = [
                {"name": c["name"], "wall_s": c.get("wall_s"), "test": (c.get("test") or {}).get("improvement")}
                for c in sweep["cells"]
            ]
            out["race"] = race
    args.result.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: out[k] for k in ("wall_ratio_process", "wall_ratio_phases")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
