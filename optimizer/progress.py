"""Console progress: one line per phase step, redrawn in place on a terminal."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Progress bars for the phases of a run, written to stderr."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._lock = threading.Lock()

    def bar(self, phase: str, label: str, total: int) -> Callable[[int, int], None]:
        """A callback ``(done, total)`` that draws ``[phase] label  done/total``."""
        started = time.perf_counter()
        last_drawn = [-1.0]

        def update(done: int, total_: int = total) -> None:
            if not self.enabled:
                return
            now = time.perf_counter()
            final = done >= total_
            if not final and (not self.tty or now - last_drawn[0] < 0.1):
                return
            last_drawn[0] = now
            width = 24
            filled = int(width * done / total_) if total_ else width
            line = (
                f"[{phase}] {label:<14} |{'#' * filled}{'.' * (width - filled)}| {done}/{total_}  {now - started:5.1f}s"
            )
            with self._lock:
                if self.tty:
                    self.stream.write("\r" + line + ("\n" if final else ""))
                elif final:
                    self.stream.write(line + "\n")
                self.stream.flush()

        return update

    def note(self, text: str) -> None:
        if self.enabled:
            with self._lock:
                self.stream.write(text + "\n")
                self.stream.flush()
