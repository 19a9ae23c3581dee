"""Fixtures shared by the gateway's tests over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simulator import SimConfig, Simulator


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Simulator]]:
    """Start simulators (no latency unless asked); all are stopped at teardown."""
    started: list[Simulator] = []

    def start(**config: Any) -> Simulator:
        config.setdefault("latency_ms", 0.0)
        sim = Simulator(SimConfig(**config)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
