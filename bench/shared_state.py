"""Shared-state benchmark: several ``scripts/optimize.py`` workers on one quota, one cache, one budget (Redis).

Every worker is a process of its own, run as a user runs it, against one standalone simulator (its
counters say what really reached the "provider"). The experiments, each a function that returns its
figures (the tests call the same functions on small workloads):

* ``throughput``: 4 workers (seeds 1-4) against a simulator enforcing a TPM quota, each given that
  quota with ``--tpm``; with ``--redis-url`` (one shared limiter) and without (four limiters that
  each believe they own the quota). Useful tokens per minute (prompt + completion tokens of the
  requests the simulator answered, over the span in which it answered them) as a share of the
  quota; what the simulator charged the quota at admission (prompt + ``max_tokens``) as a share of
  it; the share of requests answered 429. With Redis, the same 4 workers then run again as new
  processes with empty local caches (``cold_rerun``): the requests that reach the simulator.
* ``simultaneous``: two workers started at once on the same configuration: the requests the
  simulator served against the distinct requests of one run.
* ``shared_budget``: 3 workers sharing ``--max-cost`` under one ``--budget-name``: the total spent
  against the cap, and how each worker stopped.
* ``redis_kill``: 2 workers, the Redis server killed in the middle: how long each took to stop and
  how; then the server restarted and both rerun: exit status, programs against clean runs, and
  requests the simulator received for calls already paid for.
* ``gateway_costs`` and ``replay_tiers``: what the shared path adds per call in-process, and a
  ``--replay`` of one run served by the disk tier, by Redis behind an empty disk, or without Redis.

``python -m bench.shared_state [--quick] [--quota-tpm 1000000] [--only ...] [--out bench/out/shared_state.json]``
(``--quick``: the small workload, for a look in a few minutes; the figures in BENCHMARKS.md use
the default configuration).

Over 500 lines on purpose: one benchmark behind one section of BENCHMARKS.md; its arithmetic, its
worker processes, its experiments and its command are the sections below.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench.reliability import OptimizeProcess, optimize_env  # noqa: E402  (after the set-up above)
from bench.simctl import SimSettings, SimulatorProcess  # noqa: E402  (after the set-up above)
from gateway.shared.testing import (  # noqa: E402  (after the set-up above)
    MACHINE_REDIS_URL,
    RedisServer,
    delete_namespace,
    unique_namespace,
)

SAMPLE = ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl"
SIM_KEY = "sim-key"
POLL_S = 0.25


@dataclass(frozen=True)
class Workload:
    """The optimization each worker runs (its flags, without seed, model, caches or outputs)."""

    name: str
    flags: tuple[str, ...]


DEFAULT = Workload("default", ("--dataset", str(SAMPLE)))
SMALL = Workload(
    "small",
    ("--dataset", str(SAMPLE), "--train-size", "20", "--dev-size", "8", "--test-size", "8")
    + ("--num-candidates", "3", "--num-trials", "3"),
)


# -- arithmetic (tested in tests/bench/test_shared_state.py) --------------------------------------------
def answered_span(samples: Sequence[tuple[float, int]]) -> tuple[int, float]:
    """(tokens, seconds) answered between the first sample showing tokens and the first showing the final total.

    ``samples`` are (seconds, cumulative tokens) polled every ``POLL_S``; the span is widened by one
    poll interval, since the first tokens arrived at some point after the sample before them.
    """
    if not samples or samples[-1][1] == 0:
        return 0, 0.0
    final = samples[-1][1]
    first = next(i for i, (_, tokens) in enumerate(samples) if tokens > 0)
    last = next(i for i, (_, tokens) in enumerate(samples) if tokens == final)
    start = samples[first - 1][0] if first > 0 else samples[first][0] - POLL_S
    return final, samples[last][0] - start


def quota_share(tokens: int, seconds: float, quota_tpm: float) -> float:
    """Tokens per minute over ``seconds`` as a share of a tokens-per-minute quota."""
    if seconds <= 0 or quota_tpm <= 0:
        return 0.0
    return tokens / (seconds / 60.0) / quota_tpm


def rejected_share(rejected: int, requests: int) -> float:
    return rejected / requests if requests else 0.0


def repeated_paid_calls(requests_total: int, clean_requests: int, unsaved_at_kill: int) -> int:
    """Requests for answers already paid for: all requests, less one clean run's, less those lost in flight."""
    return requests_total - clean_requests - unsaved_at_kill


