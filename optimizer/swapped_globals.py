"""Stand-ins in module globals of DSPy (or GEPA), swapped in once per process and dispatched per context.

An optimizer of ours replaces a few objects that DSPy's optimizers look up in their modules' globals.
Module globals belong to the whole process, and a sweep runs several optimizers in it at once: one
that swapped them in and back out by itself would save another's stand-ins as "DSPy's" and restore
them after that one had finished. ``SwappedGlobals`` swaps once: while at least one optimizer runs
(``dispatching``), each stand-in sits in its place and answers for the optimizer of the calling
context (``current``: a context variable, set on the thread that runs ``compile`` and copied into
every thread and task it starts); with none in the context, DSPy's own object answers (``stock``).
The last optimizer to finish puts DSPy's objects back.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _nothing() -> None:
    pass


class SwappedGlobals(Generic[T]):
    """``places`` (module, global's name, stand-in), swapped while ``dispatching`` blocks run.

    ``install`` runs after the stand-ins go in, ``uninstall`` before they come out (under the swap's lock).
    """

    def __init__(
        self,
        name: str,
        places: Sequence[tuple[types.ModuleType, str, Any]],
        *,
        install: Callable[[], None] = _nothing,
        uninstall: Callable[[], None] = _nothing,
    ) -> None:
        self._active: contextvars.ContextVar[T | None] = contextvars.ContextVar(name, default=None)
        self._places = tuple(places)
        self._install, self._uninstall = install, uninstall
        self._lock = threading.Lock()
        self._users = 0
        self._stock: dict[str, Any] = {}

    def current(self) -> T | None:
        """What the optimizer running in this context dispatches to, if one runs."""
        return self._active.get()

    def stock(self, name: str) -> Any:
        """DSPy's own object in the place named ``name``, swapped out or not."""
        for module, place, _ in self._places:
            if place == name:
                return self._stock.get(name, getattr(module, name))
        raise KeyError(name)

    @contextlib.contextmanager
    def dispatching(self, value: T) -> Iterator[None]:
        """Run the block with the stand-ins answering for ``value`` in this context (and the threads it starts)."""
        with self._lock:
            if self._users == 0:
                for module, name, stand_in in self._places:
                    self._stock[name] = getattr(module, name)
                    setattr(module, name, stand_in)
                self._install()
            self._users += 1
        token = self._active.set(value)
        try:
            yield
        finally:
            self._active.reset(token)
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._uninstall()
                    for module, name, _ in self._places:
                        setattr(module, name, self._stock.pop(name))
