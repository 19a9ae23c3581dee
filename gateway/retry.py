"""Retry policy: which failures are retried, how long to wait before the next attempt, and when to give up.

Two kinds of transient failure are told apart:

* **The provider says "later"**: a 429, or any transient answer that names a wait (``Retry-After``,
  ``retry-after-ms``; for a 429 without either, the ``x-ratelimit-reset-*`` time). Its quota is shared
  and busy, not broken, so the call keeps trying for as long as its waits add up to at most
  ``max_wait_s``, however many attempts that takes. Each wait is at least what was asked, with jitter
  on top so that callers told the same time do not all come back at once.
* **Anything else transient** (500s, timeouts, dropped connections) may be a fault that does not go
  away: at most ``max_attempts`` such failures, with exponential backoff and full jitter.

A wait longer than ``max_retry_after_s`` is not slept at all: a 429 asking for it means the quota is
spent for hours (``QuotaExhausted``), and any other answer asking for it is given up on.

The policy is pure (no I/O, no clock); ``Gateway`` drives it with tenacity's ``AsyncRetrying`` and an
injectable ``sleep``, so tests check every wait without waiting.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gateway import errors


@dataclass(frozen=True)
class RetryPolicy:
    """How patient a call is: in time for "later" answers, in attempts for other transient failures."""

    max_attempts: int = 6
    base_s: float = 0.5
    max_backoff_s: float = 30.0
    # A Retry-After above this means the quota is spent (Azure can ask for hours): fail, do not sleep.
    max_retry_after_s: float = 120.0
    # The most one call waits between its attempts, in total, while the provider keeps saying "later".
    max_wait_s: float = 300.0
    # Jitter added to a wait the provider asked for: up to base_s plus this share of the wait.
    jitter_share: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_s, self.max_backoff_s, self.max_retry_after_s, self.max_wait_s, self.jitter_share) < 0:
            raise ValueError("retry waits must not be negative")

    def should_retry(self, exc: BaseException) -> bool:
        """Retry 408/409/429/5xx, timeouts and dropped connections; never other 4xx, nor a pacing wait
        that has already used up ``max_wait_s``."""
        return isinstance(exc, errors.TransientError) and not isinstance(exc, errors.PacingTimeout)

    def told_to_wait(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the provider saying "later" (a 429, or an answer that names its wait)."""
        return isinstance(exc, errors.RateLimited) or getattr(exc, "retry_after", None) is not None

    def wait_s(self, attempt: int, exc: BaseException, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): never less than was asked."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after) + rng.uniform(0.0, self.base_s + self.jitter_share * float(retry_after))
        ceiling = min(self.max_backoff_s, self.base_s * (2 ** (attempt - 1)))
        return rng.uniform(0.0, ceiling)

    def should_stop(self, exc: BaseException, other_failures: int, waited_s: float, upcoming_s: float) -> bool:
        """Whether to give up rather than wait ``upcoming_s`` more, after ``waited_s`` spent waiting and
        ``other_failures`` failures that did not name a wait (this one included, if it is one)."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after > self.max_retry_after_s:
            return True
        if waited_s + upcoming_s > self.max_wait_s:
            return True
        return not self.told_to_wait(exc) and other_failures >= self.max_attempts

    def check_retry_after(self, exc: BaseException) -> None:
        """Turn a 429 whose Retry-After exceeds the cap into ``QuotaExhausted``."""
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, errors.RateLimited) and retry_after is not None and retry_after > self.max_retry_after_s:
            raise errors.QuotaExhausted(
                f"the provider asked to wait {retry_after:.0f} s (cap {self.max_retry_after_s:.0f} s): "
                "the quota looks exhausted; try later or raise the quota",
                retry_after=retry_after,
            ) from exc

    def give_up_note(self, exc: BaseException, attempts: int, waited_s: float) -> str:
        """Why the call stopped retrying, for the end of its error message."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after > self.max_retry_after_s:
            why = f"it asked to wait {retry_after:.0f} s, more than the {self.max_retry_after_s:.0f} s cap"
        elif self.told_to_wait(exc):
            why = (
                f"the provider still asked to wait after {waited_s:.0f} s of waiting (--max-wait-s {self.max_wait_s:g})"
            )
        else:
            why = f"{attempts} attempts failed"
        return f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}: {why}"
