"""Benchmark of the gateway's own costs: ``python bench/gateway_bench.py`` (about half a minute).

Three figures, each against a target:

(a) a cache hit, in-process: median latency of ``Gateway.complete`` when the answer is on disk
    (key hashing, SQLite read, integrity check, ledger) -- target <= 0.5 ms;
(b) the gateway's overhead on a live call: median of ``Gateway.complete`` (cache miss and store,
    limits, retry wrapper, ledger) minus the median of a bare ``litellm.acompletion``, both against
    the simulator on loopback with no latency, calls interleaved -- target <= 2 ms;
(c) throughput: 400 requests against a fixed 50 ms server latency at concurrency 16, wall time over
    the ideal 400 x 0.05 / 16 s -- target <= 1.3x. The same load through bare LiteLLM under a
    semaphore is measured too: it is the floor LiteLLM's own per-call CPU sets on this machine.

The simulator runs in a separate process (``scripts/simulator.py``) so that its work does not share
this process's interpreter lock, as a real endpoint would not. Figures go to stdout as a table and to
``bench/gateway_results.json``, which is not kept in the repository: its figures are timings of the
machine and the moment they were taken on, so compare two runs made one after another instead.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from cache import ResponseCache  # noqa: E402  (after the set-up above)
from gateway.config import simulator_endpoint  # noqa: E402  (after the set-up above)
from gateway.core import Gateway  # noqa: E402  (after the set-up above)
from gateway.testing import ScriptedTransport, chat_response  # noqa: E402  (after the set-up above)
from gateway.transports.litellm import LiteLLMTransport  # noqa: E402  (after the set-up above)
from gateway.types import ChatCall, Endpoint  # noqa: E402  (after the set-up above)
from simulator import SIM_VERSION  # noqa: E402  (after the set-up above)

# A prompt about the size of a DSPy generator request, so hashing and storing cost what they do in a run.
PROMPT = (
    "Your input fields are:\n1. `prompt` (str)\nYour output fields are:\n1. `response` (str)\n"
    + "All interactions will be structured in the following way. " * 20
)
TARGETS = {"hit_ms": 0.5, "overhead_ms": 2.0, "throughput_ratio": 1.3}


@contextmanager
def simulator_process(*flags: str) -> Iterator[str]:
    """Run ``scripts/simulator.py`` in its own process; yield its OpenAI API base."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "simulator.py"), "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline() if process.stdout else ""
        match = re.search(r"OpenAI base (http://127\.0\.0\.1:\d+/v1)", banner)
        if not match:
            raise RuntimeError(f"the simulator did not start: {banner!r}")
        yield match.group(1)
    finally:
        process.terminate()
        process.communicate(timeout=30)


def chat(endpoint: Endpoint, text: str) -> ChatCall:
    return ChatCall(
        endpoint, [{"role": "user", "content": f"{text}\n{PROMPT}"}], {"max_tokens": 64, "temperature": 0.0}
    )


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


# -- (a) ------------------------------------------------------------------------------------------
async def cached_hit_ms(cache_dir: Path, hits: int) -> dict[str, float]:
    endpoint = Endpoint(model="openai/gpt-4o", identity="bench|v1", price_model="gpt-4o")
    with ResponseCache(cache_dir / "hits") as cache:
        gateway = Gateway(ScriptedTransport(fallback=lambda c: chat_response("x" * 1500)), cache=cache)
        call = chat(endpoint, "cached")
        await gateway.complete(call)
        samples = [await timed(lambda: gateway.complete(call)) for _ in range(hits)]
    assert gateway.ledger.total().cached_calls == hits
    return {"hit_median_ms": statistics.median(samples) * 1000, "hit_p95_ms": _p95(samples) * 1000}


# -- (b) ------------------------------------------------------------------------------------------
async def overhead_ms(api_base: str, cache_dir: Path, pairs: int) -> dict[str, float]:
    import litellm

    endpoint = simulator_endpoint(api_base, SIM_VERSION)
    with ResponseCache(cache_dir / "overhead") as cache:
        gateway = Gateway(LiteLLMTransport(), cache=cache)

        async def bare(i: int) -> Any:
            call = chat(endpoint, f"bare {i}")
            return await litellm.acompletion(
                model=endpoint.model,
                messages=list(call.messages),
                num_retries=0,
                max_retries=0,
                **call.params,
                **endpoint.litellm_kwargs(),
            )

        async def through_gateway(i: int) -> Any:
            return await gateway.complete(chat(endpoint, f"gateway {i}"))

        for i in range(20):  # warm both paths: LiteLLM's first call is slow, and so is SQLite's first write
            await bare(-1 - i)
            await through_gateway(-1 - i)
        bare_s, gateway_s = [], []
        for i in range(pairs):  # interleaved, so drift in the machine's load hits both alike
            bare_s.append(await timed(functools.partial(bare, i)))
            gateway_s.append(await timed(functools.partial(through_gateway, i)))
    bare_ms, gateway_ms = statistics.median(bare_s) * 1000, statistics.median(gateway_s) * 1000
    return {"bare_median_ms": bare_ms, "gateway_median_ms": gateway_ms, "overhead_ms": gateway_ms - bare_ms}