# -- running workers ------------------------------------------------------------------------------------
@dataclass
class Worker:
    seed: int
    cache_dir: Path
    out_dir: Path
    args: list[str]


def workers_for(
    workload: Workload,
    seeds: Sequence[int],
    workdir: Path,
    api_base: str,
    *,
    redis_url: str | None = None,
    extra: Sequence[str] = (),
    label: str = "w",
    one_cache_dir: Path | None = None,
) -> list[Worker]:
    found = []
    for i, seed in enumerate(seeds):
        cache_dir, out_dir = one_cache_dir or workdir / f"{label}{i}-cache", workdir / f"{label}{i}-run"
        args = [*workload.flags, "--seed", str(seed), "--model", "openai/gpt-4o", "--api-base", api_base]
        args += ["--cache-dir", str(cache_dir), "--out", str(out_dir), "--quiet", *extra]
        if redis_url is not None:
            args += ["--redis-url", redis_url]
        found.append(Worker(seed, cache_dir, out_dir, args))
    return found


@dataclass
class Finished:
    seed: int
    returncode: int
    wall_s: float
    last_line: str
    live_calls: int | None
    program: bytes | None


def run_workers(workers: Sequence[Worker], workdir: Path, namespace: str | None, timeout_s: float) -> list[Finished]:
    """Start every worker at the same instant and wait for all."""
    env = optimize_env(OPENAI_API_KEY=SIM_KEY, **({"HSOPT_REDIS_NAMESPACE": namespace} if namespace else {}))
    started = time.perf_counter()
    procs = [OptimizeProcess(w.args, env=env, cwd=workdir) for w in workers]
    done = []
    for worker, proc in zip(workers, procs, strict=True):
        status = proc.finish(timeout=timeout_s)
        done.append(_finished(worker, proc, status, time.perf_counter() - started))
    return done


def _finished(worker: Worker, proc: OptimizeProcess, status: int, wall_s: float) -> Finished:
    lines = [line for line in proc.lines if line.strip()]
    ledger_path = worker.out_dir / "ledger.json"
    live = json.loads(ledger_path.read_text())["total"]["live_calls"] if ledger_path.exists() else None
    program_path = worker.out_dir / "optimized_program.json"
    program = program_path.read_bytes() if program_path.exists() else None
    return Finished(worker.seed, status, round(wall_s, 2), lines[-1] if lines else "", live, program)


class TokenSampler:
    """Polls the simulator's counters every ``POLL_S`` on a thread: (seconds, cumulative answered tokens)."""

    def __init__(self, sim: SimulatorProcess) -> None:
        self.sim = sim
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.is_set():
            tokens = int(self.sim.stats()["tokens"]["total"])
            self.samples.append((time.perf_counter() - self._started, tokens))
            self._stop.wait(POLL_S)

    def __enter__(self) -> TokenSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.samples.append((time.perf_counter() - self._started, int(self.sim.stats()["tokens"]["total"])))


@contextmanager
def machine_namespace(label: str) -> Iterator[str]:
    """A fresh namespace on the machine's Redis, deleted afterwards."""
    namespace = unique_namespace(label)
    try:
        yield namespace
    finally:
        delete_namespace(MACHINE_REDIS_URL, namespace)


# -- the experiments ------------------------------------------------------------------------------------
@dataclass
class Throughput:
    redis: bool
    quota_tpm: int
    requests: int
    rejected_429: int
    answered_tokens: int  # prompt + completion tokens of the answered requests: the useful work
    admitted_tokens: int  # what the simulator charged the quota: prompt + max_tokens of each admitted request
    span_s: float
    useful_share_of_quota: float
    admitted_share_of_quota: float
    share_429: float
    workers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ColdRerun:
    requests_reaching_simulator: int
    returncodes: list[int]
    programs_identical: bool


