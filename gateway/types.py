"""Value objects the gateway passes between its layers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """Where a model is served and how to reach it.

    ``identity`` names the endpoint in cache keys (provider, deployment, API version, host) and must
    never contain credentials; ``api_key`` is kept out of ``repr`` so it cannot reach a log line.
    """

    model: str
    identity: str
    api_base: str | None = None
    api_version: str | None = None
    api_key: str | None = field(default=None, repr=False)
    price_model: str | None = None
    timeout_s: float = 120.0

    def litellm_kwargs(self) -> dict[str, Any]:
        """Client settings for ``litellm.acompletion`` (secret included: for the transport only)."""
        kwargs: dict[str, Any] = {"timeout": self.timeout_s}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_version:
            kwargs["api_version"] = self.api_version
        if self.api_key:
            kwargs["api_key"] = self.api_key
        return kwargs


@dataclass(frozen=True)
class ChatCall:
    """One chat-completion request as the gateway sees it.

    ``retry_max_tokens``: when the answer is cut at its ``max_tokens`` (``finish_reason == "length"``),
    ask once more with this limit (a request of its own, cached as such); None: take the answer as cut.
    """

    endpoint: Endpoint
    messages: Sequence[Mapping[str, Any]]
    params: Mapping[str, Any]
    rollout_id: Any = None
    retry_max_tokens: int | None = None


class ProviderReply(dict[str, Any]):
    """A response's JSON as the provider sent it, with the headers of that answer in ``headers``.

    It is the JSON dict itself (cached and handed on as such); ``headers`` is read by the gateway's
    pacing and never stored.
    """

    def __init__(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        super().__init__(body)
        self.headers = headers


@dataclass(frozen=True)
class Completion:
    """The gateway's answer: the provider's response JSON and how it was obtained."""

    response: Mapping[str, Any]
    cached: bool
    key: str
    attempts: int = 0
    cost_usd: float | None = None

    @property
    def text(self) -> str | None:
        choices = self.response.get("choices") or [{}]
        message = choices[0].get("message") or {}
        content = message.get("content")
        return content if isinstance(content, str) else None

    @property
    def usage(self) -> tuple[int, int]:
        """(prompt_tokens, completion_tokens) as the provider reported them."""
        usage = self.response.get("usage") or {}
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
