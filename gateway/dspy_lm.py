"""DSPy integration: a ``dspy.LM`` whose every call goes through the gateway.

DSPy's own cache and retries are turned off (``cache=False, num_retries=0``) so the process has one
cache and one retry loop. The engine implements DSPy 3.4's ``complete_legacy`` entry point because
it is the one that still carries ``rollout_id``: DSPy strips it from the canonical ``Request``, yet
MIPROv2's proposer uses it to ask for distinct samples of otherwise identical prompts, so it must
reach our cache key. Typed ``complete(Request)`` calls are served too, without a rollout id.

DSPy's bootstrap and its instruction proposer catch every exception and carry on without the
example or the description that failed: a provider error there would silently give a different demo
set, candidate set and result. Code that runs them inside ``errors_stop_the_run(stop)`` gets every
gateway error (but a content-filter refusal, which is the same on every run) recorded in ``stop`` on
its way to DSPy, so that the run can stop on it instead (``RunStop.raise_if_stopped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import dspy

from gateway import errors
from gateway.core import Gateway
from gateway.facade import GatewayLoop
from gateway.types import ChatCall, Completion, Endpoint

_INSTALL_LOCK = threading.Lock()
# Keys of DSPy's request dict that are not request parameters.
_DSPY_ONLY = frozenset({"model", "messages", "prompt", "rollout_id", "cache", "num_retries", "prompt_cache"})


class RunStop:
    """The first error that reached DSPy code which may swallow it (a gateway error, or a model output
    that could not be parsed, recorded by the optimizer); the run must stop on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error: Exception | None = None

    def record(self, exc: Exception) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc

    def raise_if_stopped(self) -> None:
        if self.error is not None:
            raise self.error


_stop: contextvars.ContextVar[RunStop | None] = contextvars.ContextVar("gateway_errors_stop_the_run", default=None)


@contextlib.contextmanager
def errors_stop_the_run(stop: RunStop) -> Iterator[None]:
    """Record in ``stop`` every gateway error that calls made in the block (and in threads and tasks that
    copy its context) raise, before DSPy code can catch it."""
    token = _stop.set(stop)
    try:
        yield
    finally:
        _stop.reset(token)


def _note(exc: errors.GatewayError) -> None:
    stop = _stop.get()
    if stop is not None and not isinstance(exc, errors.ContentFiltered):
        stop.record(exc)


class _EngineBase:
    def __init__(
        self, gateway: Gateway, loop: GatewayLoop, endpoint: Endpoint, retry_max_tokens: int | None = None
    ) -> None:
        self.gateway = gateway
        self.loop = loop
        self.endpoint = endpoint
        self.retry_max_tokens = retry_max_tokens

    def _call(self, request: Mapping[str, Any]) -> ChatCall:
        params = {k: _plain_param(k, v) for k, v in request.items() if k not in _DSPY_ONLY and v is not None}
        return ChatCall(
            self.endpoint, list(request["messages"]), params, request.get("rollout_id"), self.retry_max_tokens
        )

    def _typed_call(self, request: Any) -> ChatCall:
        from dspy.clients.lm15_boundary import request_kwargs

        data = request_kwargs(request, "chat")
        data["messages"] = data.get("messages") or []
        return self._call(data)

    def stream(self, request: Any) -> Any:
        raise NotImplementedError("the gateway engine does not stream")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.endpoint.model!r})"


class GatewayEngine(_EngineBase):
    """Synchronous DSPy engine: blocks the calling (worker) thread on the gateway loop."""

    def _complete(self, call: ChatCall) -> Completion:
        try:
            return self.loop.run(self.gateway.complete(call))
        except errors.GatewayError as exc:
            _note(exc)
            raise

    def complete_legacy(self, lm: Any, request: dict[str, Any], **_: Any) -> Any:
        from dspy.clients.call_result import CallResult

        completion = self._complete(self._call(request))
        return CallResult.legacy(lm, dict(completion.response), kwargs=request)

    def complete(self, request: Any) -> Any:
        from dspy.clients.lm15_boundary import response_value

        completion = self._complete(self._typed_call(request))
        return response_value(dict(completion.response), "chat", request)

    def close(self) -> None:
        pass


