"""Measure what a model endpoint sustains through the gateway, before committing to a long run.

    python scripts/loadtest.py                                   # the embedded simulator
    python scripts/loadtest.py --model azure/my-gpt4o --requests 200 --concurrency 16 --tpm 150000
    python scripts/loadtest.py --model openai/gpt-4o --api-base http://127.0.0.1:8000/v1 --api-key x --json

Every request goes through the same gateway an optimization run uses (cache, concurrency bound,
client-side rate limits, retries that honour Retry-After), so the figures are what a run will see:
success count, attempts and retries, 429s received, p50/p95 latency, wall time and throughput, and the
requests and tokens per minute to ask of a quota.

Cache: unless ``--cache-dir`` is given, the gateway caches into a fresh temporary directory that is
deleted at exit, so a load test never reads from or writes into the run cache (``.cache/llm`` or
``$HSOPT_CACHE_DIR``). Every run also tags its prompts with a random token, so even a reused
``--cache-dir`` produces live calls. With ``--repeat`` every request is the same prompt: one live
call, the rest answered by in-flight sharing or the cache, which measures the gateway's own path.
One uncounted warm-up request (max_tokens 1) goes first, so LiteLLM's one-time start-up (about a
second) does not distort the figures; it goes through the gateway's retry path with the same policy
as the measured requests (a 429 at the start is waited out, not taken for a broken endpoint).

Shared quota: with ``--redis-url`` (or ``HSOPT_REDIS_URL``) the requests are admitted by the
deployment's shared rate limiter, as the optimization workers using that server are (give the same
``--rpm``/``--tpm``); the answers still go to the load test's private cache, never the shared one.

Exit status: 0 when every request succeeded, 1 when any failed, 2 for a usage mistake (bad flag,
missing credentials, unknown model), reported as one ``error: ...`` line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from cache import CachePolicy
from gateway import config as gw_config
from gateway import errors
from gateway.core import Gateway
from gateway.limits import RateLimits
from gateway.logs import configure_logging, known_secrets, redact, register_secret
from gateway.retry import RetryPolicy
from gateway.runtime import GatewaySettings, Runtime
from gateway.shared.target import add_redis_flag, target_from_flag
from gateway.transports import Transport
from gateway.transports.litellm import LiteLLMTransport
from gateway.types import ChatCall, Endpoint

PROMPT = (
    "In three or four sentences, explain to a new engineer why a response cache in front of a "
    "language model saves money during prompt optimization."
)


class UsageError(Exception):
    """A mistake in the flags: reported as one line, exit status 2."""


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose mistakes end as one ``error: ...`` line, without the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def _number(kind: type, minimum: float, inclusive: bool) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a {'whole ' if kind is int else ''}number, got {text!r}"
            ) from None
        if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(
                f"must be {'at least' if inclusive else 'more than'} {minimum:g}, got {text}"
            )
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="loadtest.py", description="Load-test a model endpoint through the caching gateway.")
    p.add_argument(
        "--model",
        help="LiteLLM model, e.g. azure/<deployment> or openai/gpt-4o (default: the Azure "
        "deployment in the environment, else the simulator); 'simulator' forces the "
        "embedded simulator",
    )
    p.add_argument("--api-base", help="API base URL of the model")
    p.add_argument("--api-key", help="API key (default: the provider's variable in the environment); never printed")
    p.add_argument("--requests", type=_number(int, 1, True), default=200, metavar="N", help="requests to send (200)")
    p.add_argument(
        "--concurrency", type=_number(int, 1, True), default=16, metavar="C", help="requests in flight at once (16)"
    )
    p.add_argument("--rpm", type=_number(float, 0, False), help="client-side requests-per-minute limit")
    p.add_argument("--tpm", type=_number(float, 0, False), help="client-side tokens-per-minute limit")
    p.add_argument("--max-tokens", type=_number(int, 1, True), default=256, help="max_tokens of each request (256)")
    p.add_argument("--repeat", action="store_true", help="send the same prompt every time (measures cache hits)")
    p.add_argument(
        "--sim-latency-ms",
        type=_number(float, 0, True),
        metavar="MS",
        help="median latency of the embedded simulator (its default: 20)",
    )
    p.add_argument(
        "--timeout-s",
        type=_number(float, 0, False),
        default=60.0,
        metavar="S",
        help="per-attempt timeout in seconds (60)",
    )
    p.add_argument(
        "--max-attempts",
        type=_number(int, 1, True),
        default=RetryPolicy().max_attempts,
        help="attempts per request that fail without being told to wait, first included "
        f"({RetryPolicy().max_attempts})",
    )
    p.add_argument(
        "--max-wait-s",
        type=_number(float, 0, True),
        default=RetryPolicy().max_wait_s,
        metavar="S",
        help="how long a request keeps retrying while the endpoint answers 429 or asks to wait, in seconds "
        f"of waiting ({RetryPolicy().max_wait_s:g})",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        help="cache directory (default: a fresh temporary directory, deleted at "
        "exit, so the run cache is never read or written)",
    )
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    add_redis_flag(p)
    return p


# -- measuring -----------------------------------------------------------------------------------
class CountingTransport:
    """Wraps the real transport to count every attempt, every 429 and each attempt's duration."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.attempts = 0
        self.rate_limited = 0
        self.attempt_errors: Counter[str] = Counter()
        self.attempt_s: list[float] = []

    async def send(self, call: ChatCall) -> dict[str, Any]:
        self.attempts += 1
        started = time.perf_counter()
        try:
            return await self.inner.send(call)
        except errors.GatewayError as exc:
            if isinstance(exc, errors.RateLimited):
                self.rate_limited += 1
            self.attempt_errors[type(exc).__name__] += 1
            raise
        finally:
            self.attempt_s.append(time.perf_counter() - started)


