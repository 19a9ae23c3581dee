"""Errors of the LLM gateway. Imports nothing of ours.

GatewayError
├── TransientError              retried with backoff; raised only once attempts run out
│   ├── RateLimited             HTTP 429; carries the server's retry_after (seconds) if it sent one
│   ├── RequestTimeout          the call timed out (client side, or HTTP 408)
│   └── Unavailable             HTTP 409 / 5xx, dropped or refused connections
├── PermanentError              never retried
│   ├── AuthenticationFailed    HTTP 401 / 403
│   ├── BadRequest              other HTTP 4xx
│   │   ├── ContentFiltered     provider refused the content (Azure content_filter, 400 or finish_reason)
│   │   └── ContextWindowExceeded
│   ├── ModelNotFound           HTTP 404: unknown model or deployment
│   ├── QuotaExhausted          Retry-After longer than the cap: the quota is spent for hours
│   └── ConfigurationError      missing credentials, unknown provider: nothing was sent
│       └── PriceUnknown        --max-cost set but a call cannot be priced: nothing more is sent
├── BudgetExceeded              the run's cost cap is reached; no new live call is made
├── CacheMiss                   replay policy and the answer is not cached; no network call was made
├── CorruptCacheEntry           replay policy and the cached answer failed its integrity check
└── RunAborted                  an earlier fatal error (budget, replay miss) stops every later call
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises."""


class TransientError(GatewayError):
    """A failure that may go away on retry."""

    retry_after: float | None = None


class RateLimited(TransientError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTimeout(TransientError):
    pass


class Unavailable(TransientError):
    pass


class PermanentError(GatewayError):
    """A failure that a retry cannot fix."""


class AuthenticationFailed(PermanentError):
    pass


class BadRequest(PermanentError):
    pass


class ContentFiltered(BadRequest):
    """The provider's content filter refused the prompt or the completion.

    ``cached`` tells a refusal replayed from the cache from a live one; the message is the same.
    """

    def __init__(self, message: str, *, cached: bool = False) -> None:
        super().__init__(message)
        self.cached = cached


class ContextWindowExceeded(BadRequest):
    pass


class ModelNotFound(PermanentError):
    pass


class QuotaExhausted(PermanentError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(PermanentError):
    pass


class PriceUnknown(ConfigurationError):
    """A budget cap is set but a call's price is not known, so the cap could not count it."""


class BudgetExceeded(GatewayError):
    def __init__(self, spent_usd: float, cap_usd: float) -> None:
        super().__init__(f"budget reached: ${spent_usd:.4f} spent of the ${cap_usd:.4f} cap; no new live calls")
        self.spent_usd = spent_usd
        self.cap_usd = cap_usd


class CacheMiss(GatewayError):
    def __init__(self, model: str, digest: str) -> None:
        super().__init__(f"replay: no cached answer for model {model!r}, request {digest}; nothing was sent")
        self.model = model
        self.digest = digest


class CorruptCacheEntry(GatewayError):
    pass


class RunAborted(GatewayError):
    def __init__(self, cause: GatewayError) -> None:
        super().__init__(str(cause))
        self.cause = cause
