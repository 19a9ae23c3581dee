"""The direct HTTP transport: same requests and answers as LiteLLM, its routing, error mapping and lifecycle.

The fault kinds of the simulator (429, 500, 503, hang, drop, content filter as 400 and as finish_reason,
wrong key, the Azure route from the environment, secrets in logs and cache files) run over both
transports in ``test_http.py``, and the full status table in ``tests/reliability/test_retry_statuses.py``.
Here: a recording stub provider shows that both transports send the same URL, credential header and
JSON body; the simulator (whose answers are a function of the body) shows they get the same answers;
the stub's odd replies (non-JSON bodies, redirects, echoed keys) exercise ``map_http_error``; and a
subprocess shows that a run served over the direct path never imports LiteLLM.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from cache import CachePolicy
from gateway import errors
from gateway.config import resolve_endpoint, simulator_endpoint
from gateway.core import Gateway
from gateway.facade import GatewayLoop
from gateway.retry import RetryPolicy
from gateway.runtime import GatewaySettings, Runtime
from gateway.testing import ScriptedTransport, VirtualClock
from gateway.transports.http import (
    MalformedResponse,
    OpenAIHTTPTransport,
    ProviderHTTPError,
    TransportRouter,
    direct_route,
    gateway_transport,
    map_http_error,
    request_body,
)
from gateway.transports.litellm import LiteLLMTransport
from gateway.types import ChatCall, Endpoint
from simulator import SIM_VERSION, FaultConfig
from simulator.faults import MALFORMED_REPLY

ROOT = Path(__file__).resolve().parents[2]
AZURE_VERSION = "2024-10-21"

# Messages shaped as DSPy's ChatAdapter sends them: instructions, a demo turn, the question.
DSPY_MESSAGES = [
    {"role": "system", "content": "Your input fields are:\n1. `prompt` (str)\nYour output fields are: `response`"},
    {"role": "user", "content": "[[ ## prompt ## ]]\nName a prime.\n\nRespond with `[[ ## response ## ]]`."},
    {"role": "assistant", "content": "[[ ## response ## ]]\n7\n\n[[ ## completed ## ]]"},
    {"role": "user", "content": "[[ ## prompt ## ]]\nWhy is the sky blue? (é, ü, 日本)\n\n[[ ## completed ## ]]"},
]
PARAMS: dict[str, dict[str, Any]] = {
    "task": {"temperature": 0.0, "max_tokens": 64},
    "samples": {"temperature": 1.0, "max_tokens": 48, "n": 3},
    "json_mode": {"temperature": 0.0, "max_tokens": 64, "response_format": {"type": "json_object"}},
    "sampling": {
        "top_p": 0.9,
        "seed": 7,
        "stop": ["\n\n"],
        "max_completion_tokens": 32,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
    },
}


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def loop() -> Iterator[GatewayLoop]:
    running = GatewayLoop()
    yield running
    running.close()


@pytest.fixture(scope="module")
def litellm_transport() -> LiteLLMTransport:
    return LiteLLMTransport()


@pytest.fixture(scope="module")
def direct(loop: GatewayLoop) -> Iterator[OpenAIHTTPTransport]:
    transport = OpenAIHTTPTransport(max_connections=16)
    yield transport
    loop.run(transport.aclose())


@dataclass(frozen=True)
class Seen:
    path_qs: str
    headers: Mapping[str, str]
    body: bytes


class StubProvider:
    """Records every request and answers as its last message asks (``reply``); runs on the test's loop."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.hits: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.seen.append(Seen(request.path_qs, dict(request.headers), raw))
        command = json.loads(raw)["messages"][-1]["content"]
        self.hits[command] += 1
        return self.reply(command, request)

    @staticmethod
    def reply(command: str, request: web.Request) -> web.StreamResponse:
        word, _, rest = command.partition(" ")
        if word == "status":  # "status 409" or "status 400 context_length_exceeded"
            status, _, code = rest.partition(" ")
            error = {"message": f"stub status {status}", "type": "stub", "param": None, "code": code or status}
            return web.json_response({"error": error}, status=int(status))
        if word == "inner-filter":  # Azure's shape with the filter named only in innererror
            inner = {"message": "filtered", "code": None, "innererror": {"code": "ResponsibleAIPolicyViolation"}}
            return web.json_response({"error": inner}, status=400)
        if word == "echo-key":  # a provider that quotes the credential it was sent
            key = request.headers.get("api-key") or request.headers.get("Authorization", "")
            return web.json_response({"error": {"message": f"Incorrect API key provided: {key}"}}, status=401)
        if word == "html":
            return web.Response(text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if word == "truncated":
            return web.Response(text='{"id": "x", "choices": [', content_type="application/json")
        if word == "no-choices":
            return web.json_response({"object": "list", "data": []})
        if word == "redirect":
            return web.Response(status=307, headers={"Location": "/v1/elsewhere"})
        return web.json_response(
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": 1,
                "model": "stub",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }
        )


