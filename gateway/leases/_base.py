"""Who sends an uncached request when several processes ask for it at once: the in-flight lease seam.

Within one process the gateway shares a request already on the wire (its in-flight table). Across
processes a ``CallLeases`` decides: the first to ``claim`` a request's key sends it and ``release``-s
the key once its answer is stored; the others ``wait_released`` and then read the answer from the
shared cache, or claim the key themselves if none was stored (the holder failed or died: its lease
expires). A claim also answers ``STORED`` when the answer was stored since the caller last looked
(checked in the same atomic step), so a request finished by another process between a cache miss
and a claim is never sent again. ``NoLeases`` is the single process's: every claim is ``SEND``.
"""

from __future__ import annotations

import enum
from typing import Protocol


class Claim(enum.Enum):
    SEND = "send"  # this process holds the request's lease: send it
    WAIT = "wait"  # another process is sending it: wait for its release, then read the cache
    STORED = "stored"  # its answer is in the cache already: read it


class CallLeases(Protocol):
    async def claim(self, key: str) -> Claim:
        """Who sends the request now: this process, another one, or nobody (its answer is stored)."""
        ...

    async def wait_released(self, key: str) -> None:
        """Return once the holder of ``key`` released it or its lease expired."""
        ...

    async def release(self, key: str) -> None:
        """Give up a claimed key (its answer, if any, is already stored)."""
        ...