def throughput(
    workload: Workload,
    workdir: Path,
    *,
    quota_tpm: int,
    redis_url: str | None,
    namespace: str | None,
    seeds: Sequence[int] = (1, 2, 3, 4),
    latency_ms: float = 100.0,
    cold_rerun: bool = False,
    timeout_s: float = 3600.0,
) -> tuple[Throughput, ColdRerun | None]:
    """The workers on one quota; with ``cold_rerun`` (and Redis), the same workers again as new processes
    with empty local caches, against the same simulator (its address is part of every cache key)."""
    label = "redis" if redis_url else "local"
    with SimulatorProcess(SimSettings(latency_ms=latency_ms, tpm=quota_tpm), workdir / f"sim-{label}.log") as sim:
        workers = workers_for(
            workload,
            seeds,
            workdir,
            sim.openai_api_base,
            redis_url=redis_url,
            extra=("--tpm", str(quota_tpm)),
            label=f"{label}-",
        )
        with TokenSampler(sim) as sampler:
            finished = run_workers(workers, workdir, namespace, timeout_s)
        stats = sim.stats()
        rerun = None
        if cold_rerun and redis_url is not None:
            sim.reset()
            again = workers_for(
                workload,
                seeds,
                workdir,
                sim.openai_api_base,
                redis_url=redis_url,
                extra=("--tpm", str(quota_tpm)),
                label="cold-",
            )
            repeated = run_workers(again, workdir, namespace, timeout_s)
            identical = all(
                a.program is not None and a.program == b.program for a, b in zip(finished, repeated, strict=True)
            )
            rerun = ColdRerun(int(sim.stats()["requests"]), [f.returncode for f in repeated], identical)
    tokens, span = answered_span(sampler.samples)
    admitted = int(stats["tokens"].get("quota", 0))
    figures = Throughput(
        redis=redis_url is not None,
        quota_tpm=quota_tpm,
        requests=int(stats["requests"]),
        rejected_429=int(stats["rate_limited"]),
        answered_tokens=tokens,
        admitted_tokens=admitted,
        span_s=round(span, 2),
        useful_share_of_quota=round(quota_share(tokens, span, quota_tpm), 4),
        admitted_share_of_quota=round(quota_share(admitted, span, quota_tpm), 4),
        share_429=round(rejected_share(int(stats["rate_limited"]), int(stats["requests"])), 4),
        workers=[
            {"seed": f.seed, "returncode": f.returncode, "wall_s": f.wall_s, "live_calls": f.live_calls}
            for f in finished
        ],
    )
    return figures, rerun


@dataclass
class Simultaneous:
    distinct_requests: int  # the live calls of the same run alone
    requests_served: int
    returncodes: list[int]
    live_calls: list[int | None]


def simultaneous(workload: Workload, workdir: Path, *, redis_url: str, seed: int = 42) -> Simultaneous:
    with SimulatorProcess(SimSettings(latency_ms=100.0), workdir / "sim-simultaneous.log") as sim:
        with machine_namespace("solo") as namespace:
            solo = workers_for(workload, [seed], workdir, sim.openai_api_base, redis_url=redis_url, label="solo-")
            run_workers(solo, workdir, namespace, 3600)
        distinct = int(sim.stats()["requests"])
        sim.reset()
        with machine_namespace("pair") as namespace:
            pair = workers_for(workload, [seed, seed], workdir, sim.openai_api_base, redis_url=redis_url, label="pair-")
            finished = run_workers(pair, workdir, namespace, 3600)
        served = int(sim.stats()["requests"])
    return Simultaneous(distinct, served, [f.returncode for f in finished], [f.live_calls for f in finished])


@dataclass
class SharedBudget:
    cap_usd: float
    spent_usd: float
    reservations_in_flight: int
    returncodes: list[int]
    last_lines: list[str]


def shared_budget(
    workload: Workload, workdir: Path, *, redis_url: str, cap_usd: float, seeds: Sequence[int] = (1, 2, 3)
) -> SharedBudget:
    from gateway.budget.redis import budget_status
    from gateway.shared.target import redis_target

    with SimulatorProcess(SimSettings(latency_ms=100.0), workdir / "sim-budget.log") as sim:
        with machine_namespace("budget") as namespace:
            extra = ("--max-cost", f"{cap_usd:g}", "--budget-name", "bench")
            workers = workers_for(
                workload, seeds, workdir, sim.openai_api_base, redis_url=redis_url, extra=extra, label="budget-"
            )
            finished = run_workers(workers, workdir, namespace, 3600)
            state = budget_status(redis_target(redis_url, namespace), "bench") or {}
    return SharedBudget(
        cap_usd,
        float(state.get("spent_usd", 0.0)),
        int(state.get("reservations_in_flight", 0)),
        [f.returncode for f in finished],
        [f.last_line for f in finished],
    )


