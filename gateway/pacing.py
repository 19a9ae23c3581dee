"""Pacing admissions to the quota the provider reports, so that processes sharing one quota share it.

OpenAI and Azure report their quota on every answer (``x-ratelimit-limit-*``, ``-remaining-*``,
``-reset-*``: see ``gateway.transports.headers``) and answer 429 when it is spent. A process that paces
itself from those readings needs no shared service and no ``--tpm`` to stay within a quota that
colleagues, CI and other applications draw from too.

The model, per endpoint and per dimension (requests, tokens): the provider's quota is a bucket that
refills at ``limit / 60`` a second up to its capacity (``remaining + rate × reset``). Only per-minute
quotas are paced: a reading needs its limit, what remains and a reset no longer than a minute's refill
(``per_minute``). A reading taken when request *k* was admitted says how much remained then; since
then the bucket refilled, and this process spent what it admitted after *k*. What others spent since
is unknown, so a process claims only its **share** of the pool, each of its admissions counting
``tokens / share`` of it, and the pool refilling at the reported rate as the provider's does::

    pool_k = min(capacity, remaining_k + rate × (now − t_k)) − own spend since k / share
    pool(t) = min(capacity, pool(t') + rate × (t − t'))  −  what it admits at t, / share

and admits a request once ``tokens / share`` fits in the pool less a reserve. What it admitted is thus
refilled as the provider refills it: no wait is longer than the refill it needs, whether readings keep
coming or not. At its reset a reading's ``remaining`` says nothing more and is dropped; a window after
it, with no newer reading, the limit is forgotten too and the pacer stops pacing (answers that stopped
carrying headers, a proxy that strips them). Waits count toward the caller's ``--max-wait-s``: an
admission that would wait longer raises ``PacingTimeout`` and nothing is sent.

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
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from gateway import errors
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
    waited_s: float = 0.0  # how long the admission waited on the pacer
    shared: SharedAdmission | None = None  # its admission through the readings every worker shares, if any


WINDOW_S = 60.0  # OpenAI's and Azure's x-ratelimit-limit-* are per minute
MIN_CAPACITY_S = 1.0  # a bucket holds at least a second of refill, whatever a reading says
MIN_READING_LIFE_S = 1.0  # a reading is kept at least this long after the request it answers was admitted
REPUBLISH_S = 20.0  # a worker says the limits again this often while it holds a reading (they expire in 60 s)
RESET_SLACK_S = 1.0  # a per-minute reset may read this much longer than a minute's refill (rounding, transit)


def per_minute(limit: float | None, remaining: float, reset_s: float | None) -> bool:
    """Whether a reading is one of a per-minute quota: only those are paced.

    A limit whose window is not known is not paced: without a reset time, or with one longer than a
    per-minute bucket could take to refill what is missing (a provider's per-day limit, passed through
    LiteLLM under the same names), or a reading that contradicts itself (more remaining than the limit).
    """
    if limit is None or limit <= 0 or reset_s is None or remaining > limit:
        return False
    return reset_s <= WINDOW_S * (1.0 - remaining / limit) + RESET_SLACK_S


class _Bucket:
    """The provider's bucket of one dimension, as this process can tell it.

    ``level`` is the pool at ``at`` less this process's own admissions since (each counted as its
    share's worth of the pool: ``tokens / share``); it refills at the reported rate up to the
    capacity, so what was admitted since a reading is refilled as the provider refills it, and no
    admission waits longer than the refill it needs. At the reading's reset what it said remained is
    dropped (``remaining`` None: the bucket is full again as far as it said, less what this process
    admitted since); a window later with no newer reading the limit is forgotten too (the pacer drops
    the bucket): the quota may have changed, and nothing says so.
    """

    __slots__ = ("at", "capacity", "expires_at", "forget_at", "level", "rate_per_s", "read_at", "remaining")

    def __init__(self, limit: float, remaining: float, reset_s: float, taken_at: float) -> None:
        self.rate_per_s = limit / WINDOW_S
        # The level when full: what remains plus what refills before the reset (a provider that
        # enforces its quota over a few seconds, as Azure does, holds less than a minute's worth).
        self.capacity = min(limit, max(remaining + self.rate_per_s * reset_s, self.rate_per_s * MIN_CAPACITY_S))
        self.remaining: float | None = remaining
        self.read_at = taken_at  # when the request whose answer carried the reading was admitted
        self.expires_at = taken_at + max(reset_s, MIN_READING_LIFE_S)  # full again by then: the reading says no more
        self.forget_at = self.expires_at + WINDOW_S
        self.level = remaining
        self.at = taken_at

    def settle(self, own_since: float, share: float, now: float) -> None:
        """Bring the reading, taken at ``read_at``, to ``now``: refill, then this process's spend since."""
        self.level = min(self.capacity, self.level + self.rate_per_s * max(0.0, now - self.read_at))
        self.level -= own_since / share
        self.at = now

    def pool(self, now: float) -> float:
        """What this process may count on now, in the pool's units."""
        return min(self.capacity, self.level + self.rate_per_s * max(0.0, now - self.at))

    def spend(self, amount: float, share: float, now: float) -> None:
        self.level = self.pool(now) - amount / share
        self.at = now


