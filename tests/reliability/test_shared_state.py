"""Shared state under failure, end to end: the Redis server killed under a running worker, then restarted.

The campaign is ``bench.shared_state.redis_kill`` (the figures in BENCHMARKS.md come from the same
function, with two workers on the default configuration): a clean run first, then the same run with
``--redis-url`` and the shared limiter in use, the server killed once it holds answers, the server
started again and the same command rerun.
"""

from __future__ import annotations

import pytest

from bench import shared_state


@pytest.mark.slow
@pytest.mark.services  # it starts and kills a redis-server of its own (bench.shared_state)
def test_a_lost_server_stops_the_run_cleanly_and_the_rerun_repeats_no_paid_call(tmp_path):
    # The server keeps nothing on disk: it comes back empty, and the worker's own disk tier holds
    # every answer it paid for.
    figures = shared_state.redis_kill(shared_state.SMALL, tmp_path, seeds=(7,), kill_at_answers=40, persistent=False)
    assert figures.returncodes_at_kill == [2], figures
    assert len(figures.errors_at_kill[0]) == 1, figures
    line = figures.errors_at_kill[0][0]
    assert line.startswith("error: lost Redis at redis://127.0.0.1:") and "rerun the same command" in line
    # Besides the error, at most the cache's one warning that it went local.
    assert all("cache.shared_lost" in other for other in figures.other_lines_at_kill[0]), figures.other_lines_at_kill
    assert len(figures.other_lines_at_kill[0]) <= 1
    assert figures.stop_s[0] < 10.0  # stopped within seconds, not after a timeout
    assert figures.rerun_returncodes == [0], figures
    assert figures.programs_identical_to_clean, figures
    assert figures.repeated_paid_calls == 0, figures
    assert 0 <= figures.unsaved_at_kill <= 16  # at most the calls in flight at the kill
