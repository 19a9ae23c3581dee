"""Retry policy: which failures are retried, and how long to wait before the next attempt.

The policy is pure (no I/O, no clock); ``Gateway`` drives it with tenacity's ``AsyncRetrying`` and an
injectable ``sleep``, so tests check every wait without waiting.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gateway import errors


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, at least what a 429's Retry-After asked for."""

    max_attempts: int = 6
    base_s: float = 0.5
    max_backoff_s: float = 30.0
    # A Retry-After above this means the quota is spent (Azure can ask for hours): fail, do not sleep.
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_s < 0 or self.max_backoff_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("retry waits must not be negative")

    def should_retry(self, exc: BaseException) -> bool:
        """Retry 408/409/429/5xx, timeouts and dropped connections; never other 4xx."""
        return isinstance(exc, errors.TransientError)

    def wait_s(self, attempt: int, exc: BaseException, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff_s, self.base_s * (2 ** (attempt - 1)))
        backoff = rng.uniform(0.0, ceiling)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return max(float(retry_after), backoff)
        return backoff

    def check_retry_after(self, exc: BaseException) -> None:
        """Turn a 429 whose Retry-After exceeds the cap into ``QuotaExhausted``."""
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, errors.RateLimited) and retry_after is not None and retry_after > self.max_retry_after_s:
            raise errors.QuotaExhausted(
                f"the provider asked to wait {retry_after:.0f} s (cap {self.max_retry_after_s:.0f} s): "
                "the quota looks exhausted; try later or raise the quota",
                retry_after=retry_after,
            ) from exc