class QuotaPacer:
    """The pacing arithmetic for one provider quota: readings in, admission delays out. No I/O, no clock."""

    def __init__(self, policy: PacingPolicy | None = None) -> None:
        self.policy = policy or PacingPolicy()
        self.share = 1.0
        self.paused_until = float("-inf")
        self.decreases = 0
        self.reported = False  # whether any answer has reported a per-minute quota
        self._buckets: list[_Bucket | None] = [None, None]
        self._spent = [0.0, 0.0]  # requests and tokens this process has admitted
        self._last_decrease = float("-inf")
        self._waited_at = float("-inf")  # when an admission last had to wait on the share
        self._grown_at = float("-inf")  # when the share last grew (or was last found not to need to)

    @property
    def active(self) -> bool:
        """Whether a limit is held: until a reading comes (and a window after the last) only a 429's wait holds
        admissions."""
        return self._buckets != [None, None]

    def limits_per_minute(self) -> tuple[float | None, float | None]:
        """The (requests, tokens) per minute the provider's readings report; None where none did."""
        requests, tokens = self._buckets
        return (
            requests.rate_per_s * WINDOW_S if requests is not None else None,
            tokens.rate_per_s * WINDOW_S if tokens is not None else None,
        )

    def delay(self, tokens: float, now: float) -> float:
        """Seconds until a request of ``tokens`` may be admitted (0: now); always finite."""
        self.age(now)
        wait = self.paused_until - now
        reserve_s = self.policy.reserve_s
        for dim, need in ((REQUESTS, 1.0), (TOKENS, float(tokens))):
            bucket = self._buckets[dim]
            if bucket is None:
                continue
            # A request bigger than a whole share waits for a full pool (else it would wait forever).
            want = min(need / self.share, bucket.capacity - reserve_s * bucket.rate_per_s)
            shortfall = want - (bucket.pool(now) - reserve_s * bucket.rate_per_s)
            if shortfall > 1e-9:
                wait = max(wait, shortfall / bucket.rate_per_s)
        return max(0.0, wait)

    def take(self, tokens: float, now: float, *, waited: bool = False, waited_s: float = 0.0) -> Ticket:
        """Admit a request of ``tokens`` now; ``waited`` says it had to wait on the share."""
        self._spent[REQUESTS] += 1.0
        self._spent[TOKENS] += tokens
        for dim, amount in ((REQUESTS, 1.0), (TOKENS, float(tokens))):
            bucket = self._buckets[dim]
            if bucket is not None:
                bucket.spend(amount, self.share, now)
        if waited:
            self._waited_at = now
        return Ticket(now, self._spent[REQUESTS], self._spent[TOKENS], waited_s)

    def observe(self, ticket: Ticket, reading: QuotaReading | None, now: float) -> None:
        """An answer came back to the request of ``ticket``, with the provider's ``reading`` (if any)."""
        self.age(now)
        if reading is None:
            return  # no news (a timeout, a proxy that strips headers): the held reading goes on ageing
        self._read(ticket, reading, now)
        elapsed = min(1.0, now - self._grown_at)
        self._grown_at = now
        if self.share >= 1.0 or elapsed <= 0 or now - self._waited_at > 1.0:
            return  # growth is earned only by a process that waits on its share
        # Waiting on the share while the provider's quota fills up means the share is too small.
        if any(
            bucket is not None
            and bucket.remaining is not None
            and bucket.remaining >= self.policy.unused_above * bucket.capacity
            for bucket in self._buckets
        ):
            self.share = min(1.0, self.share * (1.0 + self.policy.increase_per_s * elapsed))

    def throttled(self, ticket: Ticket, retry_after: float | None, reading: QuotaReading | None, now: float) -> None:
        """The request of ``ticket`` was answered 429: hold admissions for its wait, halve the share.

        A provider that reports no per-minute quota (no such reading, now or before) is not paced: its
        429s are retried call by call, as any transient failure.
        """
        if reading is not None:
            self._read(ticket, reading, now)
        if not self.reported:
            return
        if retry_after is not None:
            self.paused_until = max(self.paused_until, now + retry_after)
        if now - self._last_decrease >= self.policy.decrease_every_s:
            self.share = max(self.policy.min_share, self.share * self.policy.decrease)
            self._last_decrease = now
            self.decreases += 1

    def age(self, now: float) -> None:
        """Drop what the readings no longer say: past its reset a reading's remaining, a window later its limit."""
        for dim, bucket in enumerate(self._buckets):
            if bucket is None:
                continue
            if now >= bucket.forget_at:
                self._buckets[dim] = None  # no reading for a window: the limit may have changed; not paced
            elif now >= bucket.expires_at:
                bucket.remaining = None  # past its reset: what it said remained says nothing any more

    def _read(self, ticket: Ticket, reading: QuotaReading, now: float) -> None:
        for dim, limit, remaining, reset in (
            (REQUESTS, reading.limit_requests, reading.remaining_requests, reading.reset_requests_s),
            (TOKENS, reading.limit_tokens, reading.remaining_tokens, reading.reset_tokens_s),
        ):
            if remaining is None or limit is None or reset is None or not per_minute(limit, remaining, reset):
                continue
            held = self._buckets[dim]
            if held is not None and ticket.taken_at < held.read_at:
                continue  # an answer overtaken by a later admission's: its reading is older
            bucket = _Bucket(limit, remaining, reset, ticket.taken_at)
            own = self._spent[dim] - (ticket.spent_tokens if dim == TOKENS else ticket.spent_requests)
            bucket.settle(own, self.share, max(now, ticket.taken_at))
            self._buckets[dim] = bucket
            self.reported = True


