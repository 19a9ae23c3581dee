"""Pacing admissions to the quota the provider reports, so that processes sharing one quota share it.

OpenAI and Azure report their quota on every answer (``x-ratelimit-limit-*``, ``-remaining-*``,
``-reset-*``: see ``gateway.transports.headers``) and answer 429 when it is spent. A process that paces
itself from those readings needs no shared service and no ``--tpm`` to stay within a quota that
colleagues, CI and other applications draw from too.

The model, per endpoint and per dimension (requests, tokens): the provider's quota is a bucket that
refills at ``limit / 60`` a second up to its capacity (``remaining + rate × reset``). A reading taken
when request *k* was admitted says how much remained then; since then the bucket refilled, and this
process spent what it admitted after *k*. What others spent since is unknown, so a process claims
only its **share** of the pool::

    claimable = share × (min(capacity, remaining_k + rate × (now − t_k)) − reserve) − own spend since k

and admits a request once it fits in what it may claim. Processes whose shares add up to at most 1
never claim the same tokens; and a share far below 1 costs no throughput, only a higher standing
level in the provider's bucket, as long as that level stays below its capacity. So the share is
halved on a 429 (at most once a second, however many 429s of one burst come back), and grown (by
``increase_per_s`` of itself a second) only while this process waits on its share although readings
show the provider's bucket more than half full, i.e. quota going unused. A process alone starts with
the whole pool; a 429 also holds every admission until its Retry-After has passed.

``QuotaPacer`` is that arithmetic, pure: it is given the time and never sleeps. ``PacedAdmission``
drives one pacer for one endpoint with an injectable clock and sleep (``acquire`` before sending,
``observe`` or ``throttled`` with the answer), and ``Pacing`` holds one per endpoint. A pacer that
has not seen a reading (the provider sends none, or no answer has come back yet) admits at once:
its 429s are retried call by call, as any transient failure. Explicit ``--rpm``/``--tpm`` limits
(``gateway.limits``) are separate and compose with it: a call passes the limiter, then the pacer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from gateway.transports.headers import QuotaReading, quota_reading

REQUESTS = 0
TOKENS = 1


@dataclass(frozen=True)
class PacingPolicy:
    """How a pacer shares a quota; the defaults suit several processes on one Azure or OpenAI quota."""

    decrease: float = 0.5  # the share kept after a 429
    increase_per_s: float = 0.25  # share grows by this fraction of itself per second while quota goes unused
    unused_above: float = 0.5  # the quota goes unused when a reading shows it more than this full
    min_share: float = 1 / 64
    decrease_every_s: float = 1.0  # at most one decrease this often: one burst of 429s is one signal
    reserve_s: float = 0.5  # seconds of refill left unclaimed (estimate error, requests still in transit)
    poll_s: float = 0.05  # how often a waiting admission looks again (readings arrive meanwhile)

    def __post_init__(self) -> None:
        if not 0 < self.decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        if not 0 < self.min_share <= 1:
            raise ValueError("min_share must be in (0, 1]")
        if not 0 < self.unused_above <= 1:
            raise ValueError("unused_above must be in (0, 1]")
        if min(self.increase_per_s, self.decrease_every_s, self.reserve_s) < 0 or self.poll_s <= 0:
            raise ValueError("pacing rates and times must not be negative")


@dataclass(frozen=True)
class Ticket:
    """One admission: when it was taken and what this process had spent, it included, at that moment."""

    taken_at: float
    spent_requests: float
    spent_tokens: float


class _Bucket:
    """The provider's bucket of one dimension as last read: level ``remaining`` at ``at``."""

    __slots__ = ("at", "capacity", "limit_seen", "rate_per_s", "remaining", "spent_at")

    def __init__(self) -> None:
        self.rate_per_s = 0.0
        self.capacity = 0.0
        self.remaining = 0.0
        self.at = float("-inf")
        self.spent_at = 0.0
        self.limit_seen = 0.0  # the largest remaining seen: the limit's stand-in when none is sent

    def read(self, limit: float | None, remaining: float, reset_s: float | None, ticket: Ticket, dim: int) -> None:
        if ticket.taken_at < self.at:
            return  # an answer overtaken by a later admission's: its reading is older
        self.limit_seen = max(self.limit_seen, remaining)
        per_minute = limit if limit is not None and limit > 0 else self.limit_seen
        self.rate_per_s = per_minute / 60.0
        capacity = per_minute
        if reset_s is not None and self.rate_per_s > 0:
            # The level when full: what remains plus what refills before the reset (a provider that
            # enforces its quota over a few seconds, as Azure does, holds less than a minute's worth).
            capacity = min(per_minute, remaining + self.rate_per_s * reset_s)
        self.capacity = max(capacity, remaining)
        self.remaining = remaining
        self.at = ticket.taken_at
        self.spent_at = ticket.spent_tokens if dim == TOKENS else ticket.spent_requests

    def pool(self, now: float, reserve_s: float) -> float:
        """What the provider holds now, as far as this process can tell, less the reserve."""
        level = min(self.capacity, self.remaining + self.rate_per_s * max(0.0, now - self.at))
        return level - reserve_s * self.rate_per_s


