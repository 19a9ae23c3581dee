"""Crash safety: kill -9 in every phase, five times in a row, and lose nothing.

The campaign (``crash_campaign`` in ``bench/reliability.py``) runs ``scripts/optimize.py`` as
a user does, against ``scripts/simulator.py``, aims a SIGKILL at each of bootstrap, proposal, search,
final evaluation and test evaluation (rerunning the same command on the same cache each time), then
lets it finish. Where each run really was when it died comes from its own phase log lines; the
simulator counts every request it received.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def campaign(harness, reference, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("crash")
    return harness.crash_campaign(workdir, reference, seed=2024)


@pytest.mark.slow
def test_each_kill_lands_in_the_phase_it_aimed_at_and_the_last_rerun_completes(campaign):
    assert [k.planned for k in campaign.kills] == ["bootstrap", "propose", "search", "final_eval", "test_eval"]
    # Where each run really was when it died, from its own phase log lines (not from the plan).
    observed = [k.phase for k in campaign.kills]
    assert observed[:3] == ["bootstrap", "propose", "search"], observed
    # The final evaluation lasts a moment (no live call of its own): the signal may land just after it.
    assert observed[3] in ("final_eval", "after final_eval", "test_eval"), observed
    assert observed[4] == "test_eval", observed
    entries = [k.entries_at_kill for k in campaign.kills]
    assert entries == sorted(entries) and entries[0] > 0  # every rerun got further than the one before
    assert campaign.final_status == 0, campaign.final_stderr[-3000:]


@pytest.mark.slow
def test_no_output_is_ever_half_written(campaign, harness):
    assert campaign.problems_after_kills == []
    # Outputs are written at the end of a run, each atomically: after a kill the run directory holds
    # nothing but the Optuna storage, to which the search commits its trials one at a time (SQLite's
    # database file, and its journal while the storage's helper, which outlives the killed run by the
    # moment it takes to write what it was sent, is in a transaction).
    leftovers = [k.run_dir_after for k in campaign.kills]
    assert all(set(names) <= {"optuna.db", "optuna.db-journal"} for names in leftovers), leftovers
    names = {p.name for p in campaign.out_dir.iterdir()}
    assert {"evaluations.json", "ledger.json", "optimization_results.json", "optimized_program.json"} <= names
    assert harness.run_dir_problems(campaign.out_dir) == []
    # Each rerun was the same run: its study replaced the killed attempt's, and holds every trial.
    results = json.loads((campaign.out_dir / "optimization_results.json").read_text())
    storage = f"sqlite:///{campaign.out_dir / 'optuna.db'}"
    assert optuna.get_all_study_names(storage) == [results["run_id"]]
    study = optuna.load_study(study_name=results["run_id"], storage=storage)
    assert [t.value for t in study.trials] == [t["score"] for t in results["trials"]]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


@pytest.mark.slow
def test_live_calls_over_all_attempts_equal_one_clean_run_up_to_requests_in_flight(campaign, harness):
    concurrency = 16
    # Each extra request is one whose answer a killed process never stored: in flight at a kill.
    assert campaign.extra_requests == sum(k.unsaved_requests for k in campaign.kills)
    assert all(0 <= k.unsaved_requests <= concurrency for k in campaign.kills)
    assert campaign.server_requests >= campaign.clean_requests
    entries, corrupted = harness.cache_health(campaign.cache_dir)
    assert (entries, corrupted) == (campaign.clean_requests, 0)  # every answer kept, none damaged


@pytest.mark.slow
def test_artifact_and_results_equal_the_clean_run(campaign, reference, harness):
    assert (campaign.out_dir / "optimized_program.json").read_bytes() == harness._program(reference)
    results = json.loads((campaign.out_dir / "optimization_results.json").read_text())
    assert harness.differing_keys(results, reference.results) == []
    evaluations = json.loads((campaign.out_dir / "evaluations.json").read_text())
    assert evaluations == harness.evaluations(reference)


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from optimizer.artifacts import write_atomically

    def half(tmp):
        with open(tmp, "w") as handle:
            handle.write('{"half": ')
            handle.flush()
            print("writing", flush=True)
            time.sleep(60)

    write_atomically(Path(sys.argv[1]), half)
""")


@pytest.mark.parametrize("existing", [None, '{"complete": true}\n'])
def test_a_write_killed_midway_leaves_the_old_file_or_none(tmp_path, existing):
    target = tmp_path / "ledger.json"
    if existing is not None:
        target.write_text(existing)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    if existing is None:
        assert not target.exists()
    else:
        assert target.read_text() == existing
    # What the kill left is the hidden temporary file it was writing, beside it, never a half-written output.
    (leftover,) = [p for p in tmp_path.iterdir() if p != target]
    assert leftover.name.startswith(".ledger.json.") and leftover.name.endswith(".tmp")
    assert leftover.read_text() == '{"half": '
