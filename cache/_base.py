"""The cache's seam: ``CacheStore`` (where answers live) and ``CachePolicy`` (how the gateway uses it).

``cache/disk.py`` holds the store on this machine, ``cache/redis.py`` the one a team shares.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol


class CachePolicy(enum.Enum):
    """How the gateway uses the cache."""

    READ_WRITE = "read-write"  # serve hits, store misses
    REFRESH = "refresh"  # ignore hits, store fresh answers
    OFF = "off"  # neither read nor write
    REPLAY = "replay"  # serve hits only; a miss is an error and no network call is made

    @property
    def reads(self) -> bool:
        return self in (CachePolicy.READ_WRITE, CachePolicy.REPLAY)

    @property
    def writes(self) -> bool:
        return self in (CachePolicy.READ_WRITE, CachePolicy.REFRESH)


class CacheStore(Protocol):
    """Where answers live, under keys from ``cache.key.request_key``."""

    async def lookup(self, key: str) -> dict[str, Any] | None:
        """The stored record for ``key``, None on a miss; raises CorruptEntry if it fails its check."""
        ...

    async def store(self, key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key``; a reader never sees half of it."""
        ...

    def close(self) -> None: ...