@pytest.fixture(scope="module")
def stub(loop: GatewayLoop) -> Iterator[StubProvider]:
    provider = StubProvider()
    loop.run(provider.start())
    yield provider
    loop.run(provider.stop())


def openai_endpoint(api_base: str, *, key: str = "sk-test-key-0001", timeout_s: float = 10.0) -> Endpoint:
    return Endpoint(model="openai/gpt-4o", identity="openai|test", api_base=api_base, api_key=key, timeout_s=timeout_s)


def azure_endpoint(api_base: str, *, key: str = "azure-test-key-0001", deployment: str = "my-gpt4o") -> Endpoint:
    return Endpoint(
        model=f"azure/{deployment}",
        identity="azure|test",
        api_base=api_base,
        api_version=AZURE_VERSION,
        api_key=key,
        timeout_s=10.0,
    )


def call(endpoint: Endpoint, text: str, **params: Any) -> ChatCall:
    return ChatCall(endpoint, [{"role": "user", "content": text}], {"max_tokens": 16, **params})


# -- the same request and the same answer as LiteLLM ---------------------------------------------
@pytest.mark.parametrize("params", list(PARAMS), ids=list(PARAMS))
@pytest.mark.parametrize("route", ["openai", "azure"])
def test_the_wire_request_is_the_one_litellm_sends(loop, stub, litellm_transport, direct, route, params):
    base = stub.base_url + "/v1" if route == "openai" else stub.base_url
    endpoint = openai_endpoint(base) if route == "openai" else azure_endpoint(base)
    request = ChatCall(endpoint, DSPY_MESSAGES, PARAMS[params])
    if direct.route(request) is None:
        # Azure rewrites or drops response_format by API version and deployment: LiteLLM keeps it.
        assert route == "azure" and "response_format" in request.params
        return
    loop.run(litellm_transport.send(request))
    loop.run(direct.send(request))
    by_litellm, by_direct = stub.seen[-2], stub.seen[-1]
    assert by_direct.path_qs == by_litellm.path_qs
    credential = "Authorization" if route == "openai" else "api-key"
    assert by_direct.headers[credential] == by_litellm.headers[credential]
    assert by_direct.headers["Content-Type"] == by_litellm.headers["Content-Type"] == "application/json"
    assert json.loads(by_direct.body) == json.loads(by_litellm.body)
    assert by_direct.body.decode("utf-8").count("日本") == 1  # UTF-8 on the wire, as the SDK sends it
    expected_path = (
        "/v1/chat/completions"
        if route == "openai"
        else f"/openai/deployments/my-gpt4o/chat/completions?api-version={AZURE_VERSION}"
    )
    assert by_direct.path_qs == expected_path


@pytest.mark.parametrize("params", list(PARAMS), ids=list(PARAMS))
@pytest.mark.parametrize("route", ["openai", "azure"])
def test_the_simulator_answers_both_transports_alike(loop, start_sim, litellm_transport, direct, route, params):
    sim = start_sim()
    endpoint = (
        simulator_endpoint(sim.openai_api_base, SIM_VERSION) if route == "openai" else azure_endpoint(sim.base_url)
    )
    request = ChatCall(endpoint, DSPY_MESSAGES, PARAMS[params])
    if direct.route(request) is None:
        assert route == "azure" and "response_format" in request.params
        return
    via_litellm = loop.run(litellm_transport.send(request))
    via_direct = loop.run(direct.send(request))

    def answer(response: dict[str, Any]) -> tuple[Any, ...]:
        choices = response["choices"]
        usage = response["usage"]
        return (
            [c["message"]["content"] for c in choices],
            [c["finish_reason"] for c in choices],
            usage["prompt_tokens"],
            usage["completion_tokens"],
            usage["total_tokens"],
        )

    assert answer(via_direct) == answer(via_litellm)
    assert all(answer(via_direct)[0])  # real answers, not empty ones that would match trivially
    assert len(via_direct["choices"]) == PARAMS[params].get("n", 1)
    stats = sim.stats()
    assert stats["requests"] == 2 and stats["routes"] == {route: 2}


