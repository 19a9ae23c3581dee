"""The single process's leases: nobody else can be sending the same request."""

from __future__ import annotations

from gateway.leases._base import Claim


class NoLeases:
    """One process alone: nobody else can be sending the same request."""

    async def claim(self, key: str) -> Claim:
        return Claim.SEND

    async def wait_released(self, key: str) -> None:
        return None

    async def release(self, key: str) -> None:
        return None
