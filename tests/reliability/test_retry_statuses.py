"""Which HTTP statuses are retried, checked over loopback through both transports against a stub provider.

The simulator only produces the statuses of its faults; this stub answers any status the request asks
for and counts how often it was asked, so every 4xx and 5xx of interest goes through each real
transport (LiteLLM and the direct HTTP one) and its error mapping. Waits go through a ``VirtualClock``: nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from aiohttp import web

from cache import CachePolicy
from gateway import errors
from gateway.config import resolve_endpoint
from gateway.core import FATAL_ERRORS, Gateway
from gateway.retry import RetryPolicy
from gateway.testing import VirtualClock
from gateway.transports import Transport
from gateway.transports.http import OpenAIHTTPTransport
from gateway.transports.litellm import LiteLLMTransport
from gateway.types import ChatCall

RETRIED = (408, 409, 429, 500, 502, 503, 504)
NOT_RETRIED = (400, 401, 403, 404, 405, 413, 415, 422)


async def _stub(hits: Counter[int]) -> tuple[web.AppRunner, str]:
    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        status = int(body["messages"][-1]["content"])
        hits[status] += 1
        payload = {"error": {"message": f"stub status {status}", "type": "stub", "param": None, "code": str(status)}}
        return web.json_response(payload, status=status)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/v1"


async def _outcomes(statuses: tuple[int, ...], kind: str) -> tuple[Counter[int], dict[int, str], list[float]]:
    hits: Counter[int] = Counter()
    runner, base = await _stub(hits)
    transport: Transport = LiteLLMTransport() if kind == "litellm" else OpenAIHTTPTransport()
    endpoint = resolve_endpoint("openai/gpt-4o", api_base=base, api_key="stub-key", timeout_s=10)
    raised: dict[int, str] = {}
    clock = VirtualClock()
    try:
        for status in statuses:
            # A fresh gateway per status: 401/403/404 latch the gateway shut, as they should.
            gateway = Gateway(transport, policy=CachePolicy.OFF, retry=RetryPolicy(), clock=clock, sleep=clock.sleep)
            call = ChatCall(endpoint, [{"role": "user", "content": str(status)}], {"max_tokens": 5})
            try:
                await gateway.complete(call)
            except errors.GatewayError as exc:
                raised[status] = type(exc).__name__
    finally:
        if isinstance(transport, OpenAIHTTPTransport):
            await transport.aclose()
        await runner.cleanup()
    return hits, raised, clock.sleeps


@pytest.fixture(scope="module", params=["litellm", "direct"])
def outcomes(request: pytest.FixtureRequest) -> tuple[Counter[int], dict[int, str], list[float]]:
    return asyncio.run(_outcomes(RETRIED + NOT_RETRIED, request.param))


def test_only_408_409_429_and_5xx_are_retried(outcomes):
    hits, raised, sleeps = outcomes
    policy = RetryPolicy()
    attempts = policy.max_attempts
    bounded = tuple(status for status in RETRIED if status != 429)
    expected = dict.fromkeys(bounded, attempts) | dict.fromkeys(NOT_RETRIED, 1)
    # A 429 is the provider saying "later": retried for as long as the waits fit the time budget, which
    # takes more attempts than the other statuses get (none of the stub's answers names a wait).
    assert {s: n for s, n in hits.items() if s != 429} == expected, json.dumps({"hits": hits, "raised": raised})
    assert hits[429] > attempts
    assert len(sleeps) == (attempts - 1) * len(bounded) + hits[429] - 1
    transient = {
        name for name, cls in vars(errors).items() if isinstance(cls, type) and issubclass(cls, errors.TransientError)
    }
    for status in RETRIED:
        assert raised[status] in transient, (status, raised[status])
    for status in NOT_RETRIED:
        assert raised[status] not in transient, (status, raised[status])


def test_statuses_map_to_the_errors_a_user_can_act_on(outcomes):
    _, raised, _ = outcomes
    expected: dict[int, Any] = {
        401: "AuthenticationFailed",
        403: "AuthenticationFailed",
        404: "ModelNotFound",
        408: "RequestTimeout",
        409: "Unavailable",
        413: "BadRequest",
        429: "RateLimited",
    }
    assert {status: raised[status] for status in expected} == expected
    fatal = {cls.__name__ for cls in FATAL_ERRORS}
    assert {"AuthenticationFailed", "ModelNotFound"} <= fatal  # a wrong key or deployment stops the run
