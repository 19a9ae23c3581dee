"""The load test's measuring and reporting in-process, over a scripted transport.

The command as a user runs it (flags, exit status, the simulator) is tested in ``test_loadtest.py``.
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

import pytest

from cache import CachePolicy
from gateway import errors
from gateway.core import Gateway
from gateway.facade import GatewayLoop
from gateway.retry import RetryPolicy
from gateway.testing import ScriptedTransport, chat_response
from gateway.types import Endpoint
from optimizer import loadtest

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="loadtest|v1", price_model="gpt-4o")


async def no_wait(_: float) -> None:
    return None


def args(*flags: str) -> argparse.Namespace:
    return loadtest.build_parser().parse_args(list(flags))


def run(transport: ScriptedTransport, calls: int, *flags: str) -> dict[str, Any]:
    """Drive ``calls`` requests through a cacheless gateway and summarize them as the command does."""
    options = args(*flags)
    counting = loadtest.CountingTransport(transport)
    gateway = Gateway(
        counting, policy=CachePolicy.OFF, concurrency=options.concurrency, retry=RetryPolicy(), sleep=no_wait
    )
    loop = GatewayLoop()
    try:
        requests = loadtest.make_calls(ENDPOINT, calls, options.max_tokens, options.repeat)
        outcomes, wall_s = loop.run(loadtest.drive(gateway, requests, options.concurrency))
    finally:
        loop.close()
    runtime: Any = SimpleNamespace(ledger=gateway.ledger, gateway=gateway)
    report = loadtest.summarize(
        outcomes, wall_s, counting, runtime, model=ENDPOINT.model, backend="scripted", args=options
    )
    report["client_cpu_s"] = 0.0
    return report


def test_percentile_is_nearest_rank_in_milliseconds():
    seconds = [i / 1000 for i in range(10, 0, -1)]  # 10 ms .. 1 ms, unordered on purpose
    assert loadtest.percentile_ms(seconds, 50) == 5.0
    assert loadtest.percentile_ms(seconds, 95) == 10.0
    assert loadtest.percentile_ms(seconds, 1) == 1.0
    assert loadtest.percentile_ms([], 50) is None


def test_calls_are_distinct_per_request_and_per_run_unless_repeated():
    first = loadtest.make_calls(ENDPOINT, 5, 64, repeat=False)
    second = loadtest.make_calls(ENDPOINT, 5, 64, repeat=False)
    texts = [c.messages[0]["content"] for c in first]
    assert len(set(texts)) == 5
    assert not set(texts) & {c.messages[0]["content"] for c in second}  # a reused cache still gets live calls
    assert all(c.params == {"max_tokens": 64, "temperature": 0.0} for c in first)
    repeated = loadtest.make_calls(ENDPOINT, 5, 64, repeat=True)
    assert len({c.messages[0]["content"] for c in repeated}) == 1


def test_report_counts_attempts_retries_429s_and_failures():
    transport = ScriptedTransport(
        [errors.RateLimited("slow down", retry_after=0.0), errors.BadRequest("no")],
        fallback=lambda call: chat_response("ok", prompt_tokens=7, completion_tokens=3),
    )
    report = run(transport, 6, "--concurrency", "1", "--max-tokens", "32")
    assert (report["ok"], report["failed"], report["requests"]) == (5, 1, 6)
    assert (report["attempts"], report["retries"], report["rate_limited"]) == (7, 1, 1)
    assert report["errors"] == {"BadRequest": 1}
    assert report["attempt_errors"] == {"RateLimited": 1, "BadRequest": 1}
    assert report["first_error"] == "no"
    assert (report["prompt_tokens"], report["completion_tokens"]) == (35, 15)
    assert report["max_in_flight"] == 1
    assert report["p50_ms"] is not None and report["p50_ms"] <= report["p95_ms"]
    text = loadtest.format_report(report)
    assert "succeeded    5 of 6" in text
    assert "7  (1 retries, 1 answered 429)" in text
    assert "FAILED       1 requests: BadRequest 1" in text


def test_workers_never_exceed_the_concurrency():
    transport = ScriptedTransport(delay_s=0.01)
    report = run(transport, 12, "--concurrency", "3")
    assert report["ok"] == 12 and report["failed"] == 0
    assert transport.max_in_flight == 3


def test_a_client_limit_that_never_waited_says_so():
    report = run(ScriptedTransport(), 3, "--rpm", "6000")
    assert report["rpm_limit"] == 6000 and report["limiter_wait_s"] == 0
    assert "the client limiter never had to wait" in loadtest.format_report(report)
    assert "FAILED" not in loadtest.format_report(report)


@pytest.mark.parametrize(
    ("model", "flags", "message"),
    [
        ("simulator", ["--api-key", "k"], "--api-key applies to a real model"),
        ("simulator", ["--api-base", "http://127.0.0.1:1/v1"], "--api-base applies to a real model"),
        ("openai/gpt-4o", ["--sim-latency-ms", "5"], "--sim-latency-ms applies only to the simulator"),
    ],
)
def test_flags_that_do_not_fit_the_backend_are_refused(model, flags, message):
    with pytest.raises(loadtest.UsageError, match=message):
        loadtest.check_flags(args(*flags), model)


def test_flags_that_fit_the_backend_pass():
    loadtest.check_flags(args("--sim-latency-ms", "5"), "simulator")
    loadtest.check_flags(args("--api-key", "k", "--api-base", "http://127.0.0.1:1/v1"), "openai/gpt-4o")