def test_distinct_requests_get_distinct_answers_so_the_comparison_above_can_fail(loop, start_sim, direct):
    sim = start_sim()
    endpoint = simulator_endpoint(sim.openai_api_base, SIM_VERSION)
    first = loop.run(direct.send(ChatCall(endpoint, DSPY_MESSAGES, PARAMS["task"])))
    second = loop.run(direct.send(ChatCall(endpoint, DSPY_MESSAGES, {**PARAMS["task"], "temperature": 0.5})))
    assert first["choices"][0]["message"]["content"] != second["choices"][0]["message"]["content"]


# -- which calls take the direct path ------------------------------------------------------------
SIM_BASE = "http://127.0.0.1:8000/v1"
AZURE_BASE = "https://res.openai.azure.com"


@pytest.mark.parametrize(
    ("endpoint", "env", "url", "credential"),
    [
        (
            openai_endpoint(SIM_BASE, key="k-1234"),
            {},
            SIM_BASE + "/chat/completions",
            ("Authorization", "Bearer k-1234"),
        ),
        (
            Endpoint("openai/gpt-4o", "i"),
            {"OPENAI_API_KEY": "sk-env-1"},
            "https://api.openai.com/v1/chat/completions",
            ("Authorization", "Bearer sk-env-1"),
        ),
        (
            Endpoint("openai/gpt-4o-mini", "i"),
            {"OPENAI_API_KEY": "sk-env-1", "OPENAI_BASE_URL": "http://gw:9/v2/"},
            "http://gw:9/v2/chat/completions",
            ("Authorization", "Bearer sk-env-1"),
        ),
        (
            azure_endpoint(AZURE_BASE + "/", key="az-key-1"),
            {},
            f"{AZURE_BASE}/openai/deployments/my-gpt4o/chat/completions?api-version={AZURE_VERSION}",
            ("api-key", "az-key-1"),
        ),
    ],
    ids=["openai-key", "openai-env-key", "openai-env-base", "azure-key"],
)
def test_covered_endpoints_get_the_providers_url_and_credential_header(endpoint, env, url, credential):
    route = direct_route(call(endpoint, "hi"), env)
    assert route is not None
    assert route.url == url
    assert route.headers[credential[0]] == credential[1]
    assert route.api_key not in repr(route)  # a route may be logged; its credential may not


@pytest.mark.parametrize(
    ("endpoint", "env"),
    [
        (Endpoint("openai/gpt-4o", "i"), {}),  # no key anywhere: LiteLLM reports it its own way
        (Endpoint("anthropic/claude-3-5-sonnet-latest", "i", api_key="k-1234"), {}),
        (Endpoint("gpt-4o", "i", api_key="k-1234"), {}),  # provider inferred by LiteLLM
        (Endpoint("openai/o3-mini", "i", api_key="k-1234"), {}),
        (Endpoint("openai/gpt-5", "i", api_key="k-1234"), {}),
        (Endpoint("openai/gpt-4o-audio-preview", "i", api_key="k-1234"), {}),
        (replace(azure_endpoint(AZURE_BASE), api_key=None), {}),  # Azure AD token
        (replace(azure_endpoint(AZURE_BASE), api_version="preview"), {}),  # the v1 API, another path
        (replace(azure_endpoint(AZURE_BASE), api_base=AZURE_BASE + "/openai/deployments/my-gpt4o"), {}),
        (azure_endpoint(AZURE_BASE, deployment="o3-mini-prod"), {}),
        (azure_endpoint(AZURE_BASE, deployment="gpt-5-chat"), {}),
        (openai_endpoint(SIM_BASE), {"HTTPS_PROXY": "http://proxy:3128"}),
        (openai_endpoint(SIM_BASE), {"OPENAI_ORG_ID": "org-1"}),
        (azure_endpoint(AZURE_BASE), {"LITELLM_MODIFY_PARAMS": "True"}),
        (azure_endpoint(AZURE_BASE), {"AZURE_AD_TOKEN": "eyJ0eXAiOiJKV1Qi"}),  # the SDK prefers it to the key
    ],
    ids=[
        "no-key",
        "anthropic",
        "no-prefix",
        "o-series",
        "gpt-5",
        "audio",
        "azure-ad",
        "azure-v1",
        "azure-full-url",
        "azure-o-series",
        "azure-gpt-5",
        "proxy",
        "org-header",
        "litellm-modify-params",
        "azure-ad-token-env",
    ],
)
def test_endpoints_the_wire_protocol_does_not_cover_stay_on_litellm(endpoint, env):
    assert direct_route(call(endpoint, "hi"), env) is None


