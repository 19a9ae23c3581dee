"""GEPA beside MIPROv2: DSPy's own dspy.GEPA through our gateway and engine, on the simulator, small."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import dspy
import pytest

from evaluation.engine import ExampleResult, JudgeScores
from evaluation.metric import DEFAULT_WEIGHTS
from evaluation.signatures import ATTRIBUTES, Generator
from optimizer.cli import build_parser, config_from_args
from optimizer.gepa.config import GEPAConfig, metric_call_budget
from optimizer.gepa.feedback import FeedbackMetric
from optimizer.run import RunConfig, run_optimization
from optimizer.testing import run_small, small_config, small_flags

ROOT = Path(__file__).resolve().parents[2]
GEPA_CALLS = 60
SMALL_GEPA = small_config(optimizer="gepa", gepa=GEPAConfig(auto=None, max_metric_calls=GEPA_CALLS))


@pytest.fixture(scope="module")
def gepa_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gepa")
    return (tmp,) + run_small(tmp, "base", SMALL_GEPA)


def test_outputs_candidates_parents_and_pareto_scores(gepa_run):
    _, run_dir, results, ledger = gepa_run
    on_disk = json.loads((run_dir / "optimization_results.json").read_text())
    assert on_disk["optimizer"] == "gepa"
    gepa = on_disk["gepa"]
    rows = gepa["candidates"]
    assert len(rows) >= 2 and rows[0]["parents"] == [] and rows[0]["instruction"] == on_disk["baseline_instruction"]
    assert all(row["parents"] and max(row["parents"]) < row["index"] for row in rows[1:])
    best = rows[gepa["best_index"]]
    assert on_disk["optimized_signature"]["instructions"] == best["instruction"]
    assert on_disk["optimized_score"] == best["dev_score"]  # the winner's dev score is GEPA's own evaluation
    assert set(gepa["pareto_front"]) == {str(i) for i in range(8)}
    assert sum(row["pareto_examples"] for row in rows) >= 8
    assert gepa["total_metric_calls"] <= GEPA_CALLS + 8  # GEPA stops after the step that crosses its budget
    # The held-out test, its paired-bootstrap interval and the gate, as for MIPROv2.
    assert on_disk["test"]["ci95"]["improvement"]["n_pairs"] == 8 and on_disk["test"]["gate"]["verdict"]
    assert on_disk["models"]["reflection"] == on_disk["models"]["prompt"]
    loaded = Generator()
    loaded.load(str(run_dir / "optimized_program.json"))
    assert loaded.generate.signature.instructions == best["instruction"]
    assert (run_dir / "report.html").is_file() and (run_dir / "ledger.json").is_file()


def test_report_shows_the_lineage_and_optuna_storage_holds_the_candidates(gepa_run):
    import optuna

    _, run_dir, results, _ = gepa_run
    page = (run_dir / "report.html").read_text()
    assert "GEPA&#x27;s candidates and their lineage" in page or "GEPA's candidates and their lineage" in page
    assert page.count("<circle") >= len(results["gepa"]["candidates"])
    assert "<td>reflect</td>" in page
    study = optuna.load_study(study_name=results["run_id"], storage=f"sqlite:///{run_dir / 'optuna.db'}")
    trials = study.get_trials()
    assert [t.value for t in trials] == [row["dev_score"] for row in results["gepa"]["candidates"]]
    assert study.user_attrs["optimizer"] == "gepa"
    assert trials[-1].user_attrs["parents"] == results["gepa"]["candidates"][-1]["parents"]


def test_the_simulated_reflection_climbs(gepa_run):
    _, _, results, _ = gepa_run
    assert results["optimized_score"] > results["baseline_score"]  # a designed property of the simulator


def test_reflection_is_a_phase_of_its_own_and_feedback_makes_no_calls(gepa_run):
    _, _, results, ledger = gepa_run
    reflect = ledger["phases"]["reflect"]
    assert reflect["live_calls"] == results["gepa"]["reflections"] >= 1
    # Each reflection shows feedback on a minibatch: answered from the evaluation, 5 judge calls each.
    answered = results["gepa"]["feedback_calls_answered_without_calls"]
    assert answered >= results["gepa"]["reflections"]
    assert results["gepa"]["judge_calls_saved"] == 5 * answered


def test_feedback_metric_answers_from_the_recorded_evaluation_without_a_model():
    metric = FeedbackMetric(DEFAULT_WEIGHTS)
    program = Generator()
    instruction = program.generate.signature.instructions
    scores = dict.fromkeys(ATTRIBUTES, 2)
    notes = {a: f"The response does not clearly address each part of the request ({a})." for a in ATTRIBUTES}
    judged = ExampleResult(0, "p?", "r.", JudgeScores(scores, notes), DEFAULT_WEIGHTS.composite(scores))
    metric.record(instruction, judged)
    failed = ExampleResult(
        1, "q?", None, None, 0.0, failure="generation: AdapterParseError: x", failure_kind="candidate"
    )
    metric.record(instruction, failed)
    trace = [(program.generate, {"prompt": "p?"}, dspy.Prediction(response="r."))]
    with dspy.context(lm=None):  # no model to call: the answer comes from the record
        out = metric(dspy.Example(prompt="p?"), dspy.Prediction(response="r."), None, "generate", trace)
        bad = metric(dspy.Example(prompt="q?"), dspy.Prediction(response=""), None, "generate", trace)
    assert out.score == pytest.approx(judged.composite)
    assert "helpfulness" in out.feedback and "does not clearly address each part" in out.feedback
    assert bad.score == 0.0 and "own output could not be used" in bad.feedback
    assert metric.answered == 2


def test_replay_makes_zero_calls_and_the_same_program(gepa_run, tmp_path):
    from cache import CachePolicy

    tmp, run_dir, results, _ = gepa_run
    config = replace(SMALL_GEPA, out_dir=tmp_path / "replay", cache_dir=tmp / "cache-base", policy=CachePolicy.REPLAY)
    outcome = run_optimization(config)
    assert outcome.ledger["total"]["live_calls"] == 0
    assert (tmp_path / "replay" / "optimized_program.json").read_bytes() == (
        run_dir / "optimized_program.json"
    ).read_bytes()
    assert outcome.results["gepa"]["candidates"] == results["gepa"]["candidates"]


def test_concurrency_1_and_16_give_identical_results(gepa_run, same_at_concurrency_1):
    _, run_dir, results, _ = gepa_run
    same_at_concurrency_1(SMALL_GEPA, run_dir, results, ("baseline_score", "optimized_score", "dev", "test", "gepa"))


def test_estimate_covers_the_budget_and_reflection(gepa_run, tmp_path):
    _, _, _, ledger = gepa_run
    outcome = run_optimization(replace(SMALL_GEPA, dry_run=True, cache_dir=tmp_path / "c"))
    rows = {row["phase"]: row for row in outcome.results["estimate"]}
    assert rows["search"]["calls"] == 6 * GEPA_CALLS
    assert rows["reflect"]["calls"] >= ledger["phases"]["reflect"]["live_calls"]
    estimated = sum(row["calls"] for row in rows.values())
    made = ledger["total"]["live_calls"] + ledger["total"]["cached_calls"]
    assert estimated >= made  # an upper bound


def test_auto_budget_is_dspys_own_arithmetic():
    assert metric_call_budget(GEPAConfig(auto="light"), 8) == 412
    assert metric_call_budget(GEPAConfig(auto="heavy"), 8) > metric_call_budget(GEPAConfig(auto="medium"), 8)


def test_mipro_stays_the_default_and_its_configuration_unchanged():
    args = build_parser().parse_args(small_flags())
    config = config_from_args(args)
    assert config.optimizer == "mipro"
    public = config.public()
    assert not {"optimizer", "gepa", "reflection_model"} & set(public)  # the same run id and results as before
    gepa = config_from_args(build_parser().parse_args([*small_flags(), "--optimizer", "gepa", "--gepa-auto", "medium"]))
    assert gepa.gepa.auto == "medium" and gepa.public()["optimizer"] == "gepa"
    assert RunConfig().optimizer == "mipro"


def test_gepa_flags_without_gepa_are_one_line_and_an_error(tmp_path):
    out = subprocess.run(
        [sys.executable, "scripts/optimize.py", *small_flags("--gepa-max-metric-calls", "10", "--dry-run")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "--gepa-max-metric-calls set GEPA's run: add --optimizer gepa" in out.stderr
    assert "Traceback" not in out.stderr


def test_killed_gepa_run_resumes_sending_only_what_was_not_answered(killed_and_resumed):
    flags = [*small_flags("--quiet"), "--optimizer", "gepa", "--gepa-max-metric-calls", str(GEPA_CALLS)]
    # Killed in the baseline and the search, then in the search and its reflections.
    killed_and_resumed(flags, (60, 200), ("baseline_score", "optimized_score", "dev", "test", "gepa"))


def test_tracking_records_gepa_candidates_and_not_miprov2_settings(gepa_run):
    from optimizer.tracking.record import read_run

    _, run_dir, results, _ = gepa_run
    record = read_run(run_dir)
    assert record.params["config.optimizer"] == "gepa" and "num_candidates" not in record.params
    dev = [m for m in record.metrics if m.key == "gepa_candidate_dev"]
    assert [m.value for m in dev] == [row["dev_score"] for row in results["gepa"]["candidates"]]


def test_a_429_in_reflection_is_retried_and_the_search_is_unchanged(gepa_run, tmp_path, monkeypatch):
    """Stock GEPA loses an iteration to a 429 in reflection; here the gateway waits and asks again."""
    from simulator import FaultConfig, SimConfig, Simulator

    _, run_dir, _, _ = gepa_run
    monkeypatch.setenv("OPENAI_API_KEY", "sim-key")
    faults = FaultConfig(rate_429=0.5, retry_after_s=0.01)
    with Simulator(SimConfig(latency_ms=1.0, faults=faults)) as sim:
        config = replace(
            SMALL_GEPA,
            model="openai/gpt-4o",
            api_base=sim.openai_api_base,
            out_dir=tmp_path / "storm",
            cache_dir=tmp_path / "cache-storm",
        )
        outcome = run_optimization(config)
    assert outcome.ledger["phases"]["reflect"]["retries"] >= 1  # reflection met 429s and asked again
    assert (tmp_path / "storm" / "optimized_program.json").read_bytes() == (
        run_dir / "optimized_program.json"
    ).read_bytes()


def test_dry_run_prints_gepa_phases_and_its_own_assumptions():
    out = subprocess.run(
        [
            sys.executable,
            "scripts/optimize.py",
            *small_flags("--optimizer", "gepa", "--gepa-auto", "light", "--dry-run"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert re.search(r"^\s+search\s+2472\s", text, re.M)  # 412 metric calls (DSPy's light budget on 8 dev), 6 each
    assert re.search(r"^\s+reflect\s+\d+\s", text, re.M)
    assert "every metric call of GEPA's budget" in text and "every trial is a fresh" not in text
