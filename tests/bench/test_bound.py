"""The ideal bound's arithmetic: segments of overlapping phases, critical paths, throughput floors."""

from __future__ import annotations

import pytest

from bench.bound import anchor_bound, run_bound, search_rounds, segments

L = 0.1


def phase(live: int, started: float, ended: float) -> dict:
    return {"live_calls": live, "started_s": started, "ended_s": ended}


# The shape of one of our runs: the baseline beside everything else, the search's rounds, the test.
OVERLAPPING = {
    "phases": {
        "baseline_eval": phase(840, 0.0, 19.0),
        "bootstrap": phase(78, 0.3, 1.8),
        "propose": phase(28, 1.8, 3.9),
        "search": phase(960, 3.9, 11.6),
        "final_eval": phase(0, 11.6, 11.6),
        "test_eval": phase(600, 11.6, 16.4),
    }
}


def test_phases_that_overlap_form_one_segment_and_share_one_throughput_floor():
    (segment,) = run_bound(OVERLAPPING, num_candidates=6, mean_latency_s=L, concurrency=16, search_rounds=1)
    assert segment.phase == "baseline_eval+bootstrap+propose+search+final_eval+test_eval"
    assert segment.live_calls == 840 + 78 + 28 + 960 + 600
    assert segment.throughput_s == pytest.approx(2506 * L / 16)
    # MIPROv2's steps follow one another: 13 bootstrap examples over 5 sets (3 in a row), 28 proposal
    # calls (13 in a row), one round of search evaluations, the test evaluation; final_eval sent nothing.
    assert segment.critical_s == pytest.approx(3 * 2 * L + 13 * L + 2 * L + 2 * L)
    assert segment.bound_s == segment.throughput_s


def test_phases_one_after_another_are_segments_of_their_own():
    ledger = {
        "phases": {
            "bootstrap": phase(78, 0.0, 1.0),
            "propose": phase(28, 1.0, 2.0),
            "search": phase(960, 2.5, 9.0),
            "test_eval": phase(600, 9.0, 12.0),
        }
    }
    bounds = run_bound(ledger, num_candidates=6, mean_latency_s=L, concurrency=16, search_rounds=4)
    assert [b.phase for b in bounds] == ["bootstrap", "propose", "search", "test_eval"]
    by_name = {b.phase: b for b in bounds}
    assert by_name["search"].critical_s == pytest.approx(4 * 2 * L)
    assert by_name["search"].bound_s == pytest.approx(960 * L / 16)
    assert by_name["propose"].bound_s == pytest.approx(13 * L)  # a chain no concurrency can shorten


def test_at_high_concurrency_the_critical_path_decides():
    (segment,) = run_bound(OVERLAPPING, num_candidates=6, mean_latency_s=L, concurrency=1000, search_rounds=2)
    assert segment.bound_s == pytest.approx(segment.critical_s) and segment.critical_s > segment.throughput_s
    assert segment.critical_s == pytest.approx(3 * 2 * L + 13 * L + 2 * 2 * L + 2 * L)


def test_segments_keep_start_order_and_phases_without_spans_stand_alone():
    phases = {"b": phase(1, 5.0, 6.0), "a": phase(1, 0.0, 2.0), "c": phase(1, 1.0, 3.0), "d": {"live_calls": 1}}
    assert segments(phases) == [["a", "c"], ["b"], ["d"]]


def test_search_rounds_count_the_trials_evaluated_ahead_once():
    trials = [{"reused": True}, {"prefetched": True}, {"prefetched": True}, {"reused": True}, {}]
    assert search_rounds(trials) == 2
    assert search_rounds([{"reused": True}, {}, {}, {}]) == 3
    assert search_rounds([{"reused": True}]) == 0


def test_the_anchor_runs_evaluations_two_wide_and_the_rest_one_at_a_time():
    phases = {
        "baseline_eval": {"server_requests": 240},
        "bootstrap": {"server_requests": 78},
        "propose": {"server_requests": 28},
    }
    assert anchor_bound(phases, mean_latency_s=L) == pytest.approx((120 + 78 + 28) * L)
