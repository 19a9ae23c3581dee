"""Settings of the embedded LLM simulator: listening address, key, latency, faults and rate limits.

Both classes are frozen value objects. They validate their own ranges so that a bad value from the
command line or a test fails at construction with one clear ``ValueError`` message.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from simulator.schema import SCHEMA_MODES, SchemaMode

ContentFilterMode = Literal["400", "finish_reason"]

CONTENT_FILTER_MARKER = "[[content-filter]]"
"""Any request whose messages contain this text is always refused by the content filter."""

TRANSIENT_FAULTS: tuple[str, ...] = ("429", "500", "503", "timeout", "drop", "malformed")
"""Fault kinds that a retry of the same body may escape, in the order they share the unit interval."""


def _check_rate(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class FaultConfig:
    """Probabilities of injected failures; all zero (off) by default.

    The transient rates (429, 500, 503, timeout, drop, malformed) split one uniform draw per attempt,
    so their sum must not exceed 1. The content-filter rate is drawn once per request body, so a refused
    body stays refused, like a real moderation decision.
    """

    rate_429: float = 0.0
    retry_after_s: float = 1.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    retry_after_503_s: float | None = None  # a Retry-After on injected 503s, as overloaded servers send
    rate_timeout: float = 0.0
    hang_s: float = 30.0
    rate_drop: float = 0.0
    rate_malformed: float = 0.0
    rate_content_filter: float = 0.0
    content_filter_mode: ContentFilterMode = "400"

    def __post_init__(self) -> None:
        for kind in TRANSIENT_FAULTS:
            _check_rate(f"rate_{kind}", self.transient_rate(kind))
        _check_rate("rate_content_filter", self.rate_content_filter)
        total = sum(self.transient_rate(kind) for kind in TRANSIENT_FAULTS)
        if total > 1.0 + 1e-9:
            raise ValueError(f"the transient fault rates add up to {total:g}; their sum must be at most 1")
        _check_non_negative("retry_after_s", self.retry_after_s)
        if self.retry_after_503_s is not None:
            _check_non_negative("retry_after_503_s", self.retry_after_503_s)
        _check_non_negative("hang_s", self.hang_s)
        if self.content_filter_mode not in ("400", "finish_reason"):
            raise ValueError(f"content_filter_mode must be '400' or 'finish_reason', got {self.content_filter_mode!r}")

    def transient_rate(self, kind: str) -> float:
        """The configured probability of one transient fault kind (see ``TRANSIENT_FAULTS``)."""
        return float(getattr(self, f"rate_{kind}"))

    @property
    def any_transient(self) -> bool:
        """Whether any transient fault can fire, so the per-body attempt counter is worth keeping."""
        return any(self.transient_rate(kind) > 0 for kind in TRANSIENT_FAULTS)


@dataclass(frozen=True)
class SimConfig:
    """How a ``Simulator`` listens, answers and misbehaves.

    ``latency_ms`` is the median of a log-normal delay with shape ``latency_sigma``; a sigma of 0 gives
    a fixed delay and a median of 0 no delay at all. ``seed`` varies latency and fault draws, never the
    answers: those depend on the request body alone. ``rpm``/``tpm`` of 0 mean unlimited; ``tpm`` charges
    prompt tokens plus ``max_tokens`` (or ``default_max_tokens``) when a request is admitted, as Azure does,
    and both are enforced over ``burst_s`` seconds (Azure enforces its per-minute quotas over slices of
    1 to 10 seconds): a bucket holds ``burst_s`` seconds' worth and refills continuously. With a limit
    set, every answer reports the quota in OpenAI's ``x-ratelimit-*`` headers. ``azure_served_model`` is
    the model the Azure route's answers name. ``unparsable_models`` names models (as a request names
    them) that answer every request with text no DSPy adapter can parse, as a model too weak to follow
    the format does: a role served by one of them fails at every step that needs its output.
    """

    port: int = 0
    api_key: str | None = None
    latency_ms: float = 20.0
    latency_sigma: float = 0.5
    seed: int = 0
    rpm: int = 0
    tpm: int = 0
    burst_s: float = 10.0
    default_max_tokens: int = 1000
    # What the Azure route names as the serving model in every answer, as Azure does (a deployment's
    # name is its owner's choice; the answer's ``model`` is the underlying model and version).
    azure_served_model: str = "gpt-4o-2024-08-06"
    unparsable_models: tuple[str, ...] = ()
    # Models (as a request names them, or Azure deployments) whose account has no credit left: every
    # request to one is refused with 429 ``insufficient_quota``, as OpenAI refuses an unpaid account.
    unpaid_models: tuple[str, ...] = ()
    # After this many admitted requests, answers carry no ``x-ratelimit-*`` headers any more (the quota
    # is still enforced), as behind a proxy that strips them; 0: never.
    quota_headers_for: int = 0
    # What a request's JSON schema (``response_format``, nested form) does: "enforce" constrains the
    # answer to it, as OpenAI, Azure, vLLM, llama.cpp and Ollama do; "ignore" answers as if none were
    # sent (a server that accepts and ignores it); "reject" refuses it with a 400 (simulator/schema.py).
    schemas: SchemaMode = "enforce"
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if not (isinstance(self.port, int) and 0 <= self.port <= 65535):
            raise ValueError(f"port must be between 0 and 65535, got {self.port!r}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be empty; leave it unset to accept any non-empty key")
        _check_non_negative("latency_ms", self.latency_ms)
        _check_non_negative("latency_sigma", self.latency_sigma)
        for name in ("rpm", "tpm", "quota_headers_for"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 0):
                raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
        if not (isinstance(self.azure_served_model, str) and self.azure_served_model.strip()):
            raise ValueError(f"azure_served_model must be a model name, got {self.azure_served_model!r}")
        for name in ("unparsable_models", "unpaid_models"):
            models = getattr(self, name)
            if not all(isinstance(model, str) and model.strip() for model in models):
                raise ValueError(f"{name} must be model names, got {models!r}")
        if self.schemas not in SCHEMA_MODES:
            raise ValueError(f"schemas must be one of {', '.join(SCHEMA_MODES)}, got {self.schemas!r}")
        if not (isinstance(self.burst_s, int | float) and math.isfinite(self.burst_s) and 0 < self.burst_s <= 60):
            raise ValueError(f"burst_s must be a number of seconds in (0, 60], got {self.burst_s!r}")
        if not (isinstance(self.default_max_tokens, int) and self.default_max_tokens > 0):
            raise ValueError(f"default_max_tokens must be a whole number > 0, got {self.default_max_tokens!r}")

    def describe(self) -> dict[str, Any]:
        """The settings as plain JSON data, with the API key replaced by whether one is set."""
        data = asdict(self)
        data["api_key"] = "set" if self.api_key else None
        data["unparsable_models"] = list(self.unparsable_models)  # as JSON gives it back
        data["unpaid_models"] = list(self.unpaid_models)
        return data
