"""Token and cost accounting per phase of a run.

The current phase is set with ``with ledger.phase("search"):``. It lives in a context variable, so it
follows work into asyncio tasks and into threads started with a copy of the context; work handed to
threads that do not copy the context (DSPy's parallel executor) sees the innermost phase still open
on the ledger. Phases may overlap (a run evaluates its baseline while MIPROv2 bootstraps): each
phase's ``wall_s`` is the time it was open, and the total's is the time any phase was open. Each
phase also reports when it was first opened and last closed (``started_s``, ``ended_s``, seconds
after the ledger was made), so readers can tell which phases ran at the same time.

The ledger only accounts. The spending cap is the gateway's ``Budget`` (``gateway/budget/``);
``max_cost_usd`` here is the cap the run ran under, recorded for whoever reads ``ledger.json``.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import structlog

log = structlog.get_logger("ledger")

NO_PHASE = "unphased"
_current_phase: contextvars.ContextVar[str | None] = contextvars.ContextVar("ledger_phase", default=None)


@dataclass
class PhaseTotals:
    """What one phase's calls did. Every call the gateway is asked for ends as exactly one of
    ``live_calls`` (answered by the provider), ``cached_calls`` (answered without a request: from the
    cache, a cached refusal, or an identical request already on the wire), ``errors`` (failed or
    refused by the provider: retries spent, a content filter, a bad request), ``cancelled`` (given up
    by its caller after a request was sent) or ``refused`` (never sent: the budget cap, a replay miss,
    an earlier fatal error). The requests the provider received are ``live_calls + retries + errors +
    cancelled``. Tokens and ``cost_usd`` count every billed answer, a filtered completion
    (``finish_reason: content_filter``) included; ``cached_prompt_tokens`` are the part of
    ``prompt_tokens`` the provider served from its prompt cache (priced at the cache-read price).
    ``cancelled_max_usd`` is the most the cancelled requests can have cost (a provider may bill a
    request whose answer nobody read); ``in_doubt_usd`` is the reservation kept as spent for the
    ``in_doubt`` attempts whose outcome is unknown (timed out or lost their connection after the
    provider may have received them; each is also a retry or an error)."""

    live_calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    unpriced_calls: int = 0
    retries: int = 0
    errors: int = 0
    cancelled: int = 0
    cancelled_max_usd: float = 0.0
    in_doubt: int = 0
    in_doubt_usd: float = 0.0
    refused: int = 0
    truncated: int = 0  # answers cut at max_tokens, asked again with a larger limit
    wall_s: float = 0.0

    def add(self, other: PhaseTotals) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    @property
    def requests(self) -> int:
        """Requests the provider received for these calls, retries included."""
        return self.live_calls + self.retries + self.errors + self.cancelled

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cost_usd"] = round(self.cost_usd, 6)
        data["saved_usd"] = round(self.saved_usd, 6)
        data["cancelled_max_usd"] = round(self.cancelled_max_usd, 6)
        data["in_doubt_usd"] = round(self.in_doubt_usd, 6)
        data["wall_s"] = round(self.wall_s, 3)
        data["requests"] = self.requests
        # A cost we could not price is unknown, never $0.
        data["cost_known"] = self.unpriced_calls == 0
        return data


@dataclass
class Ledger:
    """Per-phase totals of every call the gateway makes (and, for the record, the cap the run ran under)."""

    max_cost_usd: float | None = None
    phases: dict[str, PhaseTotals] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[str] = []
        self._origin = time.perf_counter()
        self._spans: dict[str, list[float]] = {}  # phase -> [first opened, last closed], from _origin
        self._busy_since = 0.0  # when the first of the phases now open was opened
        self._busy_s = 0.0  # time with at least one phase open, phases closed so far

    # -- phases -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Attribute every call made inside the block (in tasks and threads alike) to ``name``."""
        token = _current_phase.set(name)
        started = time.perf_counter()
        with self._lock:
            if not self._open:
                self._busy_since = started
            self._open.append(name)
            self.phases.setdefault(name, PhaseTotals())
            self._spans.setdefault(name, [started - self._origin, started - self._origin])
        log.info("phase.start", phase=name)
        try:
            yield
        finally:
            ended = time.perf_counter()
            elapsed = ended - started
            with self._lock:
                self.phases[name].wall_s += elapsed
                self._spans[name][1] = ended - self._origin
                self._open.remove(name)
                if not self._open:
                    self._busy_s += ended - self._busy_since
                totals = self.phases[name].as_dict()
            _current_phase.reset(token)
            log.info(
                "phase.end",
                phase=name,
                live_calls=totals["live_calls"],
                cached_calls=totals["cached_calls"],
                cost_usd=totals["cost_usd"],
                retries=totals["retries"],
                errors=totals["errors"],
                wall_s=round(elapsed, 2),
            )

    def current_phase(self) -> str:
        name = _current_phase.get()
        if name is not None:
            return name
        with self._lock:
            return self._open[-1] if self._open else NO_PHASE

    def _totals(self, phase: str | None) -> PhaseTotals:
        name = phase or self.current_phase()
        return self.phases.setdefault(name, PhaseTotals())

    # -- recording ----------------------------------------------------------------------------
    def record_live(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float | None,
        retries: int,
        phase: str | None = None,
        *,
        cached_prompt_tokens: int = 0,
    ) -> None:
        """A call the provider answered, after ``retries`` failed attempts."""
        with self._lock:
            totals = self._totals(phase)
            totals.live_calls += 1
            totals.retries += retries
            totals.cached_prompt_tokens += cached_prompt_tokens
            _add_billed(totals, prompt_tokens, completion_tokens, cost_usd)

    def record_cached(self, would_have_cost_usd: float | None, phase: str | None = None) -> None:
        """A call answered without a request (cache, cached refusal, identical request in flight)."""
        with self._lock:
            totals = self._totals(phase)
            totals.cached_calls += 1
            if would_have_cost_usd is not None:
                totals.saved_usd += would_have_cost_usd

    def record_error(
        self,
        retries: int,
        phase: str | None = None,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = 0.0,
    ) -> None:
        """A call that failed after ``retries`` retries; a billed refusal also brings its tokens and cost."""
        with self._lock:
            totals = self._totals(phase)
            totals.errors += 1
            totals.retries += retries
            if prompt_tokens or completion_tokens or cost_usd:
                _add_billed(totals, prompt_tokens, completion_tokens, cost_usd)
            elif cost_usd is None:
                totals.unpriced_calls += 1

    def record_cancelled(self, retries: int, max_cost_usd: float | None, phase: str | None = None) -> None:
        """A call its caller gave up on while a request was on the wire (or between attempts)."""
        with self._lock:
            totals = self._totals(phase)
            totals.cancelled += 1
            totals.retries += retries
            if max_cost_usd is None:
                totals.unpriced_calls += 1
            else:
                totals.cancelled_max_usd += max_cost_usd

    def record_in_doubt(self, reserved_usd: float | None, phase: str | None = None) -> None:
        """An attempt whose outcome is unknown: its reservation (the most it can cost) is kept as spent."""
        with self._lock:
            totals = self._totals(phase)
            totals.in_doubt += 1
            if reserved_usd is None:
                totals.unpriced_calls += 1
            else:
                totals.in_doubt_usd += reserved_usd

    def record_refused(self, phase: str | None = None) -> None:
        """A call the gateway did not send (budget cap, replay miss, an earlier fatal error)."""
        with self._lock:
            self._totals(phase).refused += 1

    def record_truncated(self, phase: str | None = None) -> None:
        """An answer was cut at its max_tokens and is asked again with a larger limit."""
        with self._lock:
            self._totals(phase).truncated += 1

    # -- spend --------------------------------------------------------------------------------
    @property
    def spent_usd(self) -> float:
        """What the cap counts as spent: the priced cost of every answer, and the most the cancelled
        requests and the attempts in doubt can have cost."""
        with self._lock:
            return self._spent()

    def _spent(self) -> float:
        return sum(t.cost_usd + t.cancelled_max_usd + t.in_doubt_usd for t in self.phases.values())

    # -- reporting ----------------------------------------------------------------------------
    def total(self) -> PhaseTotals:
        """The sum of the phases, except ``wall_s``: the time any phase was open (phases may overlap)."""
        with self._lock:
            total = PhaseTotals()
            for totals in self.phases.values():
                total.add(totals)
            total.wall_s = self._busy_s + (time.perf_counter() - self._busy_since if self._open else 0.0)
            return total

    def as_dict(self) -> dict[str, Any]:
        """``{"phases": {name: totals}, "total": totals}``; the total is the sum of the phases (but see ``total``).

        Each phase opened with ``phase`` also carries ``started_s`` and ``ended_s`` (see the module's
        docstring); a phase still open ends now.
        """
        with self._lock:
            now = time.perf_counter() - self._origin
            phases = {name: totals.as_dict() for name, totals in self.phases.items()}
            for name, (started, ended) in self._spans.items():
                phases[name]["started_s"] = round(started, 3)
                phases[name]["ended_s"] = round(now if name in self._open else ended, 3)
        return {"phases": phases, "total": self.total().as_dict(), "max_cost_usd": self.max_cost_usd}