# -- (c) ------------------------------------------------------------------------------------------
async def throughput(
    api_base: str, cache_dir: Path, requests: int, concurrency: int, latency_s: float
) -> dict[str, float]:
    import litellm

    endpoint = simulator_endpoint(api_base, SIM_VERSION)
    ideal_s = requests * latency_s / concurrency
    with ResponseCache(cache_dir / "throughput") as cache:
        gateway = Gateway(LiteLLMTransport(), cache=cache, concurrency=concurrency)
        await gateway.complete(chat(endpoint, "warm-up"))
        cpu = time.process_time()
        gateway_s = await timed(
            lambda: asyncio.gather(*(gateway.complete(chat(endpoint, f"load {i}")) for i in range(requests)))
        )
        gateway_cpu_ms = (time.process_time() - cpu) / requests * 1000
        peak = gateway.max_in_flight

    semaphore = asyncio.Semaphore(concurrency)

    async def bare(i: int) -> Any:
        call = chat(endpoint, f"bare load {i}")
        async with semaphore:
            return await litellm.acompletion(
                model=endpoint.model,
                messages=list(call.messages),
                num_retries=0,
                max_retries=0,
                **call.params,
                **endpoint.litellm_kwargs(),
            )

    cpu = time.process_time()
    bare_s = await timed(lambda: asyncio.gather(*(bare(i) for i in range(requests))))
    bare_cpu_ms = (time.process_time() - cpu) / requests * 1000
    return {
        "ideal_s": ideal_s,
        "gateway_wall_s": gateway_s,
        "throughput_ratio": gateway_s / ideal_s,
        "bare_wall_s": bare_s,
        "bare_ratio": bare_s / ideal_s,
        "gateway_cpu_ms_per_request": gateway_cpu_ms,
        "bare_cpu_ms_per_request": bare_cpu_ms,
        "max_in_flight": peak,
    }


def _p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSED"


def table(r: dict[str, Any]) -> str:
    rows = [
        (
            "(a) cached hit, median",
            f"{r['hit_median_ms']:.3f} ms",
            f"<= {TARGETS['hit_ms']} ms",
            _verdict(r["hit_median_ms"], TARGETS["hit_ms"]),
        ),
        ("    cached hit, p95", f"{r['hit_p95_ms']:.3f} ms", "", ""),
        ("(b) bare litellm.acompletion, median", f"{r['bare_median_ms']:.2f} ms", "", ""),
        ("    through the gateway, median", f"{r['gateway_median_ms']:.2f} ms", "", ""),
        (
            "    gateway overhead",
            f"{r['overhead_ms']:+.2f} ms",
            f"<= {TARGETS['overhead_ms']} ms",
            _verdict(r["overhead_ms"], TARGETS["overhead_ms"]),
        ),
        (
            f"(c) {r['requests']} x {r['latency_ms']:.0f} ms at concurrency {r['concurrency']}: ideal",
            f"{r['ideal_s']:.2f} s",
            "",
            "",
        ),
        (
            "    through the gateway",
            f"{r['gateway_wall_s']:.2f} s = {r['throughput_ratio']:.2f}x",
            f"<= {TARGETS['throughput_ratio']}x",
            _verdict(r["throughput_ratio"], TARGETS["throughput_ratio"]),
        ),
        ("    bare LiteLLM, same load", f"{r['bare_wall_s']:.2f} s = {r['bare_ratio']:.2f}x", "", ""),
        (
            "    client CPU per request (gateway / bare)",
            f"{r['gateway_cpu_ms_per_request']:.1f} / {r['bare_cpu_ms_per_request']:.1f} ms",
            "",
            "",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("figure".ljust(widths[0]), "measured".rjust(widths[1]), "target".ljust(widths[2]), "")
    lines = ["  ".join(header).rstrip(), "  ".join("-" * w for w in widths)]
    lines += [
        "  ".join((a.ljust(widths[0]), b.rjust(widths[1]), c.ljust(widths[2]), d)).rstrip() for a, b, c, d in rows
    ]
    return "\n".join(lines)


async def bench(args: argparse.Namespace, cache_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    results.update(await cached_hit_ms(cache_dir, args.hits))
    with simulator_process("--latency-ms", "0") as api_base:
        results.update(await overhead_ms(api_base, cache_dir, args.pairs))
    latency_s = 0.05
    with simulator_process("--latency-ms", str(latency_s * 1000), "--fixed-latency") as api_base:
        results.update(await throughput(api_base, cache_dir, args.requests, args.concurrency, latency_s))
    results.update(requests=args.requests, concurrency=args.concurrency, latency_ms=latency_s * 1000)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the gateway's cache-hit latency, overhead and throughput.")
    parser.add_argument("--hits", type=int, default=2000, help="cache hits timed for (a)")
    parser.add_argument("--pairs", type=int, default=300, help="bare/gateway call pairs timed for (b)")
    parser.add_argument("--requests", type=int, default=400, help="requests of (c)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrency of (c)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "gateway_results.json")
    args = parser.parse_args(argv)
    import litellm

    litellm.suppress_debug_info = True
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        results = asyncio.run(bench(args, Path(tmp)))
    print(table(results))
    from importlib.metadata import version

    record = {
        "targets": TARGETS,
        "results": {k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()},
        "met": {
            "hit_ms": results["hit_median_ms"] <= TARGETS["hit_ms"],
            "overhead_ms": results["overhead_ms"] <= TARGETS["overhead_ms"],
            "throughput_ratio": results["throughput_ratio"] <= TARGETS["throughput_ratio"],
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "litellm": version("litellm"),
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