@dataclass(frozen=True)
class Outcome:
    """One request as its caller saw it: latency through the gateway (retries and waits included)."""

    latency_s: float
    error: errors.GatewayError | None = None
    cached: bool = False


async def drive(gateway: Gateway, calls: list[ChatCall], workers: int) -> tuple[list[Outcome], float]:
    """Send ``calls`` from ``workers`` closed-loop workers; return each outcome and the wall time."""
    pending = iter(calls)  # shared by the workers; safe because they all run on one event loop
    outcomes: list[Outcome] = []

    async def worker() -> None:
        for call in pending:
            started = time.perf_counter()
            try:
                completion = await gateway.complete(call)
            except errors.GatewayError as exc:
                outcomes.append(Outcome(time.perf_counter() - started, error=exc))
            else:
                outcomes.append(Outcome(time.perf_counter() - started, cached=completion.cached))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(workers, len(calls)))))
    return outcomes, time.perf_counter() - started


async def warm_up(transport: Transport, endpoint: Endpoint, retry: RetryPolicy) -> float:
    """Send one uncounted request (max_tokens 1) so LiteLLM's one-time start-up stays out of the figures.

    It goes through a gateway of its own (no cache, its own ledger) with the measured requests' retry
    policy, so it is retried exactly as they are but counted nowhere.
    """
    call = ChatCall(
        endpoint,
        [{"role": "user", "content": f"[load test warm-up {secrets.token_hex(4)}] ping"}],
        {"max_tokens": 1, "temperature": 0.0},
    )
    gateway = Gateway(transport, policy=CachePolicy.OFF, concurrency=1, retry=retry)
    started = time.perf_counter()
    with contextlib.suppress(errors.GatewayError):  # a broken endpoint shows up in the measured requests
        await gateway.complete(call)
    return time.perf_counter() - started


def percentile_ms(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile of ``values`` (seconds) in milliseconds; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1] * 1000, 2)


def make_calls(endpoint: Endpoint, requests: int, max_tokens: int, repeat: bool) -> list[ChatCall]:
    tag = secrets.token_hex(4)  # fresh prompts per run: a reused --cache-dir still gets live calls
    params = {"max_tokens": max_tokens, "temperature": 0.0}
    texts = [f"[load test {tag}] {PROMPT}" if repeat else f"[load test {tag} #{i}] {PROMPT}" for i in range(requests)]
    return [ChatCall(endpoint, [{"role": "user", "content": text}], params) for text in texts]


