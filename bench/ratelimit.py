"""Rate-limit benchmark: how close the gateway runs to a provider's tokens-per-minute quota.

A load generator keeps ``--concurrency`` distinct requests in flight through our gateway (cache off,
our retries honouring Retry-After) against a simulator that enforces a TPM quota, with the gateway's
client-side limiter set to the same quota or turned off. It reports the quota tokens admitted per
minute in the steady-state window (after ``--warmup-s``), as a share of the quota, and how many
requests the server answered 429.

The simulator charges a request at admission as prompt tokens plus ``max_tokens`` (as Azure does); a
completed request reports exactly that prompt count in ``usage.prompt_tokens``, so the charge of
every admitted request is known here. A recording wrapper around the real transport notes when each
answered attempt was sent, which is when the server admitted it. Run as its own process:
``python -m bench.ratelimit ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from cache import CachePolicy  # noqa: E402  (after the set-up above)
from evaluation.data import load_rows  # noqa: E402  (after the set-up above)
from gateway import errors  # noqa: E402  (after the set-up above)
from gateway.config import resolve_endpoint  # noqa: E402  (after the set-up above)
from gateway.limits import RateLimits  # noqa: E402  (after the set-up above)
from gateway.runtime import GatewaySettings, Runtime  # noqa: E402  (after the set-up above)
from gateway.transports import Transport  # noqa: E402  (after the set-up above)
from gateway.transports.litellm import LiteLLMTransport  # noqa: E402  (after the set-up above)
from gateway.types import ChatCall  # noqa: E402  (after the set-up above)

MAX_TOKENS = 256


class RecordingTransport:
    """The real transport, noting the send time and quota charge of every answered attempt."""

    def __init__(self, inner: Transport, started: float) -> None:
        self.inner = inner
        self.started = started
        self.admitted: list[tuple[float, int]] = []  # (seconds since start when sent, quota tokens charged)

    async def send(self, call: ChatCall) -> dict[str, Any]:
        sent = time.monotonic() - self.started
        response = await self.inner.send(call)
        usage = response.get("usage") or {}
        self.admitted.append((sent, int(usage.get("prompt_tokens") or 0) + MAX_TOKENS))
        return response


async def _drive(
    runtime: Runtime,
    recorder: RecordingTransport,
    calls: list[ChatCall],
    concurrency: int,
    duration_s: float,
    warmup_s: float,
) -> dict[str, Any]:
    started = recorder.started
    deadline = started + duration_s
    next_call = 0
    completed = 0
    failed: dict[str, int] = {}

    async def worker() -> None:
        nonlocal next_call, completed
        while time.monotonic() < deadline:
            call = calls[next_call % len(calls)]
            next_call += 1
            try:
                await runtime.gateway.complete(call)
            except errors.GatewayError as exc:
                failed[type(exc).__name__] = failed.get(type(exc).__name__, 0) + 1
                continue
            completed += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    # The window ends at the deadline: after it, no new request starts, only retries drain.
    window = [tokens for at, tokens in recorder.admitted if warmup_s <= at < duration_s]
    window_min = max(1e-9, (duration_s - warmup_s) / 60.0)
    return {
        "elapsed_s": round(elapsed, 2),
        "completed": completed,
        "failed": failed,
        "window_s": round(duration_s - warmup_s, 2),
        "window_tokens": sum(window),
        "window_tpm": round(sum(window) / window_min, 1),
        "gateway_retries": runtime.ledger.total().retries,
        "limiter_waited_s": round(runtime.gateway.limiter.waited_s, 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.simctl import read_stats

    endpoint = resolve_endpoint("openai/gpt-4o", api_base=args.api_base, api_key="sim-local-key", price_model="gpt-4o")
    prompts = [row.prompt for row in load_rows(args.dataset).rows]
    # Distinct bodies (a serial number in each) so that neither cache nor in-flight sharing can answer.
    calls = [
        ChatCall(
            endpoint,
            [{"role": "user", "content": f"{prompts[i % len(prompts)]}\n\n(request {i})"}],
            {"max_tokens": MAX_TOKENS, "temperature": 0.0},
        )
        for i in range(20_000)
    ]
    limits = RateLimits(tpm=args.tpm) if args.client_limit else RateLimits()
    settings = GatewaySettings(concurrency=args.concurrency, policy=CachePolicy.OFF, limits=limits)
    before = read_stats(args.api_base)
    recorder = RecordingTransport(LiteLLMTransport(), time.monotonic())
    with Runtime(settings, transport=recorder) as runtime:
        recorder.started = time.monotonic()
        figures = runtime.loop.run(_drive(runtime, recorder, calls, args.concurrency, args.duration_s, args.warmup_s))
    after = read_stats(args.api_base)
    requests = after["requests"] - before["requests"]
    rate_limited = after["rate_limited"] - before["rate_limited"]
    figures.update(
        {
            "client_limit": args.client_limit,
            "tpm_limit": args.tpm,
            "concurrency": args.concurrency,
            "server_requests": requests,
            "server_rate_limited": rate_limited,
            "share_429": round(rate_limited / requests, 4) if requests else 0.0,
            "share_of_limit": round(figures["window_tpm"] / args.tpm, 4),
        }
    )
    return figures


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Tokens per minute achieved against a TPM-limited simulator.")
    p.add_argument("--api-base", required=True, help="OpenAI-style base URL of a simulator with --tpm set")
    p.add_argument("--tpm", type=float, required=True, help="the simulator's TPM quota")
    p.add_argument("--client-limit", action="store_true", help="turn the gateway's TPM limiter on at --tpm")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration-s", type=float, default=60.0)
    p.add_argument("--warmup-s", type=float, default=10.0, help="left out of the measured window")
    p.add_argument("--dataset", default=str(ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl"))
    p.add_argument("--result", type=Path, required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result = run(args)
    args.result.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