@pytest.mark.parametrize(
    ("messages", "params"),
    [
        ([{"role": "user", "content": [{"type": "text", "text": "hi"}]}], {}),
        ([{"role": "user", "content": "hi", "name": "alice"}], {}),
        ([{"role": "tool", "content": "42", "tool_call_id": "c1"}], {}),
        ([], {}),
        ([{"role": "user", "content": "hi"}], {"tools": [{"type": "function", "function": {"name": "f"}}]}),
        ([{"role": "user", "content": "hi"}], {"stream": True}),
        ([{"role": "user", "content": "hi"}], {"user": "u-1"}),
        ([{"role": "user", "content": "hi"}], {"reasoning_effort": "low"}),
        ([{"role": "user", "content": "hi"}], {"response_format": object}),
    ],
    ids=[
        "content-parts",
        "name",
        "tool-turn",
        "no-messages",
        "tools",
        "stream",
        "user",
        "reasoning-effort",
        "response-format-class",
    ],
)
def test_calls_litellm_would_rewrite_stay_on_litellm(messages, params):
    assert direct_route(ChatCall(openai_endpoint(SIM_BASE), messages, params), {}) is None


def test_unset_parameters_are_left_out_of_the_body_as_litellm_does():
    request = ChatCall(
        openai_endpoint(SIM_BASE),
        [{"role": "user", "content": "é"}],
        {"temperature": 0.0, "max_tokens": None, "stop": None},
    )
    route = direct_route(request, {})
    assert route is not None
    expected = '{"messages":[{"role":"user","content":"é"}],"model":"gpt-4o","temperature":0.0}'
    assert request_body(route, request) == expected.encode("utf-8")


def test_the_router_sends_covered_calls_directly_and_the_rest_through_the_fallback(loop, start_sim):
    sim = start_sim()
    fallback = ScriptedTransport()
    router = TransportRouter(OpenAIHTTPTransport(), fallback)
    covered = call(simulator_endpoint(sim.openai_api_base, SIM_VERSION), "straight over HTTP")
    uncovered = [
        replace(covered, params={**covered.params, "tools": [{"type": "function", "function": {"name": "f"}}]}),
        replace(covered, messages=[{"role": "user", "content": [{"type": "text", "text": "parts"}]}]),
        replace(covered, endpoint=Endpoint("anthropic/claude-3-5-sonnet-latest", "i", api_key="k-1234")),
    ]
    try:
        assert loop.run(router.send(covered))["choices"][0]["message"]["content"]
        for request in uncovered:
            loop.run(router.send(request))
    finally:
        loop.run(router.aclose())
    assert sim.stats()["requests"] == 1
    assert fallback.sent == uncovered


def test_the_litellm_setting_routes_every_call_through_litellm_and_bad_settings_are_refused():
    assert gateway_transport("litellm").direct is None
    assert isinstance(gateway_transport("auto").direct, OpenAIHTTPTransport)
    with pytest.raises(ValueError, match="auto, litellm"):
        gateway_transport("httpx")
    with pytest.raises(ValueError, match="transport must be one of"):
        Runtime(GatewaySettings(transport="httpx"))  # type: ignore[arg-type]  # a bad value on purpose


def test_azure_endpoint_from_the_environment_takes_the_direct_path(loop, start_sim, monkeypatch, direct):
    sim = start_sim(api_key="azure-env-key-0001")
    monkeypatch.setenv("AZURE_API_KEY", "azure-env-key-0001")
    monkeypatch.setenv("AZURE_API_BASE", sim.base_url)
    monkeypatch.setenv("AZURE_API_VERSION", AZURE_VERSION)
    request = call(resolve_endpoint("azure/my-gpt4o"), "Hello from Azure")
    route = direct.route(request)
    assert route is not None and route.headers["api-key"] == "azure-env-key-0001"
    assert loop.run(direct.send(request))["choices"][0]["message"]["content"]
    stats = sim.stats()
    assert stats["routes"] == {"azure": 1} and stats["statuses"] == {"200": 1}


