"""Deciding misbehaviour: injected faults, Azure-style rate limits and latency.

Everything here is free of I/O so it can be tested directly; the server only asks and then sleeps,
refuses or answers.

* ``FaultPlan`` decides each attempt's fate from SHA-256 draws. Transient faults use the body digest
  *and* how many times that exact body has been seen, so a retry draws afresh and can succeed while the
  whole sequence stays reproducible. Content-filter refusals use the body digest alone: permanent.
* ``AdmissionLimiter`` holds two continuous token buckets (requests and tokens per minute) and, when a
  request does not fit, says exactly how long until it would.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

from simulator.config import CONTENT_FILTER_MARKER, TRANSIENT_FAULTS, SimConfig
from simulator.hashing import unit_draw

_STANDARD_NORMAL = NormalDist()

MALFORMED_REPLY = (
    "Sorry, I got a little lost there - the answer is somewhere above, more or less, "
    "though I could not quite put it in the format you asked for."
)
"""A reply neither DSPy's ChatAdapter (no field markers) nor its JSONAdapter (no object) can parse."""


@dataclass(frozen=True)
class Verdict:
    """What happens to one attempt: ``fault`` is None for a normal answer, else a fault kind."""

    fault: str | None
    attempt: int
    latency_s: float


class FaultPlan:
    """Decides latency and faults per attempt; keeps the per-body attempt counter behind a lock."""

    def __init__(self, config: SimConfig) -> None:
        self._config = config
        self._faults = config.faults
        self._seen: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget how often each body was seen, so fault sequences start over."""
        with self._lock:
            self._seen.clear()

    def _next_attempt(self, digest: bytes) -> int:
        with self._lock:
            attempt = self._seen.get(digest, 0)
            self._seen[digest] = attempt + 1
            return attempt

    def latency(self, digest: bytes, attempt: int) -> float:
        """Seconds to wait before answering: log-normal around the median, or fixed when sigma is 0."""
        median = self._config.latency_ms / 1000.0
        if median <= 0:
            return 0.0
        sigma = self._config.latency_sigma
        if sigma <= 0:
            return median
        draw = min(max(unit_draw(digest, self._config.seed, attempt, "latency"), 1e-9), 1 - 1e-9)
        return median * math.exp(sigma * _STANDARD_NORMAL.inv_cdf(draw))

    def content_filtered(self, digest: bytes, text: str) -> bool:
        """Whether this body is refused by the content filter, now and on every retry."""
        if CONTENT_FILTER_MARKER in text:
            return True
        rate = self._faults.rate_content_filter
        return rate > 0 and unit_draw(digest, self._config.seed, "content-filter") < rate

    def decide(self, digest: bytes, text: str) -> Verdict:
        """The fate of the next attempt with this body (counts the attempt)."""
        attempt = self._next_attempt(digest)
        latency = self.latency(digest, attempt)
        if self.content_filtered(digest, text):
            return Verdict("content_filter", attempt, latency)
        if self._faults.any_transient:
            draw = unit_draw(digest, self._config.seed, attempt, "transient")
            edge = 0.0
            for kind in TRANSIENT_FAULTS:
                edge += self._faults.transient_rate(kind)
                if draw < edge:
                    return Verdict(kind, attempt, latency)
        return Verdict(None, attempt, latency)


class TokenBucket:
    """A continuous bucket: holds up to ``capacity`` units and refills ``capacity`` per minute."""

    def __init__(self, capacity: int, now: float) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / 60.0
        self.level = float(capacity)
        self.updated = now

    def refill(self, now: float) -> None:
        """Bring the level up to date."""
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` units are available (0 when they are now)."""
        # The small tolerance stops float dust from refusing a caller who waited exactly as told.
        return max(0.0, (amount - self.level - 1e-9) / self.rate)


class AdmissionLimiter:
    """Requests-per-minute and tokens-per-minute limits, charged at admission like Azure OpenAI.

    A request is admitted only if both buckets can pay for it; otherwise nothing is taken and the
    caller learns the real wait until both could. A request costing more tokens than a whole minute's
    allowance is charged the full allowance, so it waits for a full bucket rather than forever.
    """

    def __init__(self, rpm: int, tpm: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        now = clock()
        self._requests = TokenBucket(rpm, now) if rpm > 0 else None
        self._tokens = TokenBucket(tpm, now) if tpm > 0 else None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether any limit is configured."""
        return self._requests is not None or self._tokens is not None

    def admit(self, tokens: int) -> float:
        """Take one request and ``tokens`` if both fit and return 0.0; else return the seconds to wait."""
        with self._lock:
            now = self._clock()
            charges = []
            if self._requests is not None:
                charges.append((self._requests, 1.0))
            if self._tokens is not None:
                charges.append((self._tokens, min(float(tokens), self._tokens.capacity)))
            for bucket, _ in charges:
                bucket.refill(now)
            wait = max((bucket.wait_for(amount) for bucket, amount in charges), default=0.0)
            if wait > 0:
                return wait
            for bucket, amount in charges:
                bucket.level -= amount
            return 0.0