class AsyncGatewayEngine(_EngineBase):
    """Async DSPy engine: awaits the gateway on its own loop, hopping there if called from another."""

    async def _complete(self, call: ChatCall) -> Completion:
        try:
            if asyncio.get_running_loop() is self.loop.loop:
                return await self.gateway.complete(call)
            future = asyncio.run_coroutine_threadsafe(self.gateway.complete(call), self.loop.loop)
            return await asyncio.wrap_future(future)
        except errors.GatewayError as exc:
            _note(exc)
            raise

    async def complete_legacy(self, lm: Any, request: dict[str, Any], **_: Any) -> Any:
        from dspy.clients.call_result import CallResult

        completion = await self._complete(self._call(request))
        return CallResult.legacy(lm, dict(completion.response), kwargs=request)

    async def complete(self, request: Any) -> Any:
        from dspy.clients.lm15_boundary import response_value

        completion = await self._complete(self._typed_call(request))
        return response_value(dict(completion.response), "chat", request)

    async def aclose(self) -> None:
        pass


def make_lm(
    gateway: Gateway, loop: GatewayLoop, endpoint: Endpoint, *, retry_max_tokens: int | None = None, **lm_kwargs: Any
) -> dspy.LM:
    """A ``dspy.LM`` for ``endpoint`` whose calls all go through ``gateway`` (DSPy cache and retries off).

    ``retry_max_tokens``: an answer cut at its ``max_tokens`` is asked again once with this limit.
    """
    install_type_adapter_cache()
    # The shortcut is deprecated for DSPy 3.5; this project pins DSPy below 3.5 (see the module docstring).
    warnings.filterwarnings("ignore", message="The custom-engine complete_legacy", category=DeprecationWarning)
    return dspy.LM(
        endpoint.model,
        engine=GatewayEngine(gateway, loop, endpoint, retry_max_tokens),
        async_engine=AsyncGatewayEngine(gateway, loop, endpoint, retry_max_tokens),
        cache=False,
        num_retries=0,
        **lm_kwargs,
    )


def _plain_param(name: str, value: Any) -> Any:
    """Make a parameter JSON-representable (DSPy may pass a Pydantic class as response_format)."""
    if name == "response_format" and isinstance(value, type):
        from litellm.utils import type_to_response_format_param

        return type_to_response_format_param(value)
    return value


def install_type_adapter_cache() -> None:
    """Reuse pydantic ``TypeAdapter``s in DSPy's adapter helpers instead of building one per value.

    ``dspy.adapters.utils`` builds a new ``TypeAdapter(type(value))`` for every field of every prompt it
    formats and every answer it parses; building one costs far more than using it, and it was a third
    of the CPU time of a replayed run. Adapters for the same type are interchangeable and safe to share
    between threads, so a cache keyed by type changes nothing but the time. Unhashable annotations
    are built as before.
    """
    from dspy.adapters import utils as adapter_utils

    with _INSTALL_LOCK:  # runs of a sweep make their LMs on threads of their own, at once
        if getattr(adapter_utils.TypeAdapter, "_hsopt_cached", False):
            return
        _install_type_adapter_cache(adapter_utils)


def _install_type_adapter_cache(adapter_utils: Any) -> None:
    build = adapter_utils.TypeAdapter

    @functools.lru_cache(maxsize=512)
    def cached(annotation: Any) -> Any:
        return build(annotation)

    def type_adapter(annotation: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return build(annotation, *args, **kwargs)
        try:
            return cached(annotation)
        except TypeError:  # unhashable annotation
            return build(annotation)

    type_adapter._hsopt_cached = True  # type: ignore[attr-defined]  # marks the wrapper as installed
    adapter_utils.TypeAdapter = type_adapter