# -- errors --------------------------------------------------------------------------------------
def _status(
    status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> ProviderHTTPError:
    return ProviderHTTPError(status, headers or {}, json.dumps(body or {"error": {"message": "m"}}).encode())


def test_retry_after_is_read_from_milliseconds_seconds_or_a_date():
    def retry_after(headers: dict[str, str]) -> float | None:
        mapped = map_http_error(_status(429, headers=headers))
        assert isinstance(mapped, errors.RateLimited)
        return mapped.retry_after

    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=40)
    assert retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5  # the precise header wins
    assert retry_after({"Retry-After": "9"}) == 9.0
    dated = retry_after({"Retry-After": email.utils.format_datetime(later, usegmt=True)})
    assert dated is not None and 30.0 < dated <= 40.0
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (_status(408), errors.RequestTimeout),
        (_status(504), errors.RequestTimeout),
        (_status(401), errors.AuthenticationFailed),
        (_status(403), errors.AuthenticationFailed),
        (_status(404, {"error": {"code": "DeploymentNotFound", "message": "no deployment"}}), errors.ModelNotFound),
        (_status(400, {"error": {"code": "content_filter", "message": "filtered"}}), errors.ContentFiltered),
        (
            _status(400, {"error": {"code": "context_length_exceeded", "message": "too long"}}),
            errors.ContextWindowExceeded,
        ),
        (_status(400, {"error": {"code": "invalid_value", "message": "bad"}}), errors.BadRequest),
        (_status(422), errors.BadRequest),
        (_status(409), errors.Unavailable),
        (_status(502), errors.Unavailable),
        (ProviderHTTPError(503, {}, b"<html>down</html>"), errors.Unavailable),
        (MalformedResponse("not json"), errors.Unavailable),
        (TimeoutError(), errors.RequestTimeout),
        (aiohttp.ServerTimeoutError("read timed out"), errors.RequestTimeout),
        (aiohttp.ServerDisconnectedError(), errors.Unavailable),
        (ConnectionResetError("reset by peer"), errors.Unavailable),
        (aiohttp.ClientPayloadError("truncated"), errors.Unavailable),
    ],
    ids=[
        "408",
        "504",
        "401",
        "403",
        "404",
        "400-content-filter",
        "400-context-length",
        "400",
        "422",
        "409",
        "502",
        "503-html",
        "malformed",
        "timeout",
        "aiohttp-timeout",
        "disconnected",
        "reset",
        "payload",
    ],
)
def test_each_failure_maps_to_the_error_a_retry_decision_needs(failure, expected):
    mapped = map_http_error(failure)
    assert type(mapped) is expected


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("html", errors.Unavailable),
        ("truncated", errors.Unavailable),
        ("no-choices", errors.Unavailable),
        ("redirect", errors.Unavailable),
        ("status 400 context_length_exceeded", errors.ContextWindowExceeded),
        ("inner-filter", errors.ContentFiltered),
        ("status 413", errors.BadRequest),
    ],
)
def test_odd_replies_are_mapped_and_retried_only_when_transient(loop, stub, direct, command, expected):
    endpoint = openai_endpoint(stub.base_url + "/v1")
    clock = VirtualClock()
    gateway = Gateway(direct, policy=CachePolicy.OFF, retry=RetryPolicy(max_attempts=3), clock=clock, sleep=clock.sleep)
    with pytest.raises(errors.GatewayError) as info:
        loop.run(gateway.complete(call(endpoint, command)))
    assert type(info.value) is expected
    transient = issubclass(expected, errors.TransientError)
    assert stub.hits[command] == (3 if transient else 1)
    assert len(clock.sleeps) == (2 if transient else 0)


@pytest.mark.parametrize("route", ["openai", "azure"])
def test_a_key_the_provider_echoes_never_reaches_the_error_message(loop, stub, direct, route):
    secret = f"sk-{route}-SECRET-7f3a9c2e51"  # in no environment variable: only the endpoint knows it
    endpoint = (
        openai_endpoint(stub.base_url + "/v1", key=secret)
        if route == "openai"
        else azure_endpoint(stub.base_url, key=secret)
    )
    with pytest.raises(errors.AuthenticationFailed) as info:
        loop.run(direct.send(call(endpoint, "echo-key")))
    assert secret in stub.seen[-1].headers.get("api-key", stub.seen[-1].headers.get("Authorization", ""))
    assert secret not in str(info.value) and "Incorrect API key provided" in str(info.value)
    assert info.value.__cause__ is not None and secret not in repr(info.value.__cause__.args)