@dataclass
class RedisKill:
    persistent: bool
    stop_s: list[float]  # from the kill to each worker's exit
    returncodes_at_kill: list[int]
    errors_at_kill: list[list[str]]  # each worker's "error:" lines
    other_lines_at_kill: list[list[str]]  # anything else it printed (with --quiet: warnings only)
    rerun_returncodes: list[int]
    programs_identical_to_clean: bool
    clean_requests: int
    requests_total: int  # both attempts, both workers
    unsaved_at_kill: int  # requests whose answers no worker stored (in flight at the kill)
    repeated_paid_calls: int


def redis_kill(
    workload: Workload,
    workdir: Path,
    *,
    seeds: Sequence[int] = (1, 2),
    kill_at_answers: int = 400,
    persistent: bool = True,
    latency_ms: float = 20.0,
    tpm: int = 50_000_000,
    timeout_s: float = 3600.0,
) -> RedisKill:
    """Kill the Redis server once ``kill_at_answers`` answers are shared, then restart it and rerun both."""
    import redis as redis_client

    from cache import ResponseCache

    with SimulatorProcess(SimSettings(latency_ms=latency_ms), workdir / "sim-kill.log") as sim:
        # The clean runs, one after the other on one cache: each distinct request paid once.
        clean = workers_for(
            workload, seeds, workdir, sim.openai_api_base, label="clean-", one_cache_dir=workdir / "clean"
        )
        clean_done = [run_workers([w], workdir, None, timeout_s)[0] for w in clean]
        clean_requests = int(sim.stats()["requests"])
        sim.reset()
        with RedisServer(workdir / "redis", persist=persistent) as server:
            extra = ("--tpm", str(tpm))  # the shared limiter is in use: losing it must stop the run
            workers = workers_for(
                workload, seeds, workdir, sim.openai_api_base, redis_url=server.url, extra=extra, label="kill-"
            )
            env = optimize_env(OPENAI_API_KEY=SIM_KEY, HSOPT_REDIS_NAMESPACE="kill")
            procs = [OptimizeProcess(w.args, env=env, cwd=workdir) for w in workers]
            probe = redis_client.Redis.from_url(server.url)
            while sum(1 for _ in probe.scan_iter(match="kill:*:cache:*", count=1000)) < kill_at_answers:
                if any(p.proc.poll() is not None for p in procs):
                    raise RuntimeError("a worker ended before the kill point: raise the workload or lower the point")
                time.sleep(0.02)
            probe.close()
            server.kill()
            killed = time.perf_counter()
            stops, codes, error_lines, other_lines = [], [], [], []
            for proc in procs:
                codes.append(proc.finish(timeout=120))
                stops.append(round(time.perf_counter() - killed, 2))
                kept = [line for line in proc.lines if line.strip()]
                error_lines.append([line for line in kept if line.startswith("error:")])
                other_lines.append([line for line in kept if not line.startswith("error:")])
            time.sleep(0.3)
            stored = set()
            for w in workers:
                with ResponseCache(w.cache_dir) as cache:
                    stored.update(cache.keys())
            before_rerun = int(sim.stats()["requests"])
            server.start()  # the same port; with persistence it comes back with what it held
            rerun = run_workers(workers, workdir, "kill", timeout_s)
            total = int(sim.stats()["requests"])
    unsaved = before_rerun - len(stored)
    identical = all(a.program is not None and a.program == b.program for a, b in zip(clean_done, rerun, strict=True))
    return RedisKill(
        persistent=persistent,
        stop_s=stops,
        returncodes_at_kill=codes,
        errors_at_kill=error_lines,
        other_lines_at_kill=other_lines,
        rerun_returncodes=[f.returncode for f in rerun],
        programs_identical_to_clean=identical,
        clean_requests=clean_requests,
        requests_total=total,
        unsaved_at_kill=unsaved,
        repeated_paid_calls=repeated_paid_calls(total, clean_requests, unsaved),
    )


@dataclass
class GatewayCosts:
    """Microseconds per call of ``Gateway.complete`` in this process (wall and CPU), median of the rounds."""

    calls: int
    local_miss_us: dict[str, float]
    local_hit_us: dict[str, float]
    redis_miss_us: dict[str, float]  # cache, lease, limiter on the server (the transport answers at once)
    redis_hit_disk_us: dict[str, float]  # the disk tier answers
    redis_hit_server_us: dict[str, float]  # an empty disk: the server answers (and the disk is filled)


