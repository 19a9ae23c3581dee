"""The quota benchmark's arithmetic and plan (the runs themselves are the benchmark, not a test)."""

from __future__ import annotations

import pytest

from bench.quota import Scenario, format_table, quota_figures, scenarios


def stats(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "requests": 1000,
        "statuses": {"200": 970, "429": 30},
        "tokens": {"prompt": 400_000, "completion": 50_000, "quota": 520_000, "truncated": 2_000},
        "truncated": 4,
        "span_s": 60.0,
    }
    base.update(overrides)
    return base


def test_useful_tokens_leave_out_cut_answers_and_are_per_minute_of_the_quota():
    figures = quota_figures(stats(), quota_tpm=500_000)
    assert figures["useful_tokens"] == 448_000  # prompt + completion - the cut answers' tokens
    assert figures["useful_per_quota"] == pytest.approx(448_000 / 500_000)  # over one minute
    assert figures["admitted_per_quota"] == pytest.approx(520_000 / 500_000)
    assert figures["share_429"] == 0.03 and figures["answered_429"] == 30
    half = quota_figures(stats(span_s=120.0), quota_tpm=500_000)
    assert half["useful_per_quota"] == pytest.approx(figures["useful_per_quota"] / 2)
    # What the quota allowed in the span: its refill and the 10 s bucket it started with.
    assert figures["useful_per_allowed"] == pytest.approx(448_000 / (500_000 * 70 / 60))


def test_a_scenario_without_requests_has_no_rates():
    figures = quota_figures(stats(requests=0, statuses={}, span_s=0.0), quota_tpm=1000)
    assert figures["share_429"] == 0.0 and figures["useful_per_quota"] is None


def test_each_count_runs_without_tpm_and_if_asked_with_the_whole_quota_each():
    plan = scenarios([1, 3], 600_000, client_tpm=True)
    assert [(s.seeds, s.client_tpm) for s in plan] == [
        ((1,), None),
        ((1,), 600_000),
        ((1, 2, 3), None),
        ((1, 2, 3), 600_000),
    ]
    assert plan[2].processes == 3 and plan[0].name.startswith("solo")
    assert [s.client_tpm for s in scenarios([6], 1000, client_tpm=False)] == [None]
    assert Scenario("x", (4, 5)).processes == 2


def test_the_table_shows_every_scenario():
    row = {
        "scenario": "3 processes, no --tpm",
        "processes": 3,
        "completed": 3,
        "identical": 3,
        **quota_figures(stats(), 500_000),
        "cpu_s": 12.0,
    }
    table = format_table([row], 500_000)
    assert "| 3 processes, no --tpm | 3/3 | 3/3 | 1,000 | 30 (3.00%) | 0.896 | 0.768 | 1.040 | 60 | 12 |" in table