def test_a_refused_connection_is_unavailable(loop, direct):
    with pytest.raises(errors.Unavailable):
        loop.run(direct.send(call(openai_endpoint("http://127.0.0.1:9/v1"), "nobody listens on port 9")))


def test_the_simulators_malformed_fault_is_a_valid_completion_left_to_the_evaluator(loop, start_sim, direct):
    faulty = start_sim(faults=FaultConfig(rate_malformed=1.0))
    response = loop.run(direct.send(call(simulator_endpoint(faulty.openai_api_base, SIM_VERSION), "answer")))
    assert response["choices"][0]["message"]["content"] == MALFORMED_REPLY


# -- lifecycle -----------------------------------------------------------------------------------
def test_runtime_close_closes_the_session_on_the_gateway_loop(start_sim):
    sim = start_sim()
    with Runtime(GatewaySettings(policy=CachePolicy.OFF)) as runtime:
        assert isinstance(runtime.transport, TransportRouter) and runtime.transport.direct is not None
        completion = runtime.sync.complete(call(simulator_endpoint(sim.openai_api_base, SIM_VERSION), "hello"))
        session = runtime.transport.direct.session
        assert completion.text and session is not None and not session.closed
        connector = session.connector
        assert connector is not None and not connector.closed
    assert session.closed and connector.closed
    assert runtime.transport.direct.session is None
    assert runtime.loop.loop.is_closed()


def test_a_transport_serves_the_loop_it_started_on_and_no_other(start_sim):
    sim = start_sim()
    request = call(simulator_endpoint(sim.openai_api_base, SIM_VERSION), "which loop?")
    transport = OpenAIHTTPTransport()
    first = asyncio.new_event_loop()
    try:
        assert first.run_until_complete(transport.send(request))["choices"]
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(transport.send(request))
    finally:
        first.run_until_complete(transport.aclose())
        first.close()

    async def send_and_close() -> dict[str, Any]:
        try:
            return await transport.send(request)
        finally:
            await transport.aclose()

    assert asyncio.run(send_and_close())["choices"]  # once closed, it may start afresh on another loop
    assert transport.session is None


NO_LITELLM = """
import json, sys
import dspy
from cache import CachePolicy
from evaluation.signatures import Generator
from gateway.config import simulator_endpoint
from gateway.runtime import GatewaySettings, Runtime
from gateway.types import ChatCall
from simulator import SIM_VERSION, FaultConfig, SimConfig, Simulator

with Simulator(SimConfig(latency_ms=0)) as sim:
    with Runtime(GatewaySettings(policy=CachePolicy.OFF, transport=sys.argv[1])) as runtime:
        endpoint = simulator_endpoint(sim.openai_api_base, SIM_VERSION)
        completion = runtime.sync.complete(ChatCall(endpoint, [{"role": "user", "content": "hi"}], {"max_tokens": 8}))
        lm = runtime.lm(endpoint, temperature=0.0, max_tokens=256)
        with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
            prediction = Generator()(prompt="Why is the sky blue?")
        # DSPy's JSON adapter (its fallback when a chat reply does not parse) sets response_format only
        # for LMs that declare it, which ours do not: gateway.dspy_lm._plain_param never needs LiteLLM.
        with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
            as_json = Generator()(prompt="Why is the sky blue?")
    print(json.dumps({"litellm": "litellm" in sys.modules, "requests": sim.stats()["requests"],
                      "text": completion.text, "response": prediction.response, "json": as_json.response,
                      "params": sorted(lm.history[-1]["kwargs"])}))
"""


def test_a_run_served_over_the_direct_path_never_imports_litellm(tmp_path):
    def run(choice: str) -> dict[str, Any]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-W", "error::RuntimeWarning", "-c", NO_LITELLM, choice],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    direct, through_litellm = run("auto"), run("litellm")
    assert direct["requests"] == 3 and direct["text"] and direct["response"] and direct["json"]
    assert direct["params"] == []  # no response_format (or anything else) beyond the LM's own settings
    assert direct["litellm"] is False
    # The same run forced through LiteLLM does import it: the check above can fail.
    assert through_litellm["litellm"] is True
    answers = ("text", "response", "json")
    assert [through_litellm[k] for k in answers] == [direct[k] for k in answers]