def gateway_costs(workdir: Path, *, calls: int = 500, rounds: int = 3) -> GatewayCosts:
    """What the shared path adds to a call, against the local one, with a transport that answers at once."""
    import asyncio
    import statistics

    from cache import ResponseCache
    from cache.redis import RedisCacheStore, SharedCacheHealth, TieredCache
    from gateway.core import Gateway
    from gateway.leases.redis import RedisLeases
    from gateway.limits import RateLimits
    from gateway.limits.redis import RedisRateLimiter
    from gateway.shared.conn import connect
    from gateway.shared.target import redis_target
    from gateway.testing import ScriptedTransport
    from gateway.types import ChatCall, Endpoint

    endpoint = Endpoint(model="openai/gpt-4o", identity="bench|costs", price_model="gpt-4o")
    prompt = "All interactions will be structured in the following way. " * 20
    limits = RateLimits(rpm=1e9, tpm=1e12)  # never binding, always consulted

    def batch(tag: str) -> list[ChatCall]:
        return [
            ChatCall(
                endpoint, [{"role": "user", "content": f"{prompt}{tag}{i}"}], {"temperature": 0.0, "max_tokens": 256}
            )
            for i in range(calls)
        ]

    async def timed(gateway: Gateway, work: list[ChatCall]) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for item in work:
            await gateway.complete(item)
        return (time.perf_counter() - wall) / len(work) * 1e6, (time.process_time() - cpu) / len(work) * 1e6

    async def one_round(n: int) -> dict[str, tuple[float, float]]:
        found: dict[str, tuple[float, float]] = {}
        work = batch(f"local{n}-")
        with ResponseCache(workdir / f"costs-local-{n}") as disk:
            local = Gateway(ScriptedTransport(), cache=disk)
            found["local_miss"] = await timed(local, work)
            found["local_hit"] = await timed(local, work)
        with machine_namespace("costs") as namespace:
            target = redis_target(MACHINE_REDIS_URL, namespace)
            client = connect(target)
            try:
                work = batch(f"redis{n}-")
                for label, directory in (("first", "a"), ("second", "b")):
                    with ResponseCache(workdir / f"costs-{directory}-{n}") as disk:
                        health = SharedCacheHealth(target.display)
                        store = RedisCacheStore(client, target.prefix)
                        gateway = Gateway(
                            ScriptedTransport(),
                            cache=TieredCache(disk, store, health),
                            leases=RedisLeases(client, target.prefix, store, health),
                            limiter=RedisRateLimiter(client, target, limits),
                        )
                        if label == "first":
                            found["redis_miss"] = await timed(gateway, work)
                            found["redis_hit_disk"] = await timed(gateway, work)
                        else:
                            found["redis_hit_server"] = await timed(gateway, work)
            finally:
                await client.aclose()
        return found

    results = [asyncio.run(one_round(n)) for n in range(rounds)]

    def median(name: str) -> dict[str, float]:
        return {
            "wall": round(statistics.median(r[name][0] for r in results), 1),
            "cpu": round(statistics.median(r[name][1] for r in results), 1),
        }

    return GatewayCosts(
        calls,
        median("local_miss"),
        median("local_hit"),
        median("redis_miss"),
        median("redis_hit_disk"),
        median("redis_hit_server"),
    )


@dataclass
class ReplayTiers:
    """Wall seconds of ``--replay`` of one finished run, by where its answers come from (median of the rounds)."""

    disk_without_redis_s: float
    disk_tier_with_redis_s: float
    redis_with_empty_disk_s: float
    calls: int


