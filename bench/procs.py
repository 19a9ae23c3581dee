"""Running one benchmarked command as a child process and measuring its wall time and peak memory."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessFigures:
    """What one child process cost: wall seconds, peak resident memory, exit status, load around it."""

    wall_s: float
    max_rss_mib: float
    returncode: int
    load_before: float
    load_after: float

    def as_dict(self) -> dict[str, float]:
        return {
            "wall_s": round(self.wall_s, 3),
            "max_rss_mib": round(self.max_rss_mib, 1),
            "returncode": self.returncode,
            "load_before": self.load_before,
            "load_after": self.load_after,
        }


class CommandFailed(Exception):
    """A benchmarked command exited non-zero; the message names its log."""


def load_average() -> float:
    """The one-minute load average (how busy the machine was: other people's work adds noise)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return -1.0


def run_measured(cmd: list[str], *, env: dict[str, str], cwd: Path, log_path: Path, timeout_s: float) -> ProcessFigures:
    """Run ``cmd`` with its output in ``log_path``; its own peak RSS comes from ``wait4``, not a sum of children."""
    load_before = load_average()
    with log_path.open("w") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        timer = threading.Timer(timeout_s, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting again
    figures = ProcessFigures(wall, usage.ru_maxrss / 1024.0, proc.returncode, load_before, load_average())
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise CommandFailed(f"{' '.join(cmd[:3])} … exited {proc.returncode} (log {log_path}): " + " | ".join(tail))
    return figures