@dataclass(frozen=True)
class SharedAdmission:
    """A request's turn in the bucket every worker on a deployment shares: when (the server's clock) and
    how many requests and tokens had been admitted through it then, this one included."""

    at: float
    admitted_requests: float
    admitted_tokens: float


@dataclass(frozen=True)
class SharedReading:
    """What an answer reported of the quota, for the shared bucket: the admission it answers and what
    remained then (None for a dimension without a per-minute reading)."""

    admission: SharedAdmission
    remaining_requests: float | None
    remaining_tokens: float | None


class QuotaReadings(Protocol):
    """Where the quota the provider reports is kept: by each process's pacer alone, or for every worker.

    ``publish`` records the per-minute limits a reading reported for a deployment. ``admit`` gives a
    request of ``tokens`` its turn among every worker's admissions to that deployment, paced at those
    limits, after lowering what the shared bucket holds to what ``reading`` (the latest answer this
    worker read) says remained less what every worker admitted since; it returns the seconds to wait
    for that turn and the turn, or None where nothing is shared.
    """

    async def publish(self, deployment: str, requests_per_min: float | None, tokens_per_min: float | None) -> None: ...

    async def admit(
        self, deployment: str, tokens: int, reading: SharedReading | None
    ) -> tuple[float, SharedAdmission] | None: ...


