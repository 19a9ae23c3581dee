"""Every run's MIPROv2 study in Optuna's storage: SQLite by default, PostgreSQL for real, the run unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import optuna
import pytest

from gateway.shared.target import redact_url
from optimizer.mipro.phased import SearchConfig
from optimizer.run import run_optimization
from optimizer.studies import ProcessStudies, StudyStorageError, storage_url, trial_payload
from optimizer.testing import small_config

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl")
SMALL = small_config(search=SearchConfig(num_candidates=3, num_trials=6, minibatch=True, minibatch_size=5))


def run(tmp: Path, name: str, **changes):
    return run_optimization(replace(SMALL, out_dir=tmp / name, cache_dir=tmp / "cache", **changes))


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("studies")
    return tmp, run(tmp, "stored"), run(tmp, "unstored", optuna_storage="none")


def assert_study_is_the_search(study: optuna.Study, results: dict) -> None:
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(len(results["trials"])))
    assert [t.value for t in trials] == [t["score"] for t in results["trials"]]
    kinds = ["full" if t["full_eval"] else "minibatch" for t in results["trials"]]
    assert [t.user_attrs["evaluation"] for t in trials] == kinds
    assert [t.params["0_predictor_instruction"] for t in trials] == [t["instruction_index"] for t in results["trials"]]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert study.user_attrs["run_id"] == results["run_id"]
    assert study.user_attrs["candidates"] == results["candidates"]


@pytest.mark.slow
def test_the_default_storage_is_a_sqlite_file_in_the_run_directory_holding_every_trial(stored):
    tmp, outcome, _ = stored
    results = outcome.results
    assert results["optuna_study"] == {"name": results["run_id"], "storage": storage_url(None, outcome.run_dir)}
    study = optuna.load_study(study_name=results["run_id"], storage=f"sqlite:///{outcome.run_dir / 'optuna.db'}")
    assert_study_is_the_search(study, results)
    # Minibatch trials and full evaluations are told apart, and both happened here.
    assert {t.user_attrs["evaluation"] for t in study.trials} == {"full", "minibatch"}
    assert {t.user_attrs["examples"] for t in study.trials} == {8, 5}


@pytest.mark.slow
def test_storing_the_study_changes_nothing_in_the_run(stored):
    tmp, with_storage, without = stored
    assert not (without.run_dir / "optuna.db").exists() and without.results["optuna_study"] is None
    program = "optimized_program.json"
    assert (with_storage.run_dir / program).read_bytes() == (without.run_dir / program).read_bytes()
    for key in ("trials", "candidates", "dev", "test", "optimized_signature"):
        assert with_storage.results[key] == without.results[key], key


@pytest.mark.slow
def test_a_postgresql_storage_holds_the_runs_study(tmp_path, postgres_schema):
    outcome = run(tmp_path, "pg", optuna_storage=postgres_schema)
    results = outcome.results
    assert results["optuna_study"]["storage"] == postgres_schema
    assert optuna.get_all_study_names(postgres_schema) == [results["run_id"]]
    assert_study_is_the_search(optuna.load_study(study_name=results["run_id"], storage=postgres_schema), results)
    assert not (outcome.run_dir / "optuna.db").exists()


def test_a_study_written_again_replaces_the_earlier_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    source = optuna.create_study(direction="maximize")
    source.optimize(lambda t: t.suggest_categorical("0_predictor_instruction", [0, 1, 2]), n_trials=3)
    for attempt in (2, 3):  # a killed first attempt with two trials, then the whole run
        sink = ProcessStudies(url, wait_ready=True)
        sink.begin("run-1", {"attempt": attempt})
        for frozen in source.trials[:attempt]:
            sink.trial("run-1", trial_payload(frozen, None))
        assert sink.close() is None
    study = optuna.load_study(study_name="run-1", storage=url)
    assert study.user_attrs == {"attempt": 3}
    assert [t.value for t in study.trials] == [t.value for t in source.trials]
    assert [t.params for t in study.trials] == [t.params for t in source.trials]


def test_a_storage_that_cannot_open_is_one_line_without_the_password(tmp_path):
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/test"
    with pytest.raises(StudyStorageError) as caught:
        ProcessStudies(url, wait_ready=True, timeout_s=30)
    message = str(caught.value)
    assert message.startswith("cannot open the Optuna storage postgresql://postgres:***@127.0.0.1:1/test: ")
    assert "s3cret-pw" not in message and "\n" not in message
    assert redact_url("sqlite:///x.db") == "sqlite:///x.db"


def test_optimize_stops_before_any_call_or_output_when_its_storage_cannot_open(tmp_path):
    flags = ["--dataset", SAMPLE, "--train-size", "20", "--dev-size", "8", "--test-size", "8", "--quiet"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "optimize.py"), *flags, "--out", str(tmp_path / "run")]
        + ["--optuna-storage", "postgresql://postgres:hunter22@127.0.0.1:1/test"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot open the Optuna storage") and done.stderr.count("\n") == 1
    assert "hunter22" not in done.stderr + done.stdout
    assert not (tmp_path / "run").exists() and not (tmp_path / ".cache").exists()


def test_the_sweeps_storage_holds_one_study_per_cell(tmp_path):
    from optimizer.sweep.cli import settings_from_args
    from optimizer.sweep.runner import cell_dir, cell_run_id, run_sweep

    argv = ["--seeds", "1,2", "--dataset", SAMPLE, "--train-size", "20", "--dev-size", "8", "--test-size", "8"]
    argv += ["--num-candidates", "3", "--num-trials", "3", "--sim-latency-ms", "1", "--out", str(tmp_path / "s")]
    settings, _ = settings_from_args([*argv, "--cache-dir", str(tmp_path / "cache")])
    run_sweep(settings)
    url = f"sqlite:///{tmp_path / 's' / 'optuna.db'}"
    names = [cell_run_id(settings.out, c) for c in settings.grid.cells]
    assert sorted(optuna.get_all_study_names(url)) == sorted(names) and len(names) == 2
    for cell, name in zip(settings.grid.cells, names, strict=True):
        results = json.loads((cell_dir(settings.out, cell) / "optimization_results.json").read_text())
        assert results["run_id"] == name
        assert_study_is_the_search(optuna.load_study(study_name=name, storage=url), results)
