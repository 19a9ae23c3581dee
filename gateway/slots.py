"""The gateway's concurrency bound: call slots handed out by priority, then in order of arrival.

A run can have work on its critical path (MIPROv2 bootstrapping one example after another) and
work that only fills idle slots (the baseline's evaluations beside it). With a plain FIFO semaphore
each step of the chain would queue behind hundreds of filler calls; here calls made inside
``background_calls()`` wait until no ordinary call is waiting. Within a priority, first come first
served, so the order of admission stays deterministic for a given order of arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
from collections.abc import AsyncIterator, Iterator

FOREGROUND = 0
BACKGROUND = 1

_priority: contextvars.ContextVar[int] = contextvars.ContextVar("call_priority", default=FOREGROUND)


@contextlib.contextmanager
def background_calls() -> Iterator[None]:
    """Calls made inside the block (and in tasks and threads that copy its context) yield their turn."""
    token = _priority.set(BACKGROUND)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> int:
    return _priority.get()


class CallSlots:
    """At most ``capacity`` holders at once; waiters admitted by (priority, arrival)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._free = capacity
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self.waiting = 0  # waiters neither admitted nor cancelled

    async def acquire(self, priority: int | None = None) -> None:
        """Wait for a slot; ``priority`` defaults to the caller's context (``background_calls``)."""
        if self._free > 0 and not self.waiting:
            self._free -= 1
            return
        level = current_priority() if priority is None else priority
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (level, next(self._arrivals), future))
        self.waiting += 1
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed over just as the waiter was cancelled: pass it on
            else:
                self.waiting -= 1
                future.cancel()
            raise

    def release(self) -> None:
        """Hand the slot to the first waiter still waiting, or free it."""
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                self.waiting -= 1
                future.set_result(None)
                return
        self._free = min(self.capacity, self._free + 1)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()