class QuotaPacer:
    """The pacing arithmetic for one provider quota: readings in, admission delays out. No I/O, no clock."""

    def __init__(self, policy: PacingPolicy | None = None) -> None:
        self.policy = policy or PacingPolicy()
        self.share = 1.0
        self.paused_until = float("-inf")
        self.decreases = 0
        self._buckets: tuple[_Bucket | None, _Bucket | None] = (None, None)
        self._spent = [0.0, 0.0]  # requests and tokens this process has admitted
        self._last_decrease = float("-inf")
        self._waited_at = float("-inf")  # when an admission last had to wait on the share
        self._grown_at = float("-inf")  # when the share last grew (or was last found not to need to)

    @property
    def active(self) -> bool:
        """Whether a reading has come: until then only a 429's wait holds admissions."""
        return self._buckets != (None, None)

    def limits_per_minute(self) -> tuple[float | None, float | None]:
        """The (requests, tokens) per minute the provider's readings report; None where none did."""
        requests, tokens = self._buckets
        return (
            requests.rate_per_s * 60.0 if requests is not None else None,
            tokens.rate_per_s * 60.0 if tokens is not None else None,
        )

    def delay(self, tokens: float, now: float) -> float:
        """Seconds until a request of ``tokens`` may be admitted (0: now)."""
        if not self.active:
            return 0.0
        wait = self.paused_until - now
        for dim, need in ((REQUESTS, 1.0), (TOKENS, float(tokens))):
            bucket = self._buckets[dim]
            if bucket is None or bucket.rate_per_s <= 0:
                continue
            own = self._spent[dim] - bucket.spent_at
            # A request bigger than a whole share waits for a full share (else it would wait forever).
            need = min(need, self.share * bucket.pool(float("inf"), self.policy.reserve_s))
            shortfall = (need + own) / self.share - bucket.pool(now, self.policy.reserve_s)
            if shortfall > 1e-9:
                if bucket.remaining + bucket.rate_per_s * (now - bucket.at) >= bucket.capacity:
                    # The pool is full as far as the reading goes and still short: what this process
                    # has in flight must come back (with fresh readings) first.
                    wait = max(wait, self.policy.poll_s)
                else:
                    wait = max(wait, shortfall / bucket.rate_per_s)
        return max(0.0, wait)

    def take(self, tokens: float, now: float, *, waited: bool = False) -> Ticket:
        """Admit a request of ``tokens`` now; ``waited`` says it had to wait on the share."""
        self._spent[REQUESTS] += 1.0
        self._spent[TOKENS] += tokens
        if waited:
            self._waited_at = now
        return Ticket(now, self._spent[REQUESTS], self._spent[TOKENS])

    def observe(self, ticket: Ticket, reading: QuotaReading | None, now: float) -> None:
        """An answer came back to the request of ``ticket``, with the provider's ``reading`` (if any)."""
        if reading is None:
            return
        self._read(ticket, reading)
        elapsed = min(1.0, now - self._grown_at)
        self._grown_at = now
        if self.share >= 1.0 or elapsed <= 0 or now - self._waited_at > 1.0:
            return  # growth is earned only by a process that waits on its share
        # Waiting on the share while the provider's quota fills up means the share is too small.
        if any(
            bucket is not None and bucket.remaining >= self.policy.unused_above * bucket.capacity
            for bucket in self._buckets
        ):
            self.share = min(1.0, self.share * (1.0 + self.policy.increase_per_s * elapsed))

    def throttled(self, ticket: Ticket, retry_after: float | None, reading: QuotaReading | None, now: float) -> None:
        """The request of ``ticket`` was answered 429: hold admissions for its wait, halve the share.

        A provider that reports no quota at all (no reading, now or before) is not paced: its 429s are
        retried call by call, as any transient failure.
        """
        if reading is not None:
            self._read(ticket, reading)
        if not self.active:
            return
        if retry_after is not None:
            self.paused_until = max(self.paused_until, now + retry_after)
        if now - self._last_decrease >= self.policy.decrease_every_s:
            self.share = max(self.policy.min_share, self.share * self.policy.decrease)
            self._last_decrease = now
            self.decreases += 1

    def _read(self, ticket: Ticket, reading: QuotaReading) -> None:
        buckets = list(self._buckets)
        for dim, limit, remaining, reset in (
            (REQUESTS, reading.limit_requests, reading.remaining_requests, reading.reset_requests_s),
            (TOKENS, reading.limit_tokens, reading.remaining_tokens, reading.reset_tokens_s),
        ):
            if remaining is None:
                continue
            bucket = buckets[dim] or _Bucket()
            bucket.read(limit, remaining, reset, ticket, dim)
            buckets[dim] = bucket
        self._buckets = (buckets[0], buckets[1])