class LocalReadings:
    """Readings kept by each process's pacer alone: nothing to publish, nothing shared to wait on."""

    async def publish(self, deployment: str, requests_per_min: float | None, tokens_per_min: float | None) -> None:
        return None

    async def admit(
        self, deployment: str, tokens: int, reading: SharedReading | None
    ) -> tuple[float, SharedAdmission] | None:
        return None


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
        readings: QuotaReadings | None = None,
        deployment: str = "",
    ) -> None:
        self.pacer = QuotaPacer(policy)
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.waited_s = 0.0
        self._readings = readings or LocalReadings()
        self._deployment = deployment
        self._published: tuple[float | None, float | None] = (None, None)
        self._publish_again_at = float("-inf")
        self._unsent: SharedReading | None = None  # the latest reading the shared bucket has not had yet

    @property
    def active(self) -> bool:
        return self.pacer.active

    @property
    def reports_quota(self) -> bool:
        """Whether this endpoint has reported a per-minute quota (its admissions are then counted exactly)."""
        return self.pacer.reported

    async def acquire(self, tokens: int, *, max_wait_s: float = math.inf, model: str = "") -> Ticket:
        """Wait until a request of ``tokens`` fits this process's share of the provider's quota; admit it.

        Raises ``PacingTimeout`` (nothing sent) rather than wait past ``max_wait_s`` in all: the
        caller's ``--max-wait-s`` less what the call has waited already.
        """
        pacer = self.pacer
        pacer.age(self._clock())
        limits = pacer.limits_per_minute()
        if limits != (None, None) and (limits != self._published or self._clock() >= self._publish_again_at):
            self._published, self._publish_again_at = limits, self._clock() + REPUBLISH_S
            await self._readings.publish(self._deployment, *limits)
        # With shared readings, first the turn in the bucket every worker on this deployment admits through.
        reading, self._unsent = self._unsent, None
        turn = await self._readings.admit(self._deployment, tokens, reading)
        shared, admission = turn if turn is not None else (0.0, None)
        if shared > max_wait_s:
            raise errors.PacingTimeout(_timeout_line(pacer, tokens, model, 0.0, shared, max_wait_s))
        if shared > 0:
            self.waited_s += shared
            await self._sleep(shared)
        now = self._clock()
        if not pacer.active and pacer.paused_until <= now:  # no reading held: nothing to pace by
            return replace(pacer.take(tokens, now, waited_s=shared), shared=admission)
        async with self._lock:
            waited = shared
            while True:
                now = self._clock()
                wait = pacer.delay(tokens, now)
                if wait <= 0:
                    return replace(pacer.take(tokens, now, waited=waited > 0, waited_s=waited), shared=admission)
                if waited + wait > max_wait_s:
                    raise errors.PacingTimeout(_timeout_line(pacer, tokens, model, waited, wait, max_wait_s))
                step = min(wait, pacer.policy.poll_s)
                waited += step
                self.waited_s += step
                await self._sleep(step)

    def observe(self, ticket: Ticket, headers: Mapping[str, str] | None) -> None:
        """The answer to ``ticket``'s request, with its headers (None when the transport gives none)."""
        reading = quota_reading(headers)
        self.pacer.observe(ticket, reading, self._clock())
        self._keep_for_sharing(ticket, reading)

    def throttled(self, ticket: Ticket, retry_after: float | None, headers: Mapping[str, str] | None) -> None:
        """``ticket``'s request was answered 429, asking for ``retry_after`` seconds."""
        reading = quota_reading(headers)
        self.pacer.throttled(ticket, retry_after, reading, self._clock())
        self._keep_for_sharing(ticket, reading)

    def _keep_for_sharing(self, ticket: Ticket, reading: QuotaReading | None) -> None:
        """Keep the latest reading of a shared admission: the next admission takes it to the shared bucket."""
        if reading is None or ticket.shared is None:
            return
        requests, tokens = (
            remaining if remaining is not None and limit is not None and per_minute(limit, remaining, reset) else None
            for limit, remaining, reset in (
                (reading.limit_requests, reading.remaining_requests, reading.reset_requests_s),
                (reading.limit_tokens, reading.remaining_tokens, reading.reset_tokens_s),
            )
        )
        if requests is None and tokens is None:
            return
        if self._unsent is None or self._unsent.admission.at <= ticket.shared.at:
            self._unsent = SharedReading(ticket.shared, requests, tokens)


def _timeout_line(pacer: QuotaPacer, tokens: int, model: str, waited: float, wait: float, cap: float) -> str:
    requests, per_min = pacer.limits_per_minute()
    quota = ", ".join(
        f"{value:,.0f} {unit}/min" for value, unit in ((requests, "requests"), (per_min, "tokens")) if value is not None
    )
    return (
        f"pacing: {model or 'the endpoint'}'s reported quota ({quota or 'a 429 pause'}, this process's share "
        f"{pacer.share:.3g}) would admit a request of {tokens:,} tokens only after {waited + wait:.0f} s of "
        f"waiting, more than the {cap:.0f} s left of --max-wait-s; nothing was sent"
    )


class Pacing:
    """One ``PacedAdmission`` per endpoint identity (one quota each), sharing a clock and a sleep."""

    def __init__(
        self,
        policy: PacingPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        readings: QuotaReadings | None = None,
    ) -> None:
        self.policy = policy or PacingPolicy()
        self._clock = clock
        self._sleep = sleep
        self.readings: QuotaReadings = readings or LocalReadings()
        self._admissions: dict[str, PacedAdmission] = {}

    def for_endpoint(self, identity: str) -> PacedAdmission:
        admission = self._admissions.get(identity)
        if admission is None:
            admission = self._admissions[identity] = PacedAdmission(
                self.policy, clock=self._clock, sleep=self._sleep, readings=self.readings, deployment=identity
            )
        return admission

    @property
    def waited_s(self) -> float:
        return sum(a.waited_s for a in self._admissions.values())
