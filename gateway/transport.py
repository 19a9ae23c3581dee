"""The network seam: the ``Transport`` protocol and a transport over LiteLLM's ``acompletion``.

Everything above it (cache, limits, retry, ledger) talks to the ``Transport`` protocol, so tests can
swap in ``gateway.testing.ScriptedTransport``. LiteLLM's exceptions are mapped to ours here, in
``map_litellm_error``, by type and status code, never by matching message text. OpenAI-compatible and
Azure calls that LiteLLM would send unchanged take the cheaper direct path of
``gateway.http_transport``, which shares the helpers below (Retry-After parsing, redacted messages).
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway import errors
from gateway.types import ChatCall

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class Transport(Protocol):
    async def send(self, call: ChatCall) -> dict[str, Any]:
        """Send one request, once; return the response JSON or raise a ``GatewayError``."""
        ...


class LiteLLMTransport:
    """Sends chat completions through ``litellm.acompletion`` with LiteLLM's own retries off."""

    def __init__(self) -> None:
        # LiteLLM takes seconds to import; a run served from the cache never needs it.
        self._litellm: Any = None

    async def _client(self) -> Any:
        if self._litellm is None:
            litellm = await asyncio.to_thread(importlib.import_module, "litellm")
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
        return response


def map_litellm_error(exc: BaseException) -> errors.GatewayError:
    """Classify an exception raised by LiteLLM (or the HTTP stack below it) as one of ours."""
    import litellm

    message = redacted_message(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, litellm.ContentPolicyViolationError) or _is_content_filter(exc):
        return errors.ContentFiltered(message)
    if isinstance(exc, litellm.ContextWindowExceededError):
        return errors.ContextWindowExceeded(message)
    if isinstance(exc, litellm.RateLimitError) or status == 429:
        return errors.RateLimited(message, retry_after=retry_after_seconds(exc))
    if isinstance(exc, litellm.Timeout) or status == 408:
        return errors.RequestTimeout(message)
    if isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)) or status in (401, 403):
        return errors.AuthenticationFailed(message)
    if isinstance(exc, litellm.NotFoundError) or status == 404:
        return errors.ModelNotFound(message)
    if status == 409:
        return errors.Unavailable(message)
    if isinstance(status, int) and 400 <= status < 500:
        return errors.BadRequest(message)
    if isinstance(status, int) and status >= 500:
        return errors.Unavailable(message)
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
        return errors.Unavailable(message)
    return errors.Unavailable(message)


def retry_after_seconds(exc: BaseException) -> float | None:
    """The wait a 429 asked for, from the response headers an exception carries (``retry_after_from_headers``)."""
    headers: Any = None
    response = getattr(exc, "response", None)
    if response is not None:
        headers = getattr(response, "headers", None)
    if not headers:
        headers = getattr(exc, "headers", None) or getattr(exc, "litellm_response_headers", None)
    if not headers:
        return None
    return retry_after_from_headers(dict(headers))


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """The wait a 429 asked for, from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):  # neither seconds nor a date: no usable hint
            return None
        return max(0.0, parsed.timestamp() - time.time())


def _is_content_filter(exc: BaseException) -> bool:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        if error.get("code") == "content_filter":
            return True
    return getattr(exc, "code", None) == "content_filter"


def redacted_message(exc: BaseException, *, secrets: Sequence[str] = ()) -> str:
    """``Type: first line`` of an exception, cut to 300 characters, with every known secret removed."""
    # Providers sometimes echo request headers in errors; the logging layer redacts secrets again.
    from gateway.logs import known_secrets, redact

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    everything = sorted({*known_secrets(), *(s for s in secrets if s and len(s) >= 4)}, key=len, reverse=True)
    return str(redact(f"{type(exc).__name__}: {text[:300]}", everything))
