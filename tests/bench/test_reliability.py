"""The reliability campaigns' bookkeeping, on made-up runs (the campaigns themselves: ``tests/reliability``)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from bench import reliability
from cache import ResponseCache
from optimizer.run import RunOutcome
from simulator import FaultConfig

LIVE_CALLS = {"baseline_eval": 96, "bootstrap": 40, "propose": 16, "search": 80, "final_eval": 0, "test_eval": 48}


def outcome(run_dir: Path | None = None, **results: Any) -> RunOutcome:
    phases = {name: {"live_calls": calls} for name, calls in LIVE_CALLS.items()}
    total = {"live_calls": sum(LIVE_CALLS.values())}
    return RunOutcome(run_dir, dict(results), {"phases": phases, "total": total})


def test_differing_keys_names_only_compared_keys_that_differ():
    reference = dict.fromkeys(reliability.COMPARED_KEYS, 1) | {"timing": 5}
    assert reliability.differing_keys(dict(reference, timing=9), reference) == []
    changed = dict(reference, optimized_score=2, trials=[1])
    assert reliability.differing_keys(changed, reference) == ["optimized_score", "trials"]
    assert reliability.differing_keys({}, reference) == list(reliability.COMPARED_KEYS)


def test_kill_points_wait_for_their_phase_and_a_few_answers_and_follow_the_seed():
    reference = outcome()
    points = reliability.kill_points(reference, random.Random(7))
    assert [p.phase for p in points] == ["bootstrap", "propose", "search", "final_eval", "test_eval"]
    for point in points:
        if point.phase == "final_eval":  # no live call of its own: killed as it starts
            assert point.after_entries == 0
            continue
        assert 1 <= point.after_entries <= LIVE_CALLS[point.phase] // 4
    assert points == reliability.kill_points(reference, random.Random(7))
    assert points != reliability.kill_points(reference, random.Random(8))


def test_the_observed_phase_comes_from_the_runs_own_log_lines():
    def line(edge: str, phase: str) -> str:
        return f"2026-01-01T00:00:00Z [info     ] phase.{edge}                    phase={phase}"

    assert reliability.observed_phase([]) == "before bootstrap"
    lines = [line("start", "baseline_eval"), "[search] trial 1/4", line("start", "bootstrap")]
    assert reliability.observed_phase(lines) == "bootstrap"
    lines += [line("end", "bootstrap"), line("end", "baseline_eval")]
    assert reliability.observed_phase(lines) == "after bootstrap"  # the baseline is not a step of its own
    lines += [line("start", "propose")]
    assert reliability.observed_phase(lines) == "propose"
    json_line = '{"event": "phase.start", "phase": "search"}'  # --log-json is not what the campaign reads
    assert reliability.observed_phase([*lines, json_line]) == "propose"


def test_run_dir_problems_finds_leftovers_and_half_written_json(tmp_path):
    assert reliability.run_dir_problems(tmp_path / "missing") == []
    (tmp_path / "ledger.json").write_text('{"total": {}}')
    (tmp_path / "report.html").write_text("<html>")
    assert reliability.run_dir_problems(tmp_path) == []
    (tmp_path / "evaluations.json").write_text('{"baseline_dev": [')
    (tmp_path / "results.json.tmp").write_text("{}")
    (tmp_path / ".ledger.json.x1").write_text("{}")
    problems = reliability.run_dir_problems(tmp_path)
    assert len(problems) == 3
    assert problems[0] == ".ledger.json.x1: a temporary file left behind"
    assert problems[1].startswith("evaluations.json: half-written (")
    assert problems[2] == "results.json.tmp: a temporary file left behind"


def test_cache_health_counts_every_entry_and_the_corrupted_ones(tmp_path):
    with ResponseCache(tmp_path) as cache:
        cache.set("v1:aaa", {"response": {"x": 1}})
        cache.set("v1:bbb", {"response": {"x": 2}})
        cache.raw_set("v1:ccc", "not json")
    assert reliability.cache_health(tmp_path) == (3, 1)


def test_each_retry_pairs_with_the_sleep_after_it():
    record = reliability.Instruments()
    record.sequence += [("retry", {"error": "RateLimited", "attempt": 1}), ("sleep", 0.25)]
    record.sequence += [("retry", {"error": "Unavailable", "attempt": 2}), ("sleep", 0.5)]
    assert record.retries == [{"error": "RateLimited", "attempt": 1}, {"error": "Unavailable", "attempt": 2}]
    assert record.sleeps == [0.25, 0.5]
    assert reliability._paired(record) == [
        ({"error": "RateLimited", "attempt": 1}, 0.25),
        ({"error": "Unavailable", "attempt": 2}, 0.5),
    ]
    record.sequence.append(("retry", {"error": "RequestTimeout", "attempt": 1}))
    with pytest.raises(AssertionError, match="not followed by its sleep"):
        reliability._paired(record)


def test_affected_prompts_are_those_that_received_a_malformed_answer(tmp_path):
    record = reliability.Instruments(malformed_messages=["system text]]\nWhat is 2+2?\n[[ ## response ## ]]"])
    report = reliability.StormReport("storm", FaultConfig(), None, None, {}, record, tmp_path, "http://127.0.0.1:1/v1")
    assert report.affected_prompts(["What is 2+2?", "Name a prime.", "2+2?"]) == {"What is 2+2?"}


def test_changed_examples_lists_the_indices_that_differ(tmp_path):
    def run_dir(name: str, records: dict[str, list[dict[str, Any]]]) -> Path:
        directory = tmp_path / name
        directory.mkdir()
        (directory / "evaluations.json").write_text(json.dumps(records))
        return directory

    same = {"index": 0, "composite": 0.5}
    theirs = {"test_baseline": [same, {"index": 1, "composite": 0.7}], "final_dev": [same]}
    mine = {"test_baseline": [same, {"index": 1, "composite": 0.6}], "final_dev": [same]}
    changed = reliability.changed_examples(outcome(run_dir("mine", mine)), outcome(run_dir("ref", theirs)))
    assert changed == {"test_baseline": [1], "final_dev": []}