def replay_tiers(workload: Workload, workdir: Path, *, rounds: int = 3) -> ReplayTiers:
    import shutil
    import statistics

    with SimulatorProcess(SimSettings(latency_ms=20.0), workdir / "sim-replay.log") as sim:
        with machine_namespace("replay") as namespace:
            [first] = workers_for(workload, [42], workdir, sim.openai_api_base, redis_url=MACHINE_REDIS_URL, label="r-")
            [done] = run_workers([first], workdir, namespace, 3600)
            timings: dict[str, list[float]] = {"disk": [], "tier": [], "server": []}
            for n in range(rounds):
                for name, redis_url, cache_dir in (
                    ("disk", None, first.cache_dir),
                    ("tier", MACHINE_REDIS_URL, first.cache_dir),
                    ("server", MACHINE_REDIS_URL, workdir / f"empty-{n}"),
                ):
                    args = [a for a in first.args if a not in ("--redis-url", MACHINE_REDIS_URL)]
                    args[args.index("--cache-dir") + 1] = str(cache_dir)
                    args[args.index("--out") + 1] = str(workdir / f"replay-{name}-{n}")
                    args += ["--replay"] + (["--redis-url", redis_url] if redis_url else [])
                    replay = Worker(42, cache_dir, workdir / f"replay-{name}-{n}", args)
                    [result] = run_workers([replay], workdir, namespace, 600)
                    if result.returncode != 0:
                        raise RuntimeError(f"the {name} replay failed: {result.last_line}")
                    timings[name].append(result.wall_s)
                shutil.rmtree(workdir / f"empty-{n}", ignore_errors=True)
    return ReplayTiers(
        round(statistics.median(timings["disk"]), 2),
        round(statistics.median(timings["tier"]), 2),
        round(statistics.median(timings["server"]), 2),
        done.live_calls or 0,
    )


# -- the command ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.shared_state", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the small workload instead of the default configuration")
    p.add_argument("--quota-tpm", type=int, default=1_000_000, help="the simulator's TPM quota (1,000,000)")
    p.add_argument("--budget-usd", type=float, default=None, help="the shared cap (default 3.0, 0.3 with --quick)")
    p.add_argument("--only", nargs="*", default=None, help="experiments to run (default: all)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "shared_state.json")
    args = p.parse_args(argv)
    workload = SMALL if args.quick else DEFAULT
    chosen = set(args.only or ["costs", "replay", "throughput", "simultaneous", "budget", "kill"])
    results: dict[str, Any] = {"workload": workload.name, "load_before": os.getloadavg()[0]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="shared-state-") as tmp:
        workdir = Path(tmp)
        if "costs" in chosen:
            results["gateway_costs"] = asdict(gateway_costs(workdir))
            _print("per call, in-process (microseconds)", results["gateway_costs"])
        if "replay" in chosen:
            results["replay_tiers"] = asdict(replay_tiers(workload, workdir))
            _print("--replay of one run, by tier (seconds)", results["replay_tiers"])
        if "throughput" in chosen:
            local, _ = throughput(workload, workdir, quota_tpm=args.quota_tpm, redis_url=None, namespace=None)
            results["throughput_local"] = asdict(local)
            _print("4 workers, no Redis", results["throughput_local"])
            with machine_namespace("throughput") as namespace:
                shared, rerun = throughput(
                    workload,
                    workdir,
                    quota_tpm=args.quota_tpm,
                    redis_url=MACHINE_REDIS_URL,
                    namespace=namespace,
                    cold_rerun=True,
                )
            results["throughput_redis"] = asdict(shared)
            _print("4 workers, one Redis", results["throughput_redis"])
            results["cold_rerun"] = asdict(rerun) if rerun is not None else None
            _print("the same 4 again, new processes, empty local caches", results["cold_rerun"] or {})
        if "simultaneous" in chosen:
            results["simultaneous"] = asdict(simultaneous(workload, workdir, redis_url=MACHINE_REDIS_URL))
            _print("two workers at the same instant", results["simultaneous"])
        if "budget" in chosen:
            cap = args.budget_usd if args.budget_usd is not None else (0.3 if args.quick else 3.0)
            results["shared_budget"] = asdict(
                shared_budget(workload, workdir, redis_url=MACHINE_REDIS_URL, cap_usd=cap)
            )
            _print("3 workers, one budget", results["shared_budget"])
        if "kill" in chosen:
            point = 60 if args.quick else 1500
            results["redis_kill"] = asdict(redis_kill(workload, workdir, kill_at_answers=point))
            _print("Redis killed under 2 workers", results["redis_kill"])
    results["load_after"] = os.getloadavg()[0]
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nfigures: {args.out}")
    return 0


def _print(title: str, figures: dict[str, Any]) -> None:
    print(f"\n== {title}")
    for name, value in figures.items():
        if name != "workers":
            print(f"  {name}: {value}")
    for worker in figures.get("workers", []):
        print(f"  worker {worker}")


if __name__ == "__main__":
    sys.exit(main())