LEDGER_COLUMNS = (
    "live_calls",
    "cached_calls",
    "prompt_tokens",
    "completion_tokens",
    "cached_prompt_tokens",
    "cost_usd",
    "in_doubt_usd",
    "saved_usd",
    "retries",
    "errors",
    "truncated",
    "wall_s",
)


def _add_billed(totals: PhaseTotals, prompt_tokens: int, completion_tokens: int, cost_usd: float | None) -> None:
    totals.prompt_tokens += prompt_tokens
    totals.completion_tokens += completion_tokens
    if cost_usd is None:
        totals.unpriced_calls += 1
    else:
        totals.cost_usd += cost_usd


def format_ledger(data: dict[str, Any]) -> str:
    """A ledger (as ``Ledger.as_dict`` or ``ledger.json`` holds it) as a readable table."""
    headers = (
        "phase",
        "live",
        "cached",
        "prompt tok",
        "compl tok",
        "cached tok",
        "cost $",
        "in doubt $",
        "saved $",
        "retries",
        "errors",
        "truncated",
        "wall s",
    )
    rows = [(name, totals) for name, totals in data.get("phases", {}).items()] + [("total", data["total"])]

    def cells(name: str, t: dict[str, Any]) -> list[str]:
        cost = f"{t['cost_usd']:.4f}" if t.get("cost_known", True) else f"{t['cost_usd']:.4f}+?"
        return [
            name,
            str(t["live_calls"]),
            str(t["cached_calls"]),
            str(t["prompt_tokens"]),
            str(t["completion_tokens"]),
            str(t.get("cached_prompt_tokens", 0)),  # ledgers written before these were counted lack them
            cost,
            f"{t.get('in_doubt_usd', 0.0):.4f}",
            f"{t['saved_usd']:.4f}",
            str(t["retries"]),
            str(t["errors"]),
            str(t.get("truncated", 0)),  # ledgers written before it was counted lack it
            f"{t['wall_s']:.1f}",
        ]

    table = [list(headers)] + [cells(n, t) for n, t in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    lines = []
    for i, row in enumerate(table):
        if i == len(table) - 1:
            lines.append("  ".join("-" * w for w in widths))
        lines.append(
            "  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
    total = data["total"]
    if not total.get("cost_known", True):
        lines.append("+? : some calls used a model with no known price (set --price-model)")
    if total.get("cancelled"):
        lines.append(
            f"cancelled with a request on the wire: {total['cancelled']} "
            f"(the provider may bill them: at most ${total.get('cancelled_max_usd', 0.0):.4f})"
        )
    if total.get("in_doubt"):
        lines.append(
            f"in doubt (timed out or lost after the provider may have received them): {total['in_doubt']} "
            f"attempt(s), counted as spent: ${total.get('in_doubt_usd', 0.0):.4f}"
        )
    if total.get("refused"):
        lines.append(f"not sent (budget cap, replay miss or a stopped run): {total['refused']}")
    return "\n".join(lines)
