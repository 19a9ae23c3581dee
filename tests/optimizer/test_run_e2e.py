"""The main job end to end on the simulator, with a small configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import dspy
import pytest

from cache import CachePolicy
from evaluation.signatures import Generator
from optimizer.mipro.phased import SearchConfig
from optimizer.run import run_optimization
from optimizer.testing import run_small, small_config, small_flags

ROOT = Path(__file__).resolve().parents[2]
SMALL = small_config()
SMALL_FLAGS = small_flags("--quiet")


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("base")
    return (tmp,) + run_small(tmp, "base")


def test_outputs_and_keys(base_run):
    tmp, run_dir, results, ledger = base_run
    for name in ("optimized_program.json", "optimization_results.json", "ledger.json", "evaluations.json"):
        assert (run_dir / name).is_file()
    assert not list(run_dir.glob(".*.tmp"))  # nothing half-written left behind
    on_disk = json.loads((run_dir / "optimization_results.json").read_text())
    for key in (
        "baseline_score",
        "optimized_score",
        "improvement",
        "original_signature",
        "optimized_signature",
        "token_usage",
        "dev",
        "test",
        "trials",
        "candidates",
        "failures",
        "backend",
        "models",
        "config",
        "seed",
        "dataset_fingerprint",
        "versions",
    ):
        assert key in on_disk, key
    assert on_disk["backend"] == "simulator"
    assert len(on_disk["candidates"]) == 3
    assert len(on_disk["trials"]) == 3 + 1  # the default program, then each trial
    assert on_disk["optimized_score"] >= on_disk["baseline_score"]
    assert on_disk["improvement"] == pytest.approx(on_disk["optimized_score"] - on_disk["baseline_score"], abs=0.01)
    assert on_disk["dev"]["baseline"] == on_disk["baseline_score"]
    assert set(on_disk["test"]["per_attribute"]) == {
        "helpfulness",
        "correctness",
        "coherence",
        "complexity",
        "verbosity",
    }


def test_ledger_totals_are_the_sum_of_phases(base_run):
    _, run_dir, results, ledger = base_run
    data = json.loads((run_dir / "ledger.json").read_text())
    assert set(data["phases"]) == {"baseline_eval", "bootstrap", "propose", "search", "final_eval", "test_eval"}
    for field in ("live_calls", "cached_calls", "prompt_tokens", "completion_tokens", "retries", "errors"):
        assert data["total"][field] == sum(p[field] for p in data["phases"].values()), field
    assert data["total"]["cost_usd"] == pytest.approx(sum(p["cost_usd"] for p in data["phases"].values()), abs=1e-5)
    # The baseline's dev evaluation is the search's default trial, and the winner's search trial is
    # its final dev score: neither is asked again, not even of the cache.
    assert results["trials"][0]["reused"] and results["trials"][0]["score"] == results["baseline_score"]
    assert data["phases"]["final_eval"]["live_calls"] == data["phases"]["final_eval"]["cached_calls"] == 0
    best = max(t["score"] for t in results["trials"] if t["full_eval"])
    assert results["optimized_score"] == best


def test_artifact_loads_with_plain_dspy(base_run):
    _, run_dir, results, _ = base_run
    program = Generator()
    program.load(str(run_dir / "optimized_program.json"))
    assert program.generate.signature.instructions == results["optimized_signature"]["instructions"]
    state = json.loads((run_dir / "optimized_program.json").read_text())  # JSON state, not a pickle
    # Plain DSPy reads the predictor's state without any of our classes.
    predictor = dspy.Predict("prompt -> response")
    predictor.load_state(state["generate"])
    assert predictor.signature.instructions == results["optimized_signature"]["instructions"]


def test_replay_has_zero_live_calls_and_identical_results(base_run):
    tmp, run_dir, results, _ = base_run
    config = replace(SMALL, out_dir=tmp / "replay", cache_dir=tmp / "cache-base", policy=CachePolicy.REPLAY)
    outcome = run_optimization(config)
    assert outcome.ledger["total"]["live_calls"] == 0
    assert (outcome.run_dir / "optimized_program.json").read_bytes() == (
        run_dir / "optimized_program.json"
    ).read_bytes()
    for key in ("baseline_score", "optimized_score", "dev", "test", "trials", "candidates"):
        assert outcome.results[key] == results[key], key


def test_replay_miss_stops_with_a_clear_error(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "scripts/optimize.py",
            *SMALL_FLAGS,
            "--replay",
            "--cache-dir",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "r"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "replay: no cached answer" in out.stderr and "Traceback" not in out.stderr
    ledger = json.loads((tmp_path / "r" / "ledger.json").read_text())
    assert ledger["total"]["live_calls"] == 0


def test_concurrency_1_and_16_give_identical_results(base_run, same_at_concurrency_1):
    _, run_dir, results, _ = base_run
    same_at_concurrency_1(SMALL, run_dir, results, ("baseline_score", "optimized_score", "dev", "test", "trials"))


def test_dry_run_estimate_is_within_ten_percent_of_calls_made(base_run, tmp_path):
    _, _, results, ledger = base_run
    outcome = run_optimization(replace(SMALL, dry_run=True, cache_dir=tmp_path / "c"))
    estimated = sum(row["calls"] for row in outcome.results["estimate"])
    # A trial that repeats an earlier one reuses its result instead of asking again (6 calls an example).
    reused = sum(6 * t["examples"] for t in results["trials"] if t["reused"])
    made = ledger["total"]["live_calls"] + ledger["total"]["cached_calls"] + reused
    assert abs(estimated - made) / made <= 0.10, (estimated, made)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


def test_apply_answers_through_the_gateway(base_run, tmp_path):
    _, run_dir, _, _ = base_run
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "What is DNS?"}\n"How do I boil an egg?"\n')
    out = subprocess.run(
        [
            sys.executable,
            "scripts/apply.py",
            str(run_dir),
            "--input",
            str(prompts),
            "--output",
            str(tmp_path / "answers.jsonl"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [a["prompt"] for a in answers] == ["What is DNS?", "How do I boil an egg?"]
    assert all(a["response"].strip() for a in answers)


def test_killed_run_resumes_without_repeating_completed_calls(killed_and_resumed):
    killed_and_resumed(SMALL_FLAGS, (40, 120), ("baseline_score", "optimized_score", "dev", "test", "trials"))


def test_a_repeated_trial_reuses_the_earlier_result(tmp_path):
    # Five trials over two candidates: TPE must sample some candidate again.
    _, results, ledger = run_small(tmp_path, "repeat", search=SearchConfig(num_candidates=2, num_trials=5))
    trials = results["trials"]
    # The default program's trial is the baseline's dev evaluation; later repeats reuse earlier trials.
    assert trials[0]["reused"] and trials[0]["score"] == results["baseline_score"]
    reused = [t for t in trials[1:] if t["reused"]]
    assert reused, trials
    for t in reused:
        earlier = [e for e in trials[: trials.index(t)] if e["instruction_index"] == t["instruction_index"]]
        assert earlier and earlier[0]["score"] == t["score"]
    fresh = [t for t in trials if not t["reused"]]
    # Only fresh trials ask the gateway: each example is one generation and five judge calls.
    assert ledger["phases"]["search"]["live_calls"] + ledger["phases"]["search"]["cached_calls"] == sum(
        6 * t["examples"] for t in fresh
    )
