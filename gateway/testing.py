"""Fakes for testing code that uses the gateway: a scripted transport and a virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gateway import errors
from gateway.types import ChatCall, ProviderReply


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
