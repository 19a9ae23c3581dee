"""One gateway serving many runs at once: each call is recorded in the ledger of the run that made it.

A sweep runs its cells concurrently in one process through one gateway, so that they share one
concurrency bound, one rate limiter, one cache and one budget (the gateway's ``Budget``: one cap
for all of them). Each cell still gets the ledger a run of its own would have. ``RunLedgers``
stands where the gateway expects its ledger: a run enters ``with ledgers.run(ledger):`` on the
thread that drives it, and every call made from there (in the asyncio tasks and the threads it
starts with a copy of its context, as the ledger's phases already require) is recorded in that
run's ledger, under that run's phase. A call made outside any run is recorded in ``unattributed``
(a sweep checks that it stays empty).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Concatenate, ParamSpec

from gateway.ledger import Ledger, PhaseTotals

_run_ledger: contextvars.ContextVar[Ledger | None] = contextvars.ContextVar("run_ledger", default=None)

P = ParamSpec("P")


def _in_the_calls_ledger(record: Callable[Concatenate[Ledger, P], None]) -> Callable[Concatenate[RunLedgers, P], None]:
    """``RunLedgers``' form of one of ``Ledger``'s ``record_*`` methods: it records in the calling run's ledger."""

    def in_calls_ledger(ledgers: RunLedgers, /, *args: P.args, **kwargs: P.kwargs) -> None:
        record(ledgers._of_call(), *args, **kwargs)

    return in_calls_ledger


class RunLedgers:
    """The gateway's ledger when it serves several runs: each run's calls go to that run's ledger."""

    max_cost_usd: float | None = None  # the cap is the gateway's Budget, one for every run

    def __init__(self) -> None:
        self.unattributed = Ledger()
        self._runs: list[Ledger] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def run(self, ledger: Ledger) -> Iterator[Ledger]:
        """Record the calls made from this context (and what it starts) in ``ledger``."""
        with self._lock:
            self._runs.append(ledger)
        token = _run_ledger.set(ledger)
        try:
            yield ledger
        finally:
            _run_ledger.reset(token)

    def _of_call(self) -> Ledger:
        return _run_ledger.get() or self.unattributed

    # -- what the gateway calls -------------------------------------------------------------------
    def current_phase(self) -> str:
        return self._of_call().current_phase()

    record_live = _in_the_calls_ledger(Ledger.record_live)
    record_cached = _in_the_calls_ledger(Ledger.record_cached)
    record_error = _in_the_calls_ledger(Ledger.record_error)
    record_cancelled = _in_the_calls_ledger(Ledger.record_cancelled)
    record_in_doubt = _in_the_calls_ledger(Ledger.record_in_doubt)
    record_refused = _in_the_calls_ledger(Ledger.record_refused)
    record_truncated = _in_the_calls_ledger(Ledger.record_truncated)

    # -- reporting --------------------------------------------------------------------------------
    def total(self) -> PhaseTotals:
        """Every call of every run (and any unattributed one); ``wall_s`` is left at 0."""
        with self._lock:
            ledgers = [*self._runs, self.unattributed]
        total = PhaseTotals()
        for ledger in ledgers:
            total.add(ledger.total())
        total.wall_s = 0.0
        return total
