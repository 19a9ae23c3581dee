"""The network seam: the ``Transport`` protocol and a transport over LiteLLM's ``acompletion``.

Everything above it (cache, limits, retry, ledger) talks to the ``Transport`` protocol, so tests can
swap in ``gateway.testing.ScriptedTransport``. LiteLLM's exceptions are mapped to ours here, in
``map_litellm_error``, by type and status code, never by matching message text. OpenAI-compatible and
Azure calls that LiteLLM would send unchanged take the cheaper direct path of
``gateway.transports.http``, which shares the helpers below (redacted messages); both read the
provider's Retry-After and rate-limit headers with ``gateway.transports.headers``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from gateway import errors
from gateway.transports._base import Transport
from gateway.transports.headers import kept_headers, retry_after_from_headers, throttle_wait
from gateway.types import ChatCall, ProviderReply

__all__ = ["LiteLLMTransport", "Transport", "map_litellm_error", "redacted_message", "retry_after_from_headers"]

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class LiteLLMTransport:
    """Sends chat completions through ``litellm.acompletion`` with LiteLLM's own retries off."""

    def __init__(self) -> None:
        # LiteLLM takes seconds to import; a run served from the cache never needs it.
        self._litellm: Any = None

    async def _client(self) -> Any:
        if self._litellm is None:
            litellm: Any = await asyncio.to_thread(importlib.import_module, "litellm")
            litellm.telemetry = False
            litellm.suppress_debug_info = True
            # LiteLLM can leave an un-awaited coroutine behind when a call is cancelled at shutdown.
            warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
            self._litellm = litellm
        return self._litellm

    async def send(self, call: ChatCall) -> dict[str, Any]:
        client = await self._client()
        kwargs: dict[str, Any] = dict(call.params)
        kwargs.update(call.endpoint.litellm_kwargs())
        try:
            raw = await client.acompletion(
                model=call.endpoint.model,
                messages=list(call.messages),
                num_retries=0,
                max_retries=0,
                **kwargs,
            )
        except errors.GatewayError:
            raise
        except Exception as exc:  # every LiteLLM/SDK/socket failure is classified here, once
            raise map_litellm_error(exc) from exc
        response: dict[str, Any] = raw.model_dump(mode="json")
        hidden = getattr(raw, "_hidden_params", None) or {}
        headers = kept_headers(hidden.get("additional_headers") if isinstance(hidden, dict) else None)
        return ProviderReply(response, headers) if headers else response


def map_litellm_error(exc: BaseException) -> errors.GatewayError:
    """Classify an exception raised by LiteLLM (or the HTTP stack below it) as one of ours."""
    import litellm

    message = redacted_message(exc)
    status = getattr(exc, "status_code", None)
    headers = exception_headers(exc)
    retry_after = retry_after_from_headers(headers)
    if isinstance(exc, litellm.ContentPolicyViolationError) or _is_content_filter(exc):
        return errors.ContentFiltered(message)
    if isinstance(exc, litellm.ContextWindowExceededError):
        return errors.ContextWindowExceeded(message)
    if isinstance(exc, litellm.RateLimitError) or status == 429:
        if _error_code(exc) == "insufficient_quota":
            return errors.QuotaExhausted(insufficient_quota_message(message))
        return errors.RateLimited(message, retry_after=throttle_wait(headers), headers=headers)
    if isinstance(exc, litellm.Timeout) or status == 408:
        return errors.RequestTimeout(message, retry_after=retry_after, headers=headers)
    if isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)) or status in (401, 403):
        return errors.AuthenticationFailed(message)
    if isinstance(exc, litellm.NotFoundError) or status == 404:
        return errors.ModelNotFound(message)
    if status == 409:
        return errors.Unavailable(message, retry_after=retry_after, headers=headers)
    if isinstance(status, int) and 400 <= status < 500:
        return errors.BadRequest(message)
    if isinstance(status, int) and status >= 500:
        return errors.Unavailable(message, retry_after=retry_after, headers=headers)
    if isinstance(exc, litellm.BadRequestError):
        # LiteLLM raises BadRequestError for requests it cannot route (unknown provider, bad params).
        return errors.BadRequest(message)
    if isinstance(
        exc,
        (
            litellm.APIConnectionError,
            litellm.ServiceUnavailableError,
            litellm.InternalServerError,
            litellm.APIError,
            ConnectionError,
            OSError,
            TimeoutError,
        ),
    ):
        # A connection error may come after the request went out: its cost is in doubt.
        return errors.Unavailable(message, in_doubt=True)
    return errors.Unavailable(message)


def exception_headers(exc: BaseException) -> dict[str, str]:
    """The Retry-After and rate-limit headers of the answer an exception carries (lower-case names)."""
    headers: Any = None
    response = getattr(exc, "response", None)
    if response is not None:
        headers = getattr(response, "headers", None)
    if not headers:
        headers = getattr(exc, "headers", None) or getattr(exc, "litellm_response_headers", None)
    return kept_headers(headers) if isinstance(headers, Mapping) else {}


def insufficient_quota_message(message: str) -> str:
    """What a user reads when the provider refuses for billing: no retry can help."""
    return f"{message} (insufficient_quota: the account has no quota or credit left; check its plan and billing)"


def _error_code(exc: BaseException) -> str | None:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error")
        error = inner if isinstance(inner, dict) else body
        for key in ("code", "type"):
            if error.get(key) in ("content_filter", "insufficient_quota"):
                return str(error[key])
    for key in ("code", "type"):
        value = getattr(exc, key, None)
        if value in ("content_filter", "insufficient_quota"):
            return str(value)
    return None


def _is_content_filter(exc: BaseException) -> bool:
    return _error_code(exc) == "content_filter"


def redacted_message(exc: BaseException, *, secrets: Sequence[str] = ()) -> str:
    """``Type: first line`` of an exception with every secret removed, then cut to 300 characters."""
    # Providers sometimes echo request headers in errors; the logging layer redacts secrets again.
    from gateway.redaction import error_line

    return error_line(exc, limit=300, secrets=secrets)
