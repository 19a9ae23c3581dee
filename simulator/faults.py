"""Deciding misbehaviour: injected faults, Azure-style rate limits and latency.

Everything here is free of I/O so it can be tested directly; the server only asks and then sleeps,
refuses or answers.

* ``FaultPlan`` decides each attempt's fate from SHA-256 draws. Transient faults use the body digest
  *and* how many times that exact body has been seen, so a retry draws afresh and can succeed while the
  whole sequence stays reproducible. Content-filter refusals use the body digest alone: permanent.
* ``AdmissionLimiter`` holds two continuous token buckets (requests and tokens per minute) and, when a
  request does not fit, says exactly how long until it would; either way it tells what remains, for
  the ``x-ratelimit-*`` headers every answer carries when a limit is set.
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
    """A continuous bucket: holds up to ``burst_s`` seconds of a per-minute ``limit`` and refills ``limit`` a minute."""

    def __init__(self, limit: int, burst_s: float, now: float) -> None:
        self.limit = limit
        self.rate = limit / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        """Bring the level up to date."""
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` units are available (0 when they are now)."""
        # The small tolerance stops float dust from refusing a caller who waited exactly as told.
        return max(0.0, (amount - self.level - 1e-9) / self.rate)

    def reset_s(self) -> float:
        """Seconds until the bucket is full again, if nothing more is taken."""
        return (self.capacity - self.level) / self.rate


@dataclass(frozen=True)
class QuotaState:
    """The buckets as a request left them: what OpenAI's and Azure's ``x-ratelimit-*`` headers report."""

    limits: tuple[tuple[str, int, float, float], ...]  # (requests|tokens, per-minute limit, remaining, reset_s)

    def headers(self) -> dict[str, str]:
        """``x-ratelimit-limit-*``, ``-remaining-*`` (whole units) and ``-reset-*`` (a duration such as ``1.5s``)."""
        found: dict[str, str] = {}
        for kind, limit, remaining, reset_s in self.limits:
            found[f"x-ratelimit-limit-{kind}"] = str(limit)
            found[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(remaining)))
            found[f"x-ratelimit-reset-{kind}"] = format_duration(reset_s)
        return found


def format_duration(seconds: float) -> str:
    """A duration as OpenAI writes its resets: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1.0:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60.0:
        return f"{math.ceil(seconds * 1000) / 1000:g}s"
    minutes, rest = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{rest}s"


class AdmissionLimiter:
    """Requests-per-minute and tokens-per-minute limits, charged at admission like Azure OpenAI.

    A request is admitted only if both buckets can pay for it; otherwise nothing is taken and the
    caller learns the real wait until both could. A request costing more tokens than a full bucket
    holds is charged the full bucket, so it waits for a full bucket rather than forever. Each bucket
    holds ``burst_s`` seconds of its limit, as Azure enforces a per-minute quota over short slices.
    """

    def __init__(self, rpm: int, tpm: int, clock: Callable[[], float] = time.monotonic, burst_s: float = 60.0) -> None:
        self._clock = clock
        now = clock()
        self._requests = TokenBucket(rpm, burst_s, now) if rpm > 0 else None
        self._tokens = TokenBucket(tpm, burst_s, now) if tpm > 0 else None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether any limit is configured."""
        return self._requests is not None or self._tokens is not None

    def admit(self, tokens: int) -> tuple[float, QuotaState]:
        """Take one request and ``tokens`` if both fit (wait 0.0); else the seconds to wait. With the state after."""
        with self._lock:
            now = self._clock()
            charges = []
            if self._requests is not None:
                charges.append(("requests", self._requests, 1.0))
            if self._tokens is not None:
                charges.append(("tokens", self._tokens, min(float(tokens), self._tokens.capacity)))
            for _, bucket, _ in charges:
                bucket.refill(now)
            wait = max((bucket.wait_for(amount) for _, bucket, amount in charges), default=0.0)
            if wait <= 0:
                for _, bucket, amount in charges:
                    bucket.level -= amount
            state = QuotaState(tuple((kind, b.limit, b.level, b.reset_s()) for kind, b, _ in charges))
            return wait, state

    def state(self) -> QuotaState:
        """The buckets now, without taking anything."""
        with self._lock:
            now = self._clock()
            buckets = [(k, b) for k, b in (("requests", self._requests), ("tokens", self._tokens)) if b is not None]
            for _, bucket in buckets:
                bucket.refill(now)
            return QuotaState(tuple((kind, b.limit, b.level, b.reset_s()) for kind, b in buckets))
