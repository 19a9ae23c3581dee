"""Errors of the LLM gateway. Imports nothing of ours.

GatewayError
├── TransientError              retried; raised only once the retry policy gives up (see gateway.retry)
│   ├── RateLimited             HTTP 429; carries the wait the provider asked for, if it said
│   ├── RequestTimeout          the call timed out (client side, or HTTP 408 / 504)
│   └── Unavailable             HTTP 409 / 5xx, dropped or refused connections
├── PermanentError              never retried
│   ├── AuthenticationFailed    HTTP 401 / 403
│   ├── BadRequest              other HTTP 4xx
│   │   ├── ContentFiltered     provider refused the content (Azure content_filter, 400 or finish_reason)
│   │   └── ContextWindowExceeded
│   ├── ModelNotFound           HTTP 404: unknown model or deployment
│   ├── QuotaExhausted          Retry-After longer than the cap (the quota is spent for hours), or
│   │                           OpenAI's insufficient_quota (billing): no retry can help
│   └── ConfigurationError      missing credentials, unknown provider: nothing was sent
│       └── PriceUnknown        --max-cost set but a call cannot be priced: nothing more is sent
├── BudgetExceeded              the run's cost cap is reached; no new live call is made
├── SharedStateUnavailable      the shared limiter or budget (Redis) stopped answering: the run stops
├── CacheMiss                   replay policy and the answer is not cached; no network call was made
├── CorruptCacheEntry           replay policy and the cached answer failed its integrity check
├── RunAborted                  an earlier fatal error (budget, replay miss) stops every later call
└── Interrupted                 the user interrupted the process; no new call is made

Every transient error carries ``retry_after``, the wait in seconds the provider asked for (its
``Retry-After`` or ``retry-after-ms`` header, whatever the status; for a 429 without either, the time
until its ``x-ratelimit-reset-*`` says the quota refills), or None; and ``headers``, the provider's
rate-limit headers of that answer (lower-cased), which the gateway's pacing reads; and ``in_doubt``,
whether the provider may have received the request and billed it although no answer came back (a
timeout after the request was sent, a connection lost mid-request, a gateway timeout): the budget
keeps such an attempt's reservation as spent. Every timeout is in doubt unless the transport knows the
request never left (a connect timeout); a refused connection or an error status is not.
"""

from __future__ import annotations

from collections.abc import Mapping


class GatewayError(Exception):
    """Base of every error the gateway raises."""


class TransientError(GatewayError):
    """A failure that may go away on retry."""

    in_doubt_by_default = False

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        in_doubt: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers: Mapping[str, str] = headers or {}
        self.in_doubt = self.in_doubt_by_default if in_doubt is None else in_doubt


class RateLimited(TransientError):
    """HTTP 429: the provider says "later"."""


class RequestTimeout(TransientError):
    """No answer in time: the provider may have received the request (in doubt unless said otherwise)."""

    in_doubt_by_default = True


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
    def __init__(self, message: str, retry_after: float | None = None) -> None:
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


class SharedStateUnavailable(GatewayError):
    """The Redis server holding the shared rate limiter or budget cannot be used.

    Never retried and never replaced by per-process limits: falling back to them is how a shared
    quota or budget is blown. The run stops; completed calls are cached for the rerun.
    """


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


class Interrupted(GatewayError):
    def __init__(self) -> None:
        super().__init__("interrupted: completed calls are cached; rerun the same command to resume")
