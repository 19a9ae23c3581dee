"""Patience measured in time: "later" answers are retried while the waits fit the budget, other failures
a bounded number of times; every wait the provider names is honoured, from every status that names one.

Waits go through a ``VirtualClock`` (nothing sleeps), except over loopback where the asked waits are
a few hundredths of a second.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections import Counter
from typing import Any

import pytest
from aiohttp import web

from cache import CachePolicy
from gateway import errors
from gateway.config import resolve_endpoint
from gateway.core import Gateway
from gateway.retry import RetryPolicy
from gateway.testing import ScriptedTransport, VirtualClock, chat_response
from gateway.transports import Transport
from gateway.transports.headers import parse_duration, quota_reading, retry_after_from_headers, throttle_wait
from gateway.transports.http import OpenAIHTTPTransport, ProviderHTTPError, map_http_error
from gateway.transports.litellm import LiteLLMTransport
from gateway.types import ChatCall, Endpoint
from optimizer.loadtest import warm_up

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="test|v1", price_model="gpt-4o")


def call(text: str = "hello") -> ChatCall:
    return ChatCall(ENDPOINT, [{"role": "user", "content": text}], {"temperature": 0.0, "max_tokens": 20})


def gateway(steps: list[Any], retry: RetryPolicy) -> tuple[Gateway, ScriptedTransport, VirtualClock]:
    transport = ScriptedTransport(steps)
    clock = VirtualClock()
    return Gateway(transport, policy=CachePolicy.OFF, retry=retry, clock=clock, sleep=clock.sleep), transport, clock


# -- the policy -----------------------------------------------------------------------------------
def test_a_429_is_retried_beyond_the_attempt_count_while_the_waits_fit_the_budget():
    policy = RetryPolicy(max_attempts=3, max_wait_s=60.0)
    steps = [errors.RateLimited("429", retry_after=1.0)] * 20 + [chat_response("ok")]
    gw, transport, clock = gateway(steps, policy)
    completion = asyncio.run(gw.complete(call()))
    assert completion.text == "ok" and len(transport.sent) == 21  # far more than max_attempts
    assert len(clock.sleeps) == 20 and min(clock.sleeps) >= 1.0
    assert gw.ledger.total().retries == 20


def test_a_429_that_keeps_coming_gives_up_once_the_waits_would_pass_the_budget():
    policy = RetryPolicy(max_attempts=3, max_wait_s=10.0)
    gw, transport, clock = gateway([errors.RateLimited("HTTP 429: busy", retry_after=1.0)] * 100, policy)
    with pytest.raises(errors.RateLimited) as info:
        asyncio.run(gw.complete(call()))
    assert sum(clock.sleeps) <= 10.0  # never slept past the budget
    assert sum(clock.sleeps) + 1.0 > 10.0 - max(clock.sleeps)  # and stopped only when the next wait did not fit
    assert len(transport.sent) == len(clock.sleeps) + 1 > 3
    message = str(info.value)
    assert message.startswith("HTTP 429: busy") and "gave up after" in message and "--max-wait-s 10" in message


def test_failures_that_name_no_wait_stay_bounded_in_attempts_whatever_time_is_left():
    policy = RetryPolicy(max_attempts=4, max_wait_s=10_000.0)
    gw, transport, clock = gateway([errors.Unavailable("HTTP 500: oops")] * 10, policy)
    with pytest.raises(errors.Unavailable, match=r"gave up after 4 attempts: 4 attempts failed"):
        asyncio.run(gw.complete(call()))
    assert len(transport.sent) == 4 and len(clock.sleeps) == 3


def test_only_failures_without_a_wait_count_against_the_attempts():
    policy = RetryPolicy(max_attempts=2, max_wait_s=100.0)
    steps = [
        errors.Unavailable("500"),
        errors.RateLimited("429", retry_after=0.5),
        errors.Unavailable("503", retry_after=0.5),  # a 503 that names its wait is a "later" too
        errors.RateLimited("429"),  # a 429 without any hint is still a "later"
        chat_response("ok"),
    ]
    gw, transport, _ = gateway(steps, policy)
    assert asyncio.run(gw.complete(call())).text == "ok"
    assert len(transport.sent) == 5


def test_every_status_that_names_a_wait_is_waited_at_least_that_long_with_jitter_on_top():
    policy = RetryPolicy(max_wait_s=1000.0)
    asked = [3.0, 2.0, 7.5, 1.25]
    steps = [
        errors.Unavailable("503", retry_after=asked[0]),
        errors.RequestTimeout("504", retry_after=asked[1]),
        errors.RateLimited("429", retry_after=asked[2]),
        errors.Unavailable("409", retry_after=asked[3]),
        chat_response("ok"),
    ]
    gw, _, clock = gateway(steps, policy)
    asyncio.run(gw.complete(call()))
    for slept, wanted in zip(clock.sleeps, asked, strict=True):
        assert wanted <= slept <= wanted + policy.base_s + policy.jitter_share * wanted
    assert any(slept > wanted for slept, wanted in zip(clock.sleeps, asked, strict=True))  # jitter is there


def test_jitter_spreads_callers_told_the_same_wait():
    policy = RetryPolicy()
    rng = random.Random(42)
    waits = [policy.wait_s(1, errors.RateLimited("429", retry_after=1.0), rng) for _ in range(200)]
    assert min(waits) >= 1.0 and max(waits) <= 1.0 + policy.base_s + policy.jitter_share
    assert max(waits) - min(waits) > 0.4  # spread over most of the jitter range


def test_a_wait_beyond_the_cap_is_never_slept():
    policy = RetryPolicy(max_retry_after_s=60.0)
    gw, transport, clock = gateway([errors.Unavailable("503", retry_after=600.0)], policy)
    with pytest.raises(errors.Unavailable, match="more than the 60 s cap"):
        asyncio.run(gw.complete(call()))
    assert len(transport.sent) == 1 and clock.sleeps == []
    gw, transport, clock = gateway([errors.RateLimited("429", retry_after=600.0)], policy)
    with pytest.raises(errors.QuotaExhausted):
        asyncio.run(gw.complete(call()))
    assert clock.sleeps == []


# -- the headers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.25", 0.25), ("12", 12.0), (".5s", 0.5)],
)
def test_reset_durations_are_read_in_both_forms_providers_use(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 s", "-1", "1x", "nan", "s"])
def test_an_unreadable_duration_is_no_duration(text):
    assert parse_duration(text) is None


def test_retry_after_ms_wins_and_an_http_date_is_read():
    assert retry_after_from_headers({"Retry-After": "3", "retry-after-ms": "1500"}) == 1.5
    assert retry_after_from_headers({"retry-after": "3"}) == 3.0
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_from_headers({"Retry-After": date}, now=now) == pytest.approx(30, abs=1.0)
    assert retry_after_from_headers({"Retry-After": "tomorrow-ish"}) is None


def test_a_429_without_retry_after_waits_for_the_exhausted_quota_to_reset():
    headers = {
        "x-ratelimit-limit-requests": "100",
        "x-ratelimit-remaining-requests": "40",
        "x-ratelimit-reset-requests": "36s",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "2.5s",
    }
    assert throttle_wait(headers) == 2.5  # the tokens ran out, not the requests
    assert throttle_wait({**headers, "Retry-After": "4"}) == 4.0
    error = map_http_error(ProviderHTTPError(429, headers, b'{"error": {"code": "rate_limit_exceeded"}}'))
    assert isinstance(error, errors.RateLimited) and error.retry_after == 2.5
    assert error.headers["x-ratelimit-remaining-tokens"] == "0"  # kept for the gateway's pacing
    reading = quota_reading(error.headers)
    assert reading is not None and reading.limit_tokens == 30000 and reading.reset_requests_s == 36.0


def test_insufficient_quota_stops_at_once_and_latches_the_gateway():
    body = json.dumps(
        {
            "error": {
                "message": "You exceeded your current quota",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            }
        }
    ).encode()
    error = map_http_error(ProviderHTTPError(429, {"retry-after": "1"}, body))
    assert isinstance(error, errors.QuotaExhausted) and "billing" in str(error)
    gw, transport, clock = gateway([error, chat_response("never")], RetryPolicy())
    with pytest.raises(errors.QuotaExhausted):
        asyncio.run(gw.complete(call()))
    assert len(transport.sent) == 1 and clock.sleeps == []
    with pytest.raises(errors.RunAborted):  # every later call is refused without being sent
        asyncio.run(gw.complete(call("another")))
    assert len(transport.sent) == 1


# -- over loopback, through both transports --------------------------------------------------------
async def _stub(script: list[tuple[int, dict[str, str]]], hits: Counter[str]) -> tuple[web.AppRunner, str]:
    """An OpenAI-compatible stub answering each request with the next (status, headers) of ``script``."""

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        status, headers = script.pop(0) if script else (200, {})
        hits[str(status)] += 1
        if status == 200:
            return web.json_response(chat_response("ok"), headers=headers)
        body = {"error": {"message": f"stub {status}", "type": "server_error", "param": None, "code": str(status)}}
        return web.json_response(body, status=status, headers=headers)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"


@pytest.mark.parametrize("kind", ["litellm", "direct"])
def test_503_with_retry_after_is_waited_out_through_either_transport(kind):
    async def scenario() -> tuple[Counter[str], list[float], Any]:
        hits: Counter[str] = Counter()
        script = [
            (503, {"Retry-After": "2"}),
            (503, {"retry-after-ms": "1250"}),
            (500, {}),
            (429, {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "3s"}),
            (200, {"x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "29000"}),
        ]
        runner, base = await _stub(script, hits)
        transport: Transport = LiteLLMTransport() if kind == "litellm" else OpenAIHTTPTransport()
        clock = VirtualClock()
        policy = RetryPolicy(max_attempts=2)
        gw = Gateway(transport, policy=CachePolicy.OFF, retry=policy, clock=clock, sleep=clock.sleep)
        endpoint = resolve_endpoint("openai/gpt-4o", api_base=base, api_key="stub-key", timeout_s=10)
        try:
            completion = await gw.complete(ChatCall(endpoint, [{"role": "user", "content": "x"}], {"max_tokens": 5}))
        finally:
            if isinstance(transport, OpenAIHTTPTransport):
                await transport.aclose()
            await runner.cleanup()
        # The answer's rate-limit headers reached the pacing, whichever transport carried them (only
        # the 200 names the limit).
        assert gw.pacing.for_endpoint(endpoint.identity).pacer.limits_per_minute() == (None, 30000.0)
        return hits, clock.sleeps, completion

    hits, sleeps, completion = asyncio.run(scenario())
    assert completion.text == "ok"
    assert dict(hits) == {"503": 2, "500": 1, "429": 1, "200": 1}
    assert sleeps[0] >= 2.0 and sleeps[1] >= 1.25 and sleeps[3] >= 3.0
    assert sleeps[2] <= RetryPolicy().base_s * 2**2  # the 500 named no wait: backoff of a third attempt


def test_the_load_test_warm_up_goes_through_the_retry_path():
    transport = ScriptedTransport(
        [errors.RateLimited("429", retry_after=0.01), errors.Unavailable("503", retry_after=0.01), chat_response("")]
    )
    elapsed = asyncio.run(warm_up(transport, ENDPOINT, RetryPolicy(max_attempts=1)))
    assert len(transport.sent) == 3  # both "later" answers were waited out, not taken for a broken endpoint
    assert elapsed >= 0.02
