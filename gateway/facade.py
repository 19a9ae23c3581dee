"""The thin sync facade: one event loop on a background thread, reached from any thread.

DSPy runs predictors on worker threads. They hand their calls to the one loop and block for the
answer, so the gateway's semaphore, rate limiter and in-flight table stay global to the process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import structlog

from gateway.core import Gateway
from gateway.types import ChatCall, Completion

T = TypeVar("T")
log = structlog.get_logger("gateway")


class GatewayLoop:
    """Owns the event loop thread that every gateway call runs on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._thread = threading.Thread(target=self._run, name="gateway-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (from any thread but the loop's own)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("GatewayLoop.run called from the loop thread; await the coroutine instead")
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Await ``closer()`` on the loop when it closes, after its tasks are cancelled and before it stops."""
        self._closers.append(closer)

    def close(self) -> None:
        if self.loop.is_closed():
            return

        async def _shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Sessions bound to this loop (the HTTP transport's) must close here, while it still runs.
            for closer in self._closers:
                try:
                    await closer()
                except Exception as exc:  # one failing closer must not keep the others open
                    log.warning("gateway.close_failed", error=f"{type(exc).__name__}: {exc}")
            await self.loop.shutdown_asyncgens()

        try:
            asyncio.run_coroutine_threadsafe(_shutdown(), self.loop).result(timeout=10)
        except Exception:  # a stuck task must not prevent shutdown
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class SyncGateway:
    """Blocking access to a ``Gateway`` whose work runs on a ``GatewayLoop``."""

    def __init__(self, gateway: Gateway, loop: GatewayLoop) -> None:
        self.gateway = gateway
        self.loop = loop

    def complete(self, call: ChatCall) -> Completion:
        return self.loop.run(self.gateway.complete(call))
