"""Fakes for testing code that uses the gateway: a scripted transport, a virtual clock, token-dense
prompts and calls with a provider that bills them in full (the budget's worst case), and an HTTP
endpoint that refuses every request, quoting the caller's key back."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway import errors, tokens
from gateway.pricing import Price, usage_tokens
from gateway.types import ChatCall, Endpoint, ProviderReply


def chat_response(
    content: str,
    *,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    finish_reason: str = "stop",
    model: str = "gpt-4o",
) -> dict[str, Any]:
    """An OpenAI-shaped chat completion."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


Step = dict[str, Any] | errors.GatewayError | Callable[[ChatCall], Any]


class ScriptedTransport:
    """Answers from a script: each step is a response, an error to raise, or a function of the call.

    When the script runs out it answers with ``fallback`` (by default it echoes the last message).
    ``delay_s`` makes each send take that long (on the event loop), so concurrency can be observed;
    ``sent`` records every call.
    """

    def __init__(
        self,
        steps: list[Step] | None = None,
        *,
        delay_s: float = 0.0,
        fallback: Callable[[ChatCall], Any] | None = None,
    ) -> None:
        self.steps = list(steps or [])
        self.delay_s = delay_s
        self.fallback = fallback or (lambda c: chat_response(str(c.messages[-1]["content"])))
        self.sent: list[ChatCall] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, call: ChatCall) -> dict[str, Any]:
        self.sent.append(call)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            step: Step = self.steps.pop(0) if self.steps else self.fallback
            if isinstance(step, errors.GatewayError):
                raise step
            if callable(step):
                result = step(call)
                if isinstance(result, errors.GatewayError):
                    raise result
                return _copy(result)
            return _copy(step)
        finally:
            self.in_flight -= 1


def _copy(response: Any) -> dict[str, Any]:
    # A scripted answer may carry headers (a ProviderReply), as a real transport's can.
    if isinstance(response, ProviderReply):
        return ProviderReply(response, response.headers)
    return dict(response)


class VirtualClock:
    """A clock whose ``sleep`` advances time instantly and records every wait."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


# A completion a fake provider writes when a request sets no max_tokens: longer than any default guess.
UNBOUNDED_ANSWER_TOKENS = 4000
DENSE_KINDS = ("cjk", "code", "urls")


def dense_prompt(index: int, chars: int = 2000, *, seed: int = 42) -> str:
    """A prompt of ``chars`` characters that tokenizes far denser than English: Chinese text, code or
    long URLs in turn (by ``index``); the same for the same arguments."""
    rng = random.Random(f"{seed}:{index}")
    kind = DENSE_KINDS[index % len(DENSE_KINDS)]
    parts: list[str] = []
    size = 0
    while size < chars:
        if kind == "cjk":
            piece = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(rng.randint(8, 30))) + "。"
        elif kind == "code":
            name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(3, 12)))
            check = f"if({name}!=0x{rng.getrandbits(32):08x}){{}}"
            piece = f"{name}[{rng.randint(0, 999)}]->{{x:{rng.random():.6f}}};{check}\n"
        else:
            token = "".join(rng.choice("abcdef0123456789") for _ in range(rng.randint(16, 40)))
            piece = f"https://x{rng.randint(0, 99)}.example.org/{token}?q={rng.getrandbits(48):x}&id={token[:9]} "
        parts.append(piece)
        size += len(piece)
    return "".join(parts)[:chars]


def dense_call(index: int, endpoint: Endpoint) -> ChatCall:
    """A ``dense_prompt`` to ``endpoint`` with, in turn, every kind of completion limit: ``max_tokens``,
    ``n`` choices of it, none at all, ``max_tokens`` again."""
    params: dict[str, Any] = {"max_tokens": 300}
    if index % 4 == 1:
        params = {"max_tokens": 200, "n": 3}
    elif index % 4 == 2:
        params = {}
    return ChatCall(endpoint, [{"role": "user", "content": dense_prompt(index)}], params)


def worst_case_cost(calls: list[ChatCall], price: Price) -> float:
    """What ``calls`` cost at ``price`` with no cap, each billed its worst case (``billed_in_full``)."""
    return sum(price.cost(*usage_tokens(billed_in_full(c))[:2]) for c in calls)


def billed_in_full(call: ChatCall) -> dict[str, Any]:
    """A provider's answer billed at the call's worst case: the prompt as GPT-4o's tokenizer counts it and
    every choice as long as its limit (``UNBOUNDED_ANSWER_TOKENS`` when the call sets none)."""
    limit = call.params.get("max_completion_tokens") or call.params.get("max_tokens") or UNBOUNDED_ANSWER_TOKENS
    n = call.params.get("n")
    choices = n if isinstance(n, int) and n > 1 else 1
    prompt = tokens.count_prompt_tokens(call.endpoint.model, call.messages)
    return chat_response("x", prompt_tokens=prompt, completion_tokens=choices * int(limit), finish_reason="length")


class RefusingProvider:
    """An OpenAI-compatible endpoint that refuses every chat request with ``status`` and ``code``, its
    error quoting the caller's key as some proxies and gateways do (``message``); served on a thread of
    its own, so subprocesses can reach it at ``url`` inside the ``with`` block."""

    def __init__(self, status: int = 401, code: str = "invalid_api_key") -> None:
        self.status, self.code = status, code
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def message(self, key: str) -> str:
        """The error's message for a request made with ``key``."""
        return f"request refused for key {key}"

    async def _chat(self, request: web.Request) -> web.Response:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        error = {"message": self.message(key), "type": "invalid_request_error", "param": None, "code": self.code}
        return web.json_response({"error": error}, status=self.status)

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> RefusingProvider:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
