"""The limiter's seam: ``RateLimits`` (requests/min and tokens/min) and the ``Limiter`` protocol.

``gateway/limits/local.py`` holds one process to its limits; ``gateway/limits/redis.py`` holds every
worker calling a deployment to that deployment's limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RateLimits:
    """Per-minute limits; ``None`` leaves that dimension unlimited."""

    rpm: float | None = None
    tpm: float | None = None
    burst_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.burst_s <= 0:
            raise ValueError("burst_s must be positive")

    @property
    def enabled(self) -> bool:
        return self.rpm is not None or self.tpm is not None


class Limiter(Protocol):
    """Admits one request at a time within a deployment's request and token rates."""

    waited_s: float  # total time callers were held back, for reports

    async def acquire(self, tokens: int, *, deployment: str = "") -> None:
        """Return when one request of ``tokens`` admission tokens to ``deployment`` may be sent."""
        ...