class PacedAdmission:
    """One endpoint's pacer, driven: ``acquire`` waits for admission; the answer goes to ``observe``/``throttled``.

    Admissions are served in arrival order, one waiter at a time, like ``gateway.limits.RateLimiter``.
    """

    def __init__(
        self,
        policy: PacingPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.pacer = QuotaPacer(policy)
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.waited_s = 0.0

    @property
    def active(self) -> bool:
        return self.pacer.active

    async def acquire(self, tokens: int) -> Ticket:
        """Wait until a request of ``tokens`` fits this process's share of the provider's quota; admit it."""
        pacer = self.pacer
        if not pacer.active:
            return pacer.take(tokens, self._clock())  # no reading yet: nothing to pace by
        async with self._lock:
            waited = False
            while True:
                now = self._clock()
                wait = pacer.delay(tokens, now)
                if wait <= 0:
                    return pacer.take(tokens, now, waited=waited)
                waited = True
                step = min(wait, pacer.policy.poll_s)
                self.waited_s += step
                await self._sleep(step)

    def observe(self, ticket: Ticket, headers: Mapping[str, str] | None) -> None:
        """The answer to ``ticket``'s request, with its headers (None when the transport gives none)."""
        self.pacer.observe(ticket, quota_reading(headers), self._clock())

    def throttled(self, ticket: Ticket, retry_after: float | None, headers: Mapping[str, str] | None) -> None:
        """``ticket``'s request was answered 429, asking for ``retry_after`` seconds."""
        self.pacer.throttled(ticket, retry_after, quota_reading(headers), self._clock())


class Pacing:
    """One ``PacedAdmission`` per endpoint identity (one quota each), sharing a clock and a sleep."""

    def __init__(
        self,
        policy: PacingPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = policy or PacingPolicy()
        self._clock = clock
        self._sleep = sleep
        self._admissions: dict[str, PacedAdmission] = {}

    def for_endpoint(self, identity: str) -> PacedAdmission:
        admission = self._admissions.get(identity)
        if admission is None:
            admission = self._admissions[identity] = PacedAdmission(self.policy, clock=self._clock, sleep=self._sleep)
        return admission

    @property
    def waited_s(self) -> float:
        return sum(a.waited_s for a in self._admissions.values())
