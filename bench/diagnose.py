"""Where one run's time goes: a full optimization in this process, instrumented, against a standalone simulator.

The bench measures whole runs from outside; this looks inside one. It runs ``run_optimization``
with the seed's workload at ``--concurrency`` and reports:

* the span from the first request sent to the last answer read, against the bound (live calls ×
  the mean latency the simulator drew / C), and its efficiency;
* the mean time a call spent in the transport, and how long each HTTP answer took over the latency
  the simulator held it for (its ``openai-processing-ms``): the round trip, the simulator's own
  work, and how late the loop read the answer;
* call slots left idle (slot-seconds / C) and how long each number of calls was in flight;
* the gateway loop's lag (a 2 ms heartbeat on it) and its thread's CPU time;
* every garbage collection of the run, by generation, and the longest;
* 0.2 s stretches in which answers came back on average more than 15 ms late (stalls).

With ``--stock-gc`` the run keeps Python's default collector settings instead of the command
line's (``optimizer.cli.quiet_garbage_collector``). ``--bare N`` instead measures a bare aiohttp
client sending N requests, C at a time, to the same simulator: the floor of the transport alone.

``python -m bench.diagnose [--concurrency 16] [--stock-gc] [--bare 1600]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TQDM_DISABLE", "1")

from bench.simctl import SimSettings, SimulatorProcess  # noqa: E402  (after the set-up above)

SAMPLE = ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl"
HEARTBEAT_S = 0.002


class Probe:
    """What the instrumented run records: transport calls, loop heartbeats, garbage collections."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []  # (sent, answered), perf_counter seconds
        self.answers: list[tuple[float, float]] = []  # (sent, seconds past the latency the server held it)
        self.lags: list[float] = []
        self.loop_cpu_s = 0.0
        self.collections: list[tuple[float, float, int]] = []  # (started, seconds, generation)
        self._gc_started = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.collections.append((self._gc_started, time.perf_counter() - self._gc_started, info["generation"]))

    async def heartbeat(self) -> None:
        started = time.thread_time()
        try:
            while True:
                before = time.perf_counter()
                await asyncio.sleep(HEARTBEAT_S)
                self.lags.append(time.perf_counter() - before - HEARTBEAT_S)
                self.loop_cpu_s = time.thread_time() - started
        except asyncio.CancelledError:
            pass


