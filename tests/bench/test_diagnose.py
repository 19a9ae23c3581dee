"""The diagnostic's arithmetic: how long each number of calls was in flight."""

from __future__ import annotations

import pytest

from bench.diagnose import _time_by_in_flight


def test_time_by_calls_in_flight_covers_the_span_and_counts_overlaps():
    calls = [(0.0, 1.0), (0.5, 2.0), (3.0, 4.0)]
    held = _time_by_in_flight(calls, first=0.0)
    assert held[1] == pytest.approx(0.5 + 1.0 + 1.0)  # 0-0.5, 1.0-2.0, 3.0-4.0
    assert held[2] == pytest.approx(0.5)  # 0.5-1.0
    assert held[0] == pytest.approx(1.0)  # 2.0-3.0, nothing in flight
    assert sum(held.values()) == pytest.approx(4.0)
