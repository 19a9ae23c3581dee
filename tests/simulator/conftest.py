"""Fixtures for the simulator tests: running simulators and a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from simulator import SimConfig, Simulator
from simulator.testing import FakeClock


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One shared HTTP client: creating one per request costs tens of milliseconds."""
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator with no latency and no faults."""
    with Simulator(SimConfig(latency_ms=0)) as running:
        yield running


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Simulator]]:
    """Start simulators with a given config (and optional clock); all are stopped at teardown."""
    started: list[Simulator] = []

    def start(config: SimConfig, **kwargs: Any) -> Simulator:
        running = Simulator(config, **kwargs).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