class TimedTransport:
    """The run's own transport, noting when each call was sent and answered."""

    def __init__(self, inner: Any, probe: Probe) -> None:
        self.inner = inner
        self.probe = probe

    async def send(self, call: Any) -> dict[str, Any]:
        sent = time.perf_counter()
        try:
            result: dict[str, Any] = await self.inner.send(call)
            return result
        finally:
            self.probe.calls.append((sent, time.perf_counter()))

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextlib.contextmanager
def instrumented(probe: Probe) -> Iterator[None]:
    """Wrap every Runtime's transport and start a heartbeat on every gateway loop, for the block.

    Each HTTP answer's ``openai-processing-ms`` (the latency the simulator held it for) is read where
    aiohttp hands the response over, so lateness is measured call by call.
    """
    import aiohttp

    from gateway import facade, runtime

    make_transport, loop_init = runtime.gateway_transport, facade.GatewayLoop.__init__
    request = aiohttp.ClientSession._request

    async def timed_request(session: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> Any:
        sent = time.perf_counter()
        response = await request(session, *args, **kwargs)
        held = response.headers.get("openai-processing-ms")
        if held is not None:
            probe.answers.append((sent, time.perf_counter() - sent - float(held) / 1000))
        return response

    def timed_transport(*args: Any, **kwargs: Any) -> Any:
        return TimedTransport(make_transport(*args, **kwargs), probe)

    def loop_with_heartbeat(self: facade.GatewayLoop) -> None:
        loop_init(self)
        asyncio.run_coroutine_threadsafe(probe.heartbeat(), self.loop)

    runtime.gateway_transport = timed_transport
    facade.GatewayLoop.__init__ = loop_with_heartbeat  # type: ignore[method-assign]  # instrumented for the run, restored after
    aiohttp.ClientSession._request = timed_request  # type: ignore[method-assign,assignment]  # instrumented for the run, restored after
    gc.callbacks.append(probe.on_gc)
    try:
        yield
    finally:
        gc.callbacks.remove(probe.on_gc)
        aiohttp.ClientSession._request = request  # type: ignore[method-assign]  # instrumented for the run, restored after
        runtime.gateway_transport = make_transport
        facade.GatewayLoop.__init__ = loop_init  # type: ignore[method-assign]  # instrumented for the run, restored after


def diagnose_run(sim: SimulatorProcess, concurrency: int, *, stock_gc: bool, work: Path) -> dict[str, Any]:
    import logging

    from gateway.logs import configure_logging
    from optimizer.cli import quiet_garbage_collector
    from optimizer.run import RunConfig, run_optimization

    configure_logging(json_lines=False, level=logging.WARNING)

    probe = Probe()
    config = RunConfig(
        dataset=str(SAMPLE),
        model="openai/gpt-4o",
        api_base=sim.openai_api_base,
        price_model="gpt-4o",
        concurrency=concurrency,
        cache_dir=work / "cache",
        out_dir=work / "out",
    )
    sim.reset()
    collector = contextlib.nullcontext() if stock_gc else quiet_garbage_collector()
    with instrumented(probe), collector:
        outcome = run_optimization(config)
    stats = sim.stats()
    first = min(sent for sent, _ in probe.calls)
    last = max(answered for _, answered in probe.calls)
    span = last - first
    drawn = stats["latency_s"] / stats["requests"]
    bound = stats["latency_s"] / concurrency
    in_flight = _time_by_in_flight(probe.calls, first)
    late = [(sent - first, over) for sent, over in probe.answers]
    stalls = []
    for k in range(int(span / 0.2) + 1):
        window = [over for at, over in late if k * 0.2 <= at < (k + 1) * 0.2]
        if window and statistics.mean(window) > 0.015:
            stalls.append(
                {
                    "at_s": round(k * 0.2, 1),
                    "calls": len(window),
                    "mean_late_ms": round(statistics.mean(window) * 1000, 1),
                }
            )
    collections = [
        (at - first, seconds, generation) for at, seconds, generation in probe.collections if first <= at <= last
    ]
    by_generation: dict[str, dict[str, float]] = {}
    for _, seconds, generation in collections:
        entry = by_generation.setdefault(str(generation), {"count": 0, "total_s": 0.0, "longest_s": 0.0})
        entry["count"] += 1
        entry["total_s"] = round(entry["total_s"] + seconds, 3)
        entry["longest_s"] = round(max(entry["longest_s"], seconds), 3)
    lags = sorted(probe.lags)
    return {
        "concurrency": concurrency,
        "garbage_collector": "stock" if stock_gc else "quiet (the command line's)",
        "calls": len(probe.calls),
        "server_requests": stats["requests"],
        "span_s": round(span, 3),
        "ledger_wall_s": outcome.ledger["total"]["wall_s"],
        "bound_s": round(bound, 3),
        "efficiency_of_span": round(bound / span, 4),
        "drawn_latency_ms": round(drawn * 1000, 2),
        "mean_send_ms": round(statistics.mean(b - a for a, b in probe.calls) * 1000, 2),
        "mean_http_ms_over_held": round(statistics.mean(over for _, over in probe.answers) * 1000, 2),
        "idle_slot_seconds_per_slot": round(sum((concurrency - n) * t for n, t in in_flight.items()) / concurrency, 3),
        "seconds_by_calls_in_flight": {str(n): round(t, 3) for n, t in sorted(in_flight.items()) if t >= 0.01},
        "loop_lag_ms": {
            "mean": round(statistics.mean(lags) * 1000, 2),
            "p90": round(lags[int(len(lags) * 0.9)] * 1000, 2),
            "p99": round(lags[int(len(lags) * 0.99)] * 1000, 2),
        },
        "loop_thread_cpu_s": round(probe.loop_cpu_s, 2),
        "collections": by_generation,
        "collections_over_20ms": [
            {"at_s": round(at, 2), "ms": round(seconds * 1000), "generation": generation}
            for at, seconds, generation in collections
            if seconds > 0.02
        ],
        "stalls": stalls,
    }


def _time_by_in_flight(calls: list[tuple[float, float]], first: float) -> dict[int, float]:
    edges = sorted([(sent, 1) for sent, _ in calls] + [(answered, -1) for _, answered in calls])
    held: dict[int, float] = {}
    current, since = 0, first
    for at, step in edges:
        held[current] = held.get(current, 0.0) + at - since
        current, since = current + step, at
    return held


def diagnose_bare(sim: SimulatorProcess, concurrency: int, requests: int) -> dict[str, Any]:
    """A bare aiohttp client with nothing else to do: the transport's own floor."""
    import aiohttp

    system = {"role": "system", "content": "Your input fields are:\n1. `prompt` (str)\n" * 10}

    async def drive() -> tuple[float, list[float]]:
        slots = asyncio.Semaphore(concurrency)
        took: list[float] = []
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> None:
                body = {
                    "model": "gpt-4o",
                    "temperature": 0.0,
                    "max_tokens": 256,
                    "messages": [system, {"role": "user", "content": f"[[ ## prompt ## ]]\nQuestion {i}"}],
                }
                async with slots:
                    sent = time.perf_counter()
                    async with session.post(
                        sim.openai_api_base + "/chat/completions",
                        data=json.dumps(body),
                        headers={"Authorization": "Bearer sim-local-key", "Content-Type": "application/json"},
                    ) as response:
                        json.loads(await response.read())
                    took.append(time.perf_counter() - sent)

            started = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(requests)))
            return time.perf_counter() - started, took

    sim.reset()
    wall, took = asyncio.run(drive())
    stats = sim.stats()
    return {
        "concurrency": concurrency,
        "requests": requests,
        "wall_s": round(wall, 3),
        "mean_send_ms": round(statistics.mean(took) * 1000, 2),
        "drawn_latency_ms": round(stats["latency_s"] / stats["requests"] * 1000, 2),
        "efficiency": round(stats["latency_s"] / concurrency / wall, 4),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="diagnose.py", description=__doc__.splitlines()[0])
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--latency-ms", type=float, default=100.0, help="the simulator's median latency (100)")
    p.add_argument("--stock-gc", action="store_true", help="keep Python's default garbage-collector settings")
    p.add_argument("--bare", type=int, metavar="N", help="measure a bare aiohttp client sending N requests instead")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args(argv)
    if args.concurrency < 1 or (args.bare is not None and args.bare < 1) or args.latency_ms < 0:
        p.error("--concurrency and --bare must be at least 1, --latency-ms not negative")
    os.environ.setdefault("OPENAI_API_KEY", "sim-local-key")
    with (
        tempfile.TemporaryDirectory(prefix="hsopt-diagnose-") as work,
        SimulatorProcess(SimSettings(args.latency_ms), Path(work) / "sim.log") as sim,
    ):
        figures = (
            diagnose_bare(sim, args.concurrency, args.bare)
            if args.bare is not None
            else diagnose_run(sim, args.concurrency, stock_gc=args.stock_gc, work=Path(work))
        )
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
