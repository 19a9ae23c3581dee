"""A standalone simulator process for the benchmarks: start it, read and reset its counters, stop it.

Every benchmarked run talks to the same kind of server over loopback, in a process of its own, so
the server's CPU never shares the measured process's interpreter lock (a real endpoint does not),
and the server's counters say how many requests each run really sent.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"OpenAI base (http://127\.0\.0\.1:\d+/v1)")


@dataclass(frozen=True)
class SimSettings:
    """How the benchmark's simulator answers: median latency (ms), log-normal spread, limits."""

    latency_ms: float
    latency_sigma: float = 0.5
    tpm: int = 0
    rpm: int = 0
    burst_s: float = 10.0  # seconds of quota a limit's bucket holds (the simulator's default)
    quota_headers_for: int = 0  # after this many requests, answers carry no x-ratelimit-* headers (0: never)

    @property
    def mean_latency_s(self) -> float:
        """The mean of the log-normal delay: median × exp(σ²/2)."""
        return self.latency_ms / 1000.0 * math.exp(self.latency_sigma**2 / 2)

    def flags(self) -> list[str]:
        return [
            "--latency-ms",
            f"{self.latency_ms:g}",
            "--latency-sigma",
            f"{self.latency_sigma:g}",
            "--tpm",
            str(self.tpm),
            "--rpm",
            str(self.rpm),
            "--burst-s",
            f"{self.burst_s:g}",
            *(["--quota-headers-for", str(self.quota_headers_for)] if self.quota_headers_for else []),
        ]


class SimulatorProcess:
    """``scripts/simulator.py --port 0`` as a child process; use as a context manager."""

    def __init__(self, settings: SimSettings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self._proc: subprocess.Popen[str] | None = None
        self.openai_api_base = ""

    def __enter__(self) -> SimulatorProcess:
        cmd = [sys.executable, str(ROOT / "scripts" / "simulator.py"), "--port", "0", *self.settings.flags()]
        self._proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        found = _LISTENING.search(line)
        if not found:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the simulator did not start: {line.strip() or 'no output'}")
        self.openai_api_base = found.group(1)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            out, _ = self._proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, _ = self._proc.communicate()
        self.log_path.write_text(out or "")
        self._proc = None

    @property
    def base_url(self) -> str:
        return self.openai_api_base.removesuffix("/v1")

    def stats(self) -> dict[str, Any]:
        return read_stats(self.openai_api_base)

    def reset(self) -> None:
        """Zero the counters and forget past attempts, so each run draws the same latencies for the same requests."""
        request = urllib.request.Request(self.base_url + "/_sim/reset?attempts=1", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def read_stats(openai_api_base: str) -> dict[str, Any]:
    """The simulator's counters (``GET /_sim/stats``) behind an OpenAI-style API base."""
    url = openai_api_base.removesuffix("/v1") + "/_sim/stats"
    for attempt in range(3):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                data: dict[str, Any] = json.loads(response.read())
                return data
        except OSError:
            if attempt == 2:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")
