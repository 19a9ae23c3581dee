"""The ideal bound's arithmetic: segments of overlapping phases, critical paths, throughput floors."""

from __future__ import annotations

import pytest

from bench.bound import anchor_bound, phase_bound, run_bound

L = 0.1


def ledger(**live: int) -> dict:
    return {"phases": {name: {"live_calls": calls} for name, calls in live.items()}}


def test_overlapping_phases_share_one_throughput_floor():
    bounds = run_bound(ledger(baseline_eval=840, bootstrap=78, propose=28, search=960, final_eval=0, test_eval=600),
                       dev_size=40, test_size=100, num_candidates=6, mean_latency_s=L, concurrency=16)
    by_name = {b.phase: b for b in bounds}
    segment = by_name["baseline_eval+bootstrap+propose"]
    assert segment.live_calls == 840 + 78 + 28
    assert segment.throughput_s == pytest.approx(946 * L / 16)
    # 13 bootstrap examples over 5 sets: at least 3 in a row; 28 proposal calls: 13 in a row.
    assert segment.critical_s == pytest.approx(3 * 2 * L + 13 * L)
    assert segment.bound_s == segment.throughput_s
    assert by_name["search"].bound_s == pytest.approx(960 * L / 16)
    assert by_name["final_eval"].bound_s == 0.0
    assert set(by_name) == {"baseline_eval+bootstrap+propose", "search", "final_eval", "test_eval"}


def test_at_high_concurrency_the_critical_path_decides():
    bounds = run_bound(ledger(baseline_eval=840, bootstrap=78, propose=28), dev_size=40, test_size=100,
                       num_candidates=6, mean_latency_s=L, concurrency=1000)
    assert bounds[0].bound_s == pytest.approx(bounds[0].critical_s) and bounds[0].critical_s > bounds[0].throughput_s


def test_an_evaluation_is_two_calls_deep():
    bound = phase_bound("test_eval", 600, examples=100, mean_latency_s=L, concurrency=1000)
    assert bound.critical_s == pytest.approx(2 * L)
    assert phase_bound("test_eval", 0, examples=100, mean_latency_s=L, concurrency=16).bound_s == 0.0


def test_the_anchor_runs_evaluations_two_wide_and_the_rest_one_at_a_time():
    phases = {"baseline_eval": {"server_requests": 240}, "bootstrap": {"server_requests": 78},
              "propose": {"server_requests": 28}}
    assert anchor_bound(phases, mean_latency_s=L) == pytest.approx((120 + 78 + 28) * L)
