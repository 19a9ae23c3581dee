"""The shared-state benchmark's arithmetic: spans, quota shares, repeated calls."""

from __future__ import annotations

import pytest

from bench.shared_state import POLL_S, answered_span, quota_share, rejected_share, repeated_paid_calls


def test_the_span_runs_from_before_the_first_tokens_to_the_final_total():
    samples = [(0.0, 0), (0.25, 0), (0.5, 100), (0.75, 300), (1.0, 600), (1.25, 600), (1.5, 600)]
    tokens, seconds = answered_span(samples)
    assert tokens == 600
    assert seconds == pytest.approx(1.0 - 0.25)  # first tokens came after 0.25 s; the total was seen at 1.0 s


def test_a_span_whose_first_sample_has_tokens_is_widened_by_one_poll():
    assert answered_span([(0.1, 50), (0.35, 80)]) == (80, pytest.approx(0.35 - 0.1 + POLL_S))


def test_no_tokens_is_an_empty_span():
    assert answered_span([]) == (0, 0.0)
    assert answered_span([(0.0, 0), (0.25, 0)]) == (0, 0.0)


def test_quota_share_is_tokens_per_minute_over_the_quota():
    assert quota_share(50_000, 30.0, 100_000) == pytest.approx(1.0)
    assert quota_share(47_500, 30.0, 100_000) == pytest.approx(0.95)
    assert quota_share(10, 0.0, 100) == 0.0


def test_rejected_share_and_repeated_calls():
    assert rejected_share(5, 500) == pytest.approx(0.01)
    assert rejected_share(0, 0) == 0.0
    assert repeated_paid_calls(requests_total=570, clean_requests=564, unsaved_at_kill=4) == 2
