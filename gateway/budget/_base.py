"""The spending cap's seam: the ``Budget`` protocol, the ``Hold`` a call reserves, and what both budgets share.

``gateway/budget/local.py`` caps one process; ``gateway/budget/redis.py`` caps every worker that names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gateway.errors import ConfigurationError


@dataclass(frozen=True)
class Hold:
    """What one admitted call has reserved; handed back to ``settle``."""

    amount_usd: float
    ident: str = ""  # a shared budget's name for the reservation; empty for a local one


# Every call of an uncapped budget holds this: nothing reserved, nothing to release.
NO_HOLD = Hold(0.0)


class Budget(Protocol):
    """A spending cap that calls reserve against before they are sent and settle after."""

    max_cost_usd: float | None

    async def reserve(self, estimate_usd: float | None) -> Hold:
        """Admit one call whose worst case is ``estimate_usd``; wait near the cap; raise when it cannot fit."""
        ...

    async def settle(self, hold: Hold, cost_usd: float | None) -> None:
        """Release ``hold`` and add what the call really cost (its reservation when that is unknown)."""
        ...

    def as_dict(self) -> dict[str, Any]:
        """The cap and what stands against it, as JSON data."""
        ...


def unpriced_under_cap(cap_usd: float) -> ConfigurationError:
    return ConfigurationError(
        f"--max-cost ${cap_usd:g} cannot hold: the price of this call's model is unknown "
        "(name the model to price it with, e.g. --price-model gpt-4o)"
    )


def charged_usd(hold: Hold, cost_usd: float | None) -> float:
    """What a settled call counts against the cap: its cost, or its whole reservation when that is unknown."""
    return hold.amount_usd if cost_usd is None else cost_usd
