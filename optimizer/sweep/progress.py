"""A sweep's console display: a line per running cell and one for the whole sweep, on stderr.

On a terminal the block of running cells and the sweep's line are redrawn in place a few times a
second, and each cell that ends leaves one line above them. Elsewhere (a log file, CI) each cell
that starts or ends prints one line, and the sweep's line is printed as cells end and every 30 s.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from optimizer.progress import Progress

if TYPE_CHECKING:
    from gateway.runs import RunLedgers
    from optimizer.sweep.grid import Cell

REDRAW_S = 0.25
PLAIN_STATUS_EVERY_S = 30.0
BAR_WIDTH = 16


@dataclass
class _CellLine:
    name: str
    status: str = "queued"  # queued, running, finished, failed, skipped
    label: str = ""
    done: int = 0
    total: int = 0
    started: float = 0.0


class CellProgress(Progress):
    """What a cell's run reports its progress to: the cell's line of the sweep display."""

    def __init__(self, display: SweepDisplay, name: str) -> None:
        super().__init__(display.stream, enabled=display.enabled)
        self._display = display
        self._name = name

    def bar(self, phase: str, label: str, total: int) -> Callable[[int, int], None]:
        def update(done: int, total_: int = total) -> None:
            self._display.cell_step(self._name, label, done, total_)

        return update

    def note(self, text: str) -> None:
        pass  # a cell's notes (its estimate, its phases) are the sweep's to tell


class SweepDisplay:
    """Progress of every cell and of the whole sweep."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self._cells: dict[str, _CellLine] = {}
        self._drawn = 0  # lines of the live block on screen
        self._started = time.perf_counter()
        self._runs: RunLedgers | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_plain = time.perf_counter()

    # -- what the sweep tells ---------------------------------------------------------------------
    def note(self, text: str) -> None:
        if self.enabled:
            self._print([text])

    def planned(self, cells: Sequence[Cell], *, skipped: Sequence[Cell]) -> None:
        done = {c.name for c in skipped}
        with self._lock:
            for cell in cells:
                self._cells[cell.name] = _CellLine(cell.name, "skipped" if cell.name in done else "queued")
        if skipped:
            self.note(f"{len(skipped)} of {len(cells)} cells already finished (skipped): {', '.join(sorted(done))}")

    def estimate(self, rows: Sequence[dict[str, Any]], max_cost_usd: float | None, *, concurrency: int) -> None:
        if not self.enabled or not rows:
            return
        width = max(len("cell"), *(len(r["cell"]) for r in rows))
        lines = [
            f"Estimate before any live call ({len(rows)} cells through one gateway, concurrency {concurrency}):",
            f"  {'cell':<{width}}{'calls':>8}{'prompt tok':>12}{'compl tok':>11}{'cost $':>10}{'minutes':>9}",
        ]
        for r in rows:
            cost = "unknown" if r["cost_usd"] is None else f"{r['cost_usd']:.2f}"
            lines.append(
                f"  {r['cell']:<{width}}{r['calls']:>8}{r['prompt_tokens']:>12}{r['completion_tokens']:>11}"
                f"{cost:>10}{r['minutes']:>9.2f}"
            )
        known = all(r["cost_usd"] is not None for r in rows)
        total_cost = sum(r["cost_usd"] or 0.0 for r in rows)
        cost_text = f"{total_cost:.2f}" if known else "unknown"
        lines.append(
            f"  {'total':<{width}}{sum(r['calls'] for r in rows):>8}{sum(r['prompt_tokens'] for r in rows):>12}"
            f"{sum(r['completion_tokens'] for r in rows):>11}{cost_text:>10}{sum(r['minutes'] for r in rows):>9.2f}"
        )
        lines.append(
            "  (each cell as optimize.py estimates it; minutes are each cell alone, one after another: the cells "
            "run at once, and calls two cells share are paid once)"
        )
        if max_cost_usd is not None and known and total_cost > max_cost_usd:
            lines.append(
                f"note: the estimate (${total_cost:.2f}) exceeds --max-cost (${max_cost_usd:.2f}); the sweep stops "
                "when the cap is reached (cached answers cost nothing)"
            )
        self._print(lines)

    def attach(self, runs: RunLedgers) -> None:
        """Start showing the sweep's running totals (calls and cost of every cell)."""
        self._runs = runs
        self._started = time.perf_counter()
        if self.enabled and self.tty and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="sweep-display", daemon=True)
            self._ticker.start()

    def cell_progress(self, cell: Cell) -> CellProgress:
        with self._lock:
            line = self._cells.setdefault(cell.name, _CellLine(cell.name))
            line.status, line.started = "running", time.perf_counter()
        if self.enabled and not self.tty:
            self._print([f"[sweep] {cell.name}: started"])
        return CellProgress(self, cell.name)

    def cell_step(self, name: str, label: str, done: int, total: int) -> None:
        with self._lock:
            line = self._cells.get(name)
            if line is not None:
                line.label, line.done, line.total = label, done, total

    def cell_ended(self, cell: Cell, status: str, text: str) -> None:
        with self._lock:
            line = self._cells.setdefault(cell.name, _CellLine(cell.name))
            line.status = status
            took = time.perf_counter() - line.started if line.started else 0.0
        if not self.enabled:
            return
        mark = "done" if status == "finished" else status.upper()
        lines = [f"[sweep] {cell.name}: {mark} in {took:.1f}s: {text}"]
        if not self.tty:
            lines.append(self._overall())
            self._last_plain = time.perf_counter()
        self._print(lines)

    def finished(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None
        if self.enabled and self.tty:
            with self._lock:
                self._erase()

    # -- drawing ----------------------------------------------------------------------------------
    def _overall(self) -> str:
        with self._lock:
            counts: dict[str, int] = {}
            for line in self._cells.values():
                counts[line.status] = counts.get(line.status, 0) + 1
        parts = [
            f"{counts.get(s, 0)} {s}" for s in ("finished", "running", "queued", "failed", "skipped") if counts.get(s)
        ]
        text = f"[sweep] {len(self._cells)} cells: {', '.join(parts)}"
        if self._runs is not None:
            total = self._runs.total()
            text += f"; {total.live_calls} live and {total.cached_calls} cached calls, ${total.cost_usd:.2f}"
        return text + f"; {time.perf_counter() - self._started:.0f}s"

    def _block(self) -> list[str]:
        running = [line for line in self._cells.values() if line.status == "running"]
        width = max([len(line.name) for line in running] + [4])
        rows = []
        for line in running:
            filled = int(BAR_WIDTH * line.done / line.total) if line.total else 0
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            rows.append(f"  {line.name:<{width}} {line.label:<22} |{bar}| {line.done}/{line.total}")
        return rows

    def _erase(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _print(self, lines: Sequence[str]) -> None:
        with self._lock:
            if self.tty:
                self._erase()
            self.stream.write("".join(line + "\n" for line in lines))
            self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(REDRAW_S):
            overall = self._overall()
            with self._lock:
                block = self._block() + [overall]
                self._erase()
                self.stream.write("".join(line + "\n" for line in block))
                self.stream.flush()
                self._drawn = len(block)

    def plain_status(self) -> None:
        """Off a terminal: the sweep's line, at most every ``PLAIN_STATUS_EVERY_S``."""
        if self.enabled and not self.tty and time.perf_counter() - self._last_plain >= PLAIN_STATUS_EVERY_S:
            self._last_plain = time.perf_counter()
            self._print([self._overall()])
