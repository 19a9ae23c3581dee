"""The simulator's HTTP face: OpenAI and Azure chat-completion routes on 127.0.0.1.

``Simulator`` runs an aiohttp application on its own event loop in a daemon thread, so synchronous
tests and the optimizer's worker threads can call it over real HTTP. Latency and hangs are
``asyncio.sleep`` calls; the answer itself is ``responder.respond``, which costs a fraction of a
millisecond, so the loop stays free for many concurrent requests. A request's latency runs from
its arrival: the answer is made first and the sleep takes up only what is left, so the server holds
each request for its drawn latency, as a model's own processing time would, not that plus the
simulator's bookkeeping.

Routes:
    POST /v1/chat/completions                                   (Authorization: Bearer <key>)
    POST /openai/deployments/{deployment}/chat/completions      (api-key: <key>, ?api-version=...)
    GET  /_sim/stats        counters as JSON        POST /_sim/reset    zero the counters
    POST /_sim/reset?attempts=1    also forget the per-body attempts (latency and fault draws start over)

Over 500 lines on purpose: one aiohttp application whose routes share one server's fault and quota
state.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from simulator import tokenizer
from simulator.config import SimConfig
from simulator.faults import MALFORMED_REPLY, AdmissionLimiter, FaultPlan
from simulator.hashing import key_fingerprint, request_digest
from simulator.prompt_cache import PromptCache
from simulator.protocol import message_text
from simulator.responder import SIM_VERSION, respond
from simulator.schema import enforced_schema, fit_to_schema

CREATED = 1_700_000_000
MAX_CHOICES = 8
_JSON = "application/json"


class ServerStats:
    """Thread-safe counters the server keeps and ``/_sim/stats`` reports."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._origin = time.monotonic()
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero every counter (requests still in flight stay counted as in flight)."""
        with self._lock:
            self.requests = 0
            self.routes: Counter[str] = Counter()
            self.keys: Counter[str] = Counter()
            self.roles: Counter[str] = Counter()
            self.statuses: Counter[str] = Counter()
            self.injected: Counter[str] = Counter()
            self.rate_limited = 0
            self.prompt_tokens = 0
            self.cached_prompt_tokens = 0  # reported as served from the prompt cache
            self.completion_tokens = 0
            self.quota_tokens = 0  # what admitted requests were charged: prompt plus max_tokens
            self.truncated = 0  # answers cut at max_tokens (finish_reason "length")
            self.truncated_tokens = 0  # their prompt and completion tokens
            self.latency_s = 0.0
            self.first_at: float | None = None  # when the first request arrived, the last one left
            self.last_at: float | None = None
            self.max_in_flight = self.in_flight

    def begin(self, route: str) -> None:
        """Count a chat request arriving on ``route``."""
        with self._lock:
            self.requests += 1
            self.routes[route] += 1
            if self.first_at is None:
                self.first_at = time.monotonic()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self, status: int) -> None:
        """Count a chat request leaving with ``status`` (0 when the connection was dropped)."""
        with self._lock:
            self.in_flight -= 1
            self.last_at = time.monotonic()
            self.statuses[str(status) if status else "no_response"] += 1

    def bump(self, counter: str, key: str) -> None:
        """Add one to ``key`` in the named ``Counter`` (keys, roles or injected)."""
        with self._lock:
            getattr(self, counter)[key] += 1

    def add_rate_limited(self) -> None:
        """Count a request refused by the rpm/tpm limiter."""
        with self._lock:
            self.rate_limited += 1

    def add_latency(self, seconds: float) -> None:
        """Count the delay injected before answering a request."""
        with self._lock:
            self.latency_s += seconds

    def add_tokens(self, prompt: int, completion: int, *, truncated: bool = False, cached: int = 0) -> None:
        """Count the tokens of an answered request (``truncated``: cut at its max_tokens; ``cached``: the
        prompt tokens reported as served from the prompt cache)."""
        with self._lock:
            self.prompt_tokens += prompt
            self.cached_prompt_tokens += cached
            self.completion_tokens += completion
            if truncated:
                self.truncated += 1
                self.truncated_tokens += prompt + completion

    def add_quota(self, tokens: int) -> None:
        """Count what an admitted request was charged against the tokens-per-minute quota."""
        with self._lock:
            self.quota_tokens += tokens

    def snapshot(self) -> dict[str, Any]:
        """All counters as plain JSON data."""
        with self._lock:
            return {
                "requests": self.requests,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "rate_limited": self.rate_limited,
                "latency_s": round(self.latency_s, 6),
                "routes": dict(self.routes),
                "keys": dict(self.keys),
                "roles": dict(self.roles),
                "statuses": dict(self.statuses),
                "injected": dict(self.injected),
                "tokens": {
                    "prompt": self.prompt_tokens,
                    "cached_prompt": self.cached_prompt_tokens,
                    "completion": self.completion_tokens,
                    "total": self.prompt_tokens + self.completion_tokens,
                    "quota": self.quota_tokens,
                    "truncated": self.truncated_tokens,
                },
                "truncated": self.truncated,
                # From the first request's arrival to the last answer's departure since the last reset.
                "span_s": round((self.last_at or 0.0) - (self.first_at or 0.0), 3) if self.first_at else 0.0,
            }


def _error(status: int, message: str, code: str, kind: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _retry_headers(wait_s: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait_s))), "retry-after-ms": str(max(1, math.ceil(wait_s * 1000)))}


def _json_values(content: str) -> dict[str, Any]:
    """The fields of an answer written as a JSON object; none for plain text."""
    try:
        values = json.loads(content)
    except ValueError:
        return {}
    return values if isinstance(values, dict) else {}


def _completion(
    model: str,
    digest: bytes,
    contents: list[str | None],
    finish_reasons: list[str],
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-sim-" + digest.hex()[:24],
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": SIM_VERSION,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": content},
                "finish_reason": reason,
                "logprobs": None,
            }
            for i, (content, reason) in enumerate(zip(contents, finish_reasons, strict=True))
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            # As OpenAI and Azure report prompt caching (prompts of 1,024+ tokens; simulator/prompt_cache.py).
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


class Simulator:
    """An OpenAI/Azure-compatible chat server backed by the deterministic simulated model.

    Use as ``with Simulator(SimConfig(...)) as sim:`` or call ``start()``/``stop()``. ``clock`` is the
    monotonic clock the rate limiter reads; tests pass a fake one so waits need no sleeping.
    ``preload_tokenizer=False`` leaves loading the tokenizer (about half a second) to the first request,
    for a simulator that may receive none (a replay answered from the cache).
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        preload_tokenizer: bool = True,
    ) -> None:
        self.config = config or SimConfig()
        self._preload_tokenizer = preload_tokenizer
        self._stats = ServerStats()
        self._plan = FaultPlan(self.config)
        self._prompt_cache = PromptCache()
        self._limiter = AdmissionLimiter(self.config.rpm, self.config.tpm, clock, burst_s=self.config.burst_s)
        self._quota_answers = 0  # requests that met the limiter (for quota_headers_for)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind 127.0.0.1 (a free port unless the config names one) and serve in a background thread."""
        if self._thread is not None:
            raise RuntimeError("this Simulator is already running")
        if self._preload_tokenizer:
            tokenizer.load()  # before listening: the first request must not wait for it
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._run_loop, args=(loop,), name="llm-simulator", daemon=True)
        thread.start()
        try:
            self._port = asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=30)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            raise
        self._loop, self._thread = loop, thread
        return self

    def stop(self) -> None:
        """Stop serving, cancel hanging requests and join the thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> int:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai_route)
        app.router.add_post("/chat/completions", self._openai_route)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._azure_route)
        app.router.add_get("/_sim/stats", self._stats_route)
        app.router.add_post("/_sim/reset", self._reset_route)
        # handler_cancellation: a client that gives up on a hanging request frees its handler at once.
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.config.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return int(runner.addresses[0][1])

    # -- public views ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._port is None:
            raise RuntimeError("the Simulator has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; Azure clients use it as their endpoint."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_api_base(self) -> str:
        """The OpenAI-style API base (``base_url + "/v1"``)."""
        return self.base_url + "/v1"

    def stats(self) -> dict[str, Any]:
        """Counters since start (or the last reset), with the version and configuration."""
        data = self._stats.snapshot()
        data["sim_version"] = SIM_VERSION
        data["config"] = self.config.describe()
        return data

    def reset_stats(self) -> None:
        """Zero the counters; the per-body attempt history that drives transient faults is kept."""
        self._stats.reset()

    def reset_attempts(self) -> None:
        """Forget how often each body was seen, so transient fault sequences replay from the start, and
        which prompt prefixes were seen (prompt caching starts cold)."""
        self._plan.reset()
        self._prompt_cache.reset()

    # -- routes ----------------------------------------------------------------------------------

    async def _stats_route(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _reset_route(self, request: web.Request) -> web.Response:
        self.reset_stats()
        attempts = request.query.get("attempts", "") in ("1", "true")
        if attempts:
            self.reset_attempts()
        return web.json_response({"reset": True, "attempts": attempts})

    async def _openai_route(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        key = header[7:].strip() if header[:7].lower() == "bearer " else ""
        return await self._tracked(request, "openai", key, deployment=None)

    async def _azure_route(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("api-key", "").strip()
        return await self._tracked(request, "azure", key, deployment=request.match_info["deployment"])

    async def _tracked(self, request: web.Request, route: str, key: str, deployment: str | None) -> web.StreamResponse:
        self._stats.begin(route)
        status = 0  # stays 0 when the handler ends without a response (dropped or cancelled)
        try:
            response = await self._chat(request, route, key, deployment)
            status = response.status
            return response
        finally:
            self._stats.end(status)

    async def _chat(self, request: web.Request, route: str, key: str, deployment: str | None) -> web.StreamResponse:
        arrived = time.monotonic()
        refusal = self._check_access(request, route, key)
        if refusal is not None:
            return refusal
        self._stats.bump("keys", key_fingerprint(key))
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _error(400, "The request body is not valid JSON.", "invalid_json", "invalid_request_error")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return _error(
                400,
                "'messages' must be a non-empty array of message objects.",
                "invalid_messages",
                "invalid_request_error",
            )
        if body.get("stream"):
            return _error(
                400,
                "The simulator does not support streaming; send stream=false.",
                "unsupported_stream",
                "invalid_request_error",
            )

        if self.config.schemas == "reject" and enforced_schema(body.get("response_format")) is not None:
            return _error(
                400,
                "response_format json_schema is not supported by this server.",
                "unsupported_response_format",
                "invalid_request_error",
            )
        model = str(body.get("model") or deployment or "gpt-4o")
        digest = request_digest(body, model)
        # Azure answers with the model a deployment serves, whatever the deployment is called.
        served = self.config.azure_served_model if route == "azure" else model
        prompt_tokens = tokenizer.prompt_tokens(messages)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        limit = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None

        if model in self.config.unpaid_models:
            # OpenAI's billing refusal: a 429 like a rate limit, told apart only by its error code.
            return _error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        quota: dict[str, str] = {}
        if self._limiter.active:
            charge = prompt_tokens + (limit or self.config.default_max_tokens)
            wait, state = self._limiter.admit(charge)
            quota = state.headers()  # on every answer, as OpenAI and Azure send them
            self._quota_answers += 1
            if 0 < self.config.quota_headers_for < self._quota_answers:
                quota = {}  # a proxy in between strips them from here on
            if wait > 0:
                self._stats.add_rate_limited()
                return _error(
                    429,
                    "Requests to the chat completions operation have exceeded the rate limit of your "
                    f"deployment. Please retry after {max(1, math.ceil(wait))} second(s).",
                    "429",
                    "rate_limit_exceeded",
                    _retry_headers(wait) | quota,
                )
            self._stats.add_quota(charge)

        verdict = self._plan.decide(digest, "\n".join(message_text(m) for m in messages))
        answer = None
        if verdict.fault is None:
            scope = f"{route}|{served}|{key_fingerprint(key)}"
            cached = self._prompt_cache.cached_tokens(scope, messages, prompt_tokens)
            answer = self._answer(body, served, digest, prompt_tokens, limit, cached)
        if verdict.latency_s > 0:
            self._stats.add_latency(verdict.latency_s)
            remaining = arrived + verdict.latency_s - time.monotonic()
            if remaining > 0:
                await asyncio.sleep(remaining)
        if answer is not None:
            # As OpenAI's API does: how long the server held the request, in milliseconds.
            answer.headers["openai-processing-ms"] = str(round(verdict.latency_s * 1000))
            answer.headers.update(quota)
            return answer
        assert verdict.fault is not None
        self._stats.bump("injected", verdict.fault)
        response = await self._fault_response(request, verdict.fault, served, digest, prompt_tokens)
        response.headers.update(quota)
        return response

    def _check_access(self, request: web.Request, route: str, key: str) -> web.Response | None:
        """The 400/401 a request gets for a missing api-version or a wrong key; None when it may pass."""
        if route == "azure" and not request.query.get("api-version"):
            return _error(
                400,
                "The api-version query parameter (?api-version=) is required for all requests.",
                "MissingApiVersionParameter",
                "invalid_request_error",
            )
        if not key or (self.config.api_key is not None and key != self.config.api_key):
            if route == "azure":
                return _error(
                    401,
                    "Access denied due to invalid subscription key or wrong API endpoint.",
                    "401",
                    "invalid_request_error",
                )
            return _error(401, "Incorrect API key provided.", "invalid_api_key", "invalid_request_error")
        return None

    def _answer(
        self, body: dict[str, Any], model: str, digest: bytes, prompt_tokens: int, limit: int | None, cached: int = 0
    ) -> web.Response:
        """The normal completion: ``n`` choices, each cut to ``max_tokens`` tokens when it would exceed it."""
        contents: list[str | None] = []
        reasons = []
        completion_tokens = 0
        n = body.get("n")
        count = n if isinstance(n, int) else 1
        schema = enforced_schema(body.get("response_format")) if self.config.schemas == "enforce" else None
        for index in range(max(1, min(MAX_CHOICES, count))):
            choice_digest = digest if index == 0 else hashlib.sha256(digest + index.to_bytes(2, "big")).digest()
            answer = respond(body, choice_digest)
            text = MALFORMED_REPLY if body.get("model") in self.config.unparsable_models else answer.content
            if schema is not None:  # decoding constrained to the schema: even a weak model's text fits it
                text = fit_to_schema(_json_values(answer.content), schema, answer.content)
            if limit is None:
                content, used, cut = text, tokenizer.count_tokens(text), False
            else:
                content, used, cut = tokenizer.truncate(text, limit)
            contents.append(content)
            reasons.append("length" if cut else "stop")
            completion_tokens += used
            if index == 0:
                self._stats.bump("roles", answer.role)
        payload = _completion(model, digest, contents, reasons, prompt_tokens, completion_tokens, cached)
        self._stats.add_tokens(prompt_tokens, completion_tokens, truncated="length" in reasons, cached=cached)
        return web.json_response(payload)

    async def _fault_response(
        self, request: web.Request, fault: str, model: str, digest: bytes, prompt_tokens: int
    ) -> web.StreamResponse:
        """The response an injected fault produces (a drop raises instead: there is no response)."""
        faults = self.config.faults
        if fault == "content_filter":
            if faults.content_filter_mode == "finish_reason":
                self._stats.add_tokens(prompt_tokens, 0)
                return web.json_response(_completion(model, digest, [None], ["content_filter"], prompt_tokens, 0))
            return web.json_response(
                {
                    "error": {
                        "message": (
                            "The response was filtered due to the prompt triggering the content management policy."
                        ),
                        "type": None,
                        "param": "prompt",
                        "code": "content_filter",
                        "status": 400,
                        "innererror": {
                            "code": "ResponsibleAIPolicyViolation",
                            "content_filter_result": {"hate": {"filtered": True, "severity": "high"}},
                        },
                    }
                },
                status=400,
            )
        if fault == "429":
            return _error(
                429,
                "Rate limit reached for requests (simulated).",
                "429",
                "rate_limit_exceeded",
                _retry_headers(faults.retry_after_s),
            )
        if fault == "500":
            return _error(
                500, "The server had an error while processing your request.", "internal_error", "server_error"
            )
        if fault == "503":
            wait = faults.retry_after_503_s
            return _error(
                503,
                "The engine is currently overloaded, please try again later.",
                "overloaded",
                "server_error",
                None if wait is None else _retry_headers(wait),
            )
        if fault == "timeout":
            await asyncio.sleep(faults.hang_s)
            return _error(504, "The server did not answer in time.", "timeout", "server_error")
        if fault == "drop":
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError  # nothing can be sent; end the handler without a response
        if fault == "malformed":
            used = tokenizer.count_tokens(MALFORMED_REPLY)
            self._stats.add_tokens(prompt_tokens, used)
            return web.json_response(_completion(model, digest, [MALFORMED_REPLY], ["stop"], prompt_tokens, used))
        raise AssertionError(f"unknown fault kind {fault!r}")