def summarize(
    outcomes: list[Outcome],
    wall_s: float,
    transport: CountingTransport,
    runtime: Runtime,
    *,
    model: str,
    backend: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The report: the contract keys first (see the module docstring), then extras for sizing."""
    ok = [o for o in outcomes if o.error is None]
    failed = [o for o in outcomes if o.error is not None]
    totals = runtime.ledger.total()
    minutes = wall_s / 60 if wall_s > 0 else float("nan")
    first_error = next((o.error for o in failed if not isinstance(o.error, errors.RunAborted)), None)
    if first_error is None and failed:
        first_error = failed[0].error
    report: dict[str, Any] = {
        "ok": len(ok),
        "failed": len(failed),
        "attempts": transport.attempts,
        "retries": totals.retries,
        "rate_limited": transport.rate_limited,
        "p50_ms": percentile_ms([o.latency_s for o in ok], 50),
        "p95_ms": percentile_ms([o.latency_s for o in ok], 95),
        "wall_s": round(wall_s, 3),
        "throughput_rps": round(len(ok) / wall_s, 2) if wall_s > 0 else None,
        # extras
        "requests": len(outcomes),
        "model": model,
        "backend": backend,
        "concurrency": args.concurrency,
        "repeat": args.repeat,
        "max_tokens": args.max_tokens,
        "rpm_limit": args.rpm,
        "tpm_limit": args.tpm,
        "cached": sum(1 for o in ok if o.cached),
        "max_in_flight": runtime.gateway.max_in_flight,
        "attempt_p50_ms": percentile_ms(transport.attempt_s, 50),
        "attempt_p95_ms": percentile_ms(transport.attempt_s, 95),
        "limiter_wait_s": round(runtime.gateway.limiter.waited_s, 3),
        # Time admissions waited on the quota the endpoint reports in its rate-limit headers.
        "pacing_wait_s": round(runtime.gateway.pacing.waited_s, 3),
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "requests_per_min": round(transport.attempts / minutes, 1) if wall_s > 0 else None,
        "tokens_per_min": round((totals.prompt_tokens + totals.completion_tokens) / minutes) if wall_s > 0 else None,
        # Azure charges a request's max_tokens against the TPM quota when it is admitted, not what it used.
        "quota_tokens_per_min": (
            round((totals.prompt_tokens + args.max_tokens * totals.live_calls) / minutes) if wall_s > 0 else None
        ),
        "cost_usd": round(totals.cost_usd, 6) if totals.unpriced_calls == 0 else None,
        "errors": dict(Counter(type(o.error).__name__ for o in failed)),
        "attempt_errors": dict(transport.attempt_errors),
        "first_error": redact(str(first_error), known_secrets()) if first_error is not None else None,
    }
    return report


def format_report(r: dict[str, Any]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    limits = (
        ", ".join(
            f"{name} {r[key]:g}" for name, key in (("rpm", "rpm_limit"), ("tpm", "tpm_limit")) if r[key] is not None
        )
        or "no client limits"
    )
    lines = [
        (
            f"load test: {r['requests']} requests to {r['model']} ({r['backend']}), concurrency {r['concurrency']}, "
            f"max_tokens {r['max_tokens']}, {limits}"
        ),
        f"  succeeded    {r['ok']} of {r['requests']}" + (f"  ({r['cached']} cached)" if r["cached"] else ""),
        f"  attempts     {r['attempts']}  ({r['retries']} retries, {r['rate_limited']} answered 429)",
        (
            f"  latency      p50 {ms(r['p50_ms'])}, p95 {ms(r['p95_ms'])} per request "
            f"(per attempt: p50 {ms(r['attempt_p50_ms'])}, p95 {ms(r['attempt_p95_ms'])})"
        ),
        (
            f"  wall time    {r['wall_s']:.2f} s  (client limiter waited {r['limiter_wait_s']:.2f} s, pacing to the "
            f"endpoint's reported quota {r['pacing_wait_s']:.2f} s)"
        ),
        f"  throughput   {r['throughput_rps'] or 0:.2f} req/s",
    ]
    if r["requests_per_min"] is not None:
        lines.append(
            f"  quota used   {r['requests_per_min']:,.0f} requests/min, {r['tokens_per_min']:,} tokens/min "
            f"({r['quota_tokens_per_min']:,} as Azure counts it: prompt + max_tokens)"
        )
    if r["p50_ms"]:
        per_slot = 1000.0 / r["p50_ms"]
        lines.append(
            f"  sizing       one slot does ~{per_slot:.1f} req/s at this latency; "
            f"{r['concurrency']} slots ~{per_slot * r['concurrency']:.0f} req/s unless a limit binds"
        )
    if r["ok"] and r["wall_s"] >= 0.5 and r["client_cpu_s"] / r["wall_s"] > 0.8:
        lines.append(
            f"  note         this process was CPU-bound ({r['client_cpu_s']:.1f} s CPU in {r['wall_s']:.1f} s"
            + (", the simulator included" if r["backend"] == "simulator" else "")
            + "): the endpoint may sustain more than measured"
        )
    if (r["rpm_limit"] or r["tpm_limit"]) and r["limiter_wait_s"] == 0:
        lines.append(
            f"  note         the client limiter never had to wait: {r['requests']} requests fit in its burst "
            f"allowance ({RateLimits().burst_s:g} s of quota); send more to measure the sustained rate"
        )
    if r["cost_usd"] is not None:
        lines.append(f"  cost         ${r['cost_usd']:.4f}")
    if r["failed"]:
        kinds = ", ".join(f"{name} {count}" for name, count in sorted(r["errors"].items()))
        lines.append(f"  FAILED       {r['failed']} requests: {kinds}")
        lines.append(f"  first error  {r['first_error']}")
    return "\n".join(lines)


# -- wiring --------------------------------------------------------------------------------------
def check_flags(args: argparse.Namespace, model: str) -> None:
    """Refuse flags that do not fit the chosen backend (before anything slow is loaded)."""
    if model == gw_config.SIMULATOR:
        for flag, value in (("--api-base", args.api_base), ("--api-key", args.api_key)):
            if value:
                raise UsageError(
                    f"{flag} applies to a real model; the simulator is started in-process (name a model with --model)"
                )
    elif args.sim_latency_ms is not None:
        raise UsageError("--sim-latency-ms applies only to the simulator (--model simulator)")


def open_target(args: argparse.Namespace, model: str, stack: contextlib.ExitStack) -> tuple[Endpoint, str]:
    """The endpoint to load and the backend's name; starts the simulator when no real model is named."""
    if model == gw_config.SIMULATOR:
        from simulator import SIM_VERSION, SimConfig, Simulator

        config = SimConfig() if args.sim_latency_ms is None else SimConfig(latency_ms=args.sim_latency_ms)
        sim = stack.enter_context(Simulator(config))
        return gw_config.simulator_endpoint(sim.openai_api_base, SIM_VERSION, timeout_s=args.timeout_s), "simulator"
    register_secret(args.api_key)
    endpoint = gw_config.resolve_endpoint(model, api_base=args.api_base, api_key=args.api_key, timeout_s=args.timeout_s)
    register_secret(endpoint.api_key)
    if endpoint.api_key is None:
        _check_provider_key(model)
    return endpoint, "live"


def _check_provider_key(model: str) -> None:
    """Refuse to start when the provider's key variable is unset (``resolve_endpoint`` skips this check
    when an API base is given, and the SDK's complaint would otherwise be retried as a server error)."""
    import litellm

    try:
        missing = litellm.validate_environment(model=model).get("missing_keys") or []
    except Exception:  # a provider LiteLLM cannot check: let the first request tell
        return
    if missing:
        raise UsageError(f"model {model!r} needs credentials: pass --api-key or set {', '.join(missing)}")


def run_load(args: argparse.Namespace) -> dict[str, Any]:
    """Start the target and the gateway, send the requests, and return the report."""
    model = args.model or gw_config.default_model()
    check_flags(args, model)
    with contextlib.ExitStack() as stack:
        # Created first: it quiets LiteLLM, which would otherwise print a banner when a model name is unknown.
        transport = CountingTransport(LiteLLMTransport())
        endpoint, backend = open_target(args, model, stack)
        cache_dir = args.cache_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loadtest-cache-")))
        settings = GatewaySettings(
            concurrency=args.concurrency,
            cache_dir=cache_dir,
            policy=CachePolicy.READ_WRITE,
            limits=RateLimits(rpm=args.rpm, tpm=args.tpm),
            retry=RetryPolicy(max_attempts=args.max_attempts, max_wait_s=args.max_wait_s),
            # With a Redis server the load test shares the deployment's rate limits with the workers
            # using it; its own throwaway answers stay in its private cache.
            redis=target_from_flag(args.redis_url),
            share_cache=False,
        )
        runtime = stack.enter_context(Runtime(settings, transport=transport))
        calls = make_calls(endpoint, args.requests, args.max_tokens, args.repeat)
        warmup_s = runtime.loop.run(warm_up(transport.inner, endpoint, settings.retry))
        cpu_started = time.process_time()
        outcomes, wall_s = runtime.loop.run(drive(runtime.gateway, calls, args.concurrency))
        cpu_s = time.process_time() - cpu_started
        report = summarize(outcomes, wall_s, transport, runtime, model=endpoint.model, backend=backend, args=args)
        report["warmup_ms"] = round(warmup_s * 1000, 1)
        report["client_cpu_s"] = round(cpu_s, 3)
        return report


def main(argv: list[str] | None = None) -> int:
    gw_config.load_env()
    args = build_parser().parse_args(argv)
    configure_logging(level=logging.WARNING)
    try:
        # LiteLLM can print to stdout; keep stdout for the report alone (one JSON object with --json).
        with contextlib.redirect_stdout(sys.stderr):
            report = run_load(args)
    except (UsageError, errors.ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(json.dumps(report, sort_keys=False) if args.json else format_report(report), flush=True)
    return 0 if report["failed"] == 0 else 1
