"""The spending cap (``--max-cost``): reserve a call's worst case before it is sent, settle its cost after.

``Budget`` is the seam: the gateway holds one and never asks which kind. ``LocalBudget`` caps one
process (what a run gets by default); a shared budget (on Redis) caps every worker
that names it. Both keep the same promise: a call is admitted only if what has been spent, plus every
reservation still in flight, plus its own worst case fits under the cap; near the cap a call waits
for calls in flight to settle rather than be refused while it may still fit; with nothing in flight
and no room left, ``BudgetExceeded``.

A cost that cannot be priced is never taken as $0 under a cap: reserving an unknown estimate is
refused (``ConfigurationError``), and a settled call whose cost is unknown is charged its reservation.
The per-phase ledger (``gateway/ledger.py``) only accounts; it holds no reservations.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.budget._base import NO_HOLD, Hold, charged_usd, unpriced_under_cap
from gateway.errors import BudgetExceeded


class LocalBudget:
    """The cap of one process, kept in memory on the gateway's event loop."""

    def __init__(self, max_cost_usd: float | None = None) -> None:
        self.max_cost_usd = max_cost_usd
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.reservations = 0
        self._settled = asyncio.Condition() if max_cost_usd is not None else None

    async def reserve(self, estimate_usd: float | None) -> Hold:
        cap = self.max_cost_usd
        if cap is None or self._settled is None:
            return NO_HOLD
        if estimate_usd is None:
            raise unpriced_under_cap(cap)
        while True:
            if self.spent_usd + self.reserved_usd + estimate_usd <= cap:
                self.reserved_usd += estimate_usd
                self.reservations += 1
                return Hold(estimate_usd)
            if self.reservations == 0:
                raise BudgetExceeded(self.spent_usd, cap)
            # Calls in flight may settle for less than they reserved: wait for one, then look again.
            async with self._settled:
                await self._settled.wait()

    async def settle(self, hold: Hold, cost_usd: float | None) -> None:
        if self._settled is None or hold is NO_HOLD:
            return
        self.spent_usd += charged_usd(hold, cost_usd)
        self.reservations = max(0, self.reservations - 1)
        # Float sums drift; with nothing in flight the reservation is exactly zero.
        self.reserved_usd = max(0.0, self.reserved_usd - hold.amount_usd) if self.reservations else 0.0
        async with self._settled:
            self._settled.notify_all()

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": "run",
            "max_cost_usd": self.max_cost_usd,
            "spent_usd": round(self.spent_usd, 6),
            "reserved_usd": round(self.reserved_usd, 6),
            "reservations": self.reservations,
        }
