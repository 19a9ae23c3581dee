"""A transient provider error never changes the optimization: a burst of 429/503 while MIPROv2 bootstraps
(whose code catches every error and carries on without the example) is either waited out, giving the
fault-free run's program byte for byte, or stops the run with one line, after which the same command
resumes from the cache to that same program."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import gateway.runtime as gw_runtime
from gateway import errors
from gateway.core import Gateway
from gateway.ledger import Ledger
from gateway.transports import Transport
from gateway.types import ChatCall
from optimizer.cli import RESUME_HINT, main
from optimizer.run import RunOutcome

pytestmark = pytest.mark.slow


class BootstrapBurst:
    """Lets the first ``skip`` attempts of the bootstrap phase through, then answers the next ``size`` with a
    429 or a 503 (alternately), each asking to wait ``wait_s``; every other attempt goes to the real transport."""

    def __init__(self, inner: Transport, ledger: Ledger, size: int, wait_s: float, skip: int) -> None:
        self.inner = inner
        self.ledger = ledger
        self.left = size
        self.skip = skip
        self.wait_s = wait_s
        self.injected: list[str] = []

    async def send(self, call: ChatCall) -> dict[str, Any]:
        if self.left > 0 and self.ledger.current_phase() == "bootstrap":
            if self.skip > 0:
                self.skip -= 1
                return await self.inner.send(call)
            self.left -= 1
            kind = "429" if len(self.injected) % 2 == 0 else "503"
            self.injected.append(kind)
            if kind == "429":
                raise errors.RateLimited("HTTP 429: burst", retry_after=self.wait_s)
            raise errors.Unavailable("HTTP 503: burst", retry_after=self.wait_s)
        return await self.inner.send(call)


def inject(monkeypatch: pytest.MonkeyPatch, size: int, wait_s: float, skip: int = 0) -> list[BootstrapBurst]:
    """Every gateway the runtime builds from here on sends through a ``BootstrapBurst``."""
    made: list[BootstrapBurst] = []
    real: Callable[..., Gateway] = gw_runtime.Gateway

    def gateway(transport: Transport, **kwargs: Any) -> Gateway:
        burst = BootstrapBurst(transport, kwargs["ledger"], size, wait_s, skip)
        made.append(burst)
        return real(burst, **kwargs)

    monkeypatch.setattr(gw_runtime, "Gateway", gateway)
    return made


def flags(harness: ModuleType, out: Path, cache: Path) -> list[str]:
    return [*harness.SMALL_FLAGS, "--sim-latency-ms", "1", "--quiet", "--out", str(out), "--cache-dir", str(cache)]


def program(outcome: RunOutcome) -> bytes:
    assert outcome.run_dir is not None
    return (outcome.run_dir / "optimized_program.json").read_bytes()


def test_a_burst_waited_out_gives_the_fault_free_program(harness, reference, tmp_path, monkeypatch, capsys):
    bursts = inject(monkeypatch, size=24, wait_s=0.02, skip=3)
    assert main(flags(harness, tmp_path / "run", tmp_path / "cache")) == 0
    capsys.readouterr()
    (burst,) = bursts
    assert burst.injected.count("429") == 12 and burst.injected.count("503") == 12  # the burst happened
    assert (tmp_path / "run" / "optimized_program.json").read_bytes() == program(reference)
    ledger = json.loads((tmp_path / "run" / "ledger.json").read_text())
    assert ledger["phases"]["bootstrap"]["retries"] >= 24 and ledger["total"]["errors"] == 0


def test_a_burst_beyond_patience_stops_the_run_and_the_rerun_resumes(harness, reference, tmp_path, monkeypatch, capsys):
    # Waits of 0.02 s plus jitter against a patience of 0.01 s: the first call the burst hits gives up.
    inject(monkeypatch, size=10_000, wait_s=0.02, skip=8)
    out, cache = tmp_path / "run", tmp_path / "cache"
    assert main([*flags(harness, out, cache), "--max-wait-s", "0.01"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: HTTP 429: burst") and RESUME_HINT in lines[0], err
    assert "gave up after 1 attempt" in lines[0]
    assert not (out / "optimized_program.json").exists()  # nothing half-made
    ledger = json.loads((out / "ledger.json").read_text())
    assert ledger["phases"]["bootstrap"]["errors"] >= 1
    assert "search" not in ledger["phases"]  # it stopped where the error was, not after a silent detour

    monkeypatch.undo()  # the provider is back
    assert main(flags(harness, out, cache)) == 0
    capsys.readouterr()
    assert (out / "optimized_program.json").read_bytes() == program(reference)
    resumed = json.loads((out / "ledger.json").read_text())
    assert resumed["total"]["cached_calls"] > 0  # what was answered before the stop was not paid twice
