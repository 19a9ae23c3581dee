"""The money benchmark's procedures hold their goals (the figures in RELIABILITY.md come from them)."""

from __future__ import annotations

from bench import money


def test_dense_text_stays_under_the_cap_with_and_without_attempts_in_doubt():
    plain = money.overshoot(None, 64)
    doubtful = money.overshoot(None, 16, in_doubt=True)
    assert plain["within_cap"] and plain["answered"] > 0
    assert doubtful["within_cap"] and doubtful["in_doubt_attempts"] > 0 and doubtful["in_doubt_usd"] > 0


def test_a_restarted_server_gets_no_spend_until_the_budget_is_re_created(tmp_path):
    figures = money.restart(tmp_path)
    assert figures["no_spend_without_recreation"]
    assert "--recreate-spent" in figures["rerun_refused_with"]
    assert "created again from $0" in figures["rerun_after_fresh_refused_with"]
    assert figures["after_recreation_spent_usd"] > 0 and figures["total_over_cap"] <= 1 + 1e-9
