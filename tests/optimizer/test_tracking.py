"""MLflow tracking against a real store (SQLite in a temp directory), read back with MlflowClient."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.signatures import Generator
from gateway import logs
from optimizer.cli import main as optimize_main
from optimizer.tracking.cli import mlflow_log_main
from optimizer.tracking.record import ALIASES, PROGRAM, RESULTS, TrackingError, read_run

from .conftest import ROOT, TRACKED_FLAGS

# -- what a run directory gives (no MLflow needed) -----------------------------------------------


def test_record_holds_params_trials_scores_costs_and_artifacts(tracked_run):
    results = json.loads((tracked_run / RESULTS).read_text())
    ledger = json.loads((tracked_run / "ledger.json").read_text())
    record = read_run(tracked_run)

    assert record.name == tracked_run.name and record.finished
    assert record.params["seed"] == "42" and record.params["config.search.num_trials"] == "3"
    assert record.params["num_trials"] == "3"  # DSPy autologging's name for the compile argument
    assert record.params["models.task"] == results["models"]["task"]
    assert record.params["backend"] == "simulator"
    assert record.params["dataset.input_sha256"] == results["dataset_fingerprint"]["input_sha256"]
    assert record.params["dataset.test.sha256"] == results["dataset_fingerprint"]["splits"]["test"]["sha256"]
    assert record.params["versions.dspy"] == results["versions"]["dspy"]
    assert record.params["optimized_instruction"] == results["optimized_signature"]["instructions"]

    # One eval_full point per trial, at step = trial number, with the trial's score.
    evals = [(m.step, m.value) for m in record.metrics if m.key == "eval_full"]
    assert evals == [(t["trial"], t["score"]) for t in results["trials"]]
    values = {m.key: m.value for m in record.metrics if m.step == 0}
    assert values["dev/optimized"] == results["dev"]["optimized"]
    assert values["test/baseline"] == results["test"]["baseline"]
    assert values["test/improvement_ci95_low"] == results["test"]["ci95"]["improvement"]["low"]
    assert values["test/improvement_ci95_high"] == results["test"]["ci95"]["improvement"]["high"]
    for kind in ("candidate", "judge"):  # failures by kind, as the run counts them
        assert values[f"dev/failed_optimized_{kind}"] == results["dev"]["failed"]["optimized"][kind]
    for phase, row in ledger["phases"].items():
        assert values[f"live_calls/{phase}"] == row["live_calls"]
        assert values[f"cached_calls/{phase}"] == row["cached_calls"]
        assert values[f"cost_usd/{phase}"] == row["cost_usd"]

    assert record.tags["gate"] == results["test"]["gate"]["verdict"]
    assert record.tags["simulated"] == "true" and record.tags["hsopt.run_id"] == tracked_run.name
    assert results["optimized_signature"]["instructions"] in record.tags["mlflow.note.content"]
    names = [name for name, _ in record.artifacts]
    assert names[:2] == [PROGRAM, ALIASES[PROGRAM]] and {"ledger.json", "report.html", RESULTS} <= set(names)

    assert [t.number for t in record.trials] == [t["trial"] for t in results["trials"]]
    for trial, row in zip(record.trials, results["trials"], strict=True):
        assert trial.params["instruction"] == results["candidates"][row["instruction_index"]]
        assert trial.program is not None
        assert trial.program["generate"]["signature"]["instructions"] == trial.params["instruction"]


def test_secrets_never_reach_params_or_tags(tracked_run, tmp_path):
    run_dir = tmp_path / tracked_run.name
    shutil.copytree(tracked_run, run_dir)
    results = json.loads((run_dir / RESULTS).read_text())
    secret = "sk-test-9f8e7d6c5b4a"
    results["config"]["api_base"] = f"https://proxy.example/v1?key={secret}"
    results["candidates"][0] = f"Use the key {secret} when asked."
    (run_dir / RESULTS).write_text(json.dumps(results))
    logs.register_secret(secret)

    record = read_run(run_dir)
    texts = [*record.params.values(), *record.tags.values()]
    texts += [v for t in record.trials for v in (*t.params.values(), *t.tags.values())]
    assert not [t for t in texts if secret in t]
    assert record.params["config.api_base"] == "https://proxy.example/v1?key=[REDACTED]"


def test_a_run_that_stopped_early_is_recorded_as_such(tracked_run, tmp_path):
    run_dir = tmp_path / "stopped"
    run_dir.mkdir()
    shutil.copy(tracked_run / "ledger.json", run_dir / "ledger.json")
    record = read_run(run_dir)
    assert not record.finished and not record.trials and not record.params
    assert record.tags["hsopt.status"] == "stopped"
    assert any(m.key == "live_calls/total" for m in record.metrics)
    assert [name for name, _ in record.artifacts] == ["ledger.json"]


def test_a_directory_without_run_outputs_is_one_clear_error(tmp_path):
    with pytest.raises(TrackingError, match="holds no run outputs"):
        read_run(tmp_path)
    (tmp_path / RESULTS).write_text("{broken")
    with pytest.raises(TrackingError, match="cannot read"):
        read_run(tmp_path)


# -- a real MLflow store -------------------------------------------------------------------------


def snapshot(store, run_id: str, dest: Path) -> dict:
    """What a user sees of a run in MLflow, without ids and times: params, tags, metric histories,
    artifacts with their bytes, and the same for each nested run, by name."""
    import mlflow

    client = store.client
    run = client.get_run(run_id)
    kept_system_tags = {"mlflow.note.content", "mlflow.runName", "mlflow.source.name", "mlflow.source.type"}
    dest = dest / run_id
    files = {}
    if client.list_artifacts(run_id):
        local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(dest)))
        files = {p.name: p.read_bytes() for p in sorted(local.iterdir())}
    children = store.search(f"tags.mlflow.parentRunId = '{run_id}'")
    return {
        "name": run.info.run_name,
        "status": run.info.status,
        "params": run.data.params,
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.") or k in kept_system_tags},
        "metrics": {
            key: [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]
            for key in sorted(run.data.metrics)
        },
        "artifacts": files,
        "children": {c.info.run_name: snapshot(store, c.info.run_id, dest) for c in children},
    }


def test_logged_run_reads_back_with_trials_and_a_loadable_program(tracked_run, mlflow_store, tmp_path):
    [(run_dir, run_id, new)] = __import__("optimizer.tracking.mlflow", fromlist=["x"]).log_directory(
        tracked_run, store=mlflow_store
    )
    assert new and run_dir == tracked_run.resolve()
    results = json.loads((tracked_run / RESULTS).read_text())
    seen = snapshot(mlflow_store, run_id, tmp_path / "download")

    assert seen["status"] == "FINISHED" and seen["name"] == tracked_run.name
    assert seen["params"] == read_run(tracked_run).params
    assert seen["metrics"]["eval_full"] == [(t["trial"], t["score"]) for t in results["trials"]]
    assert seen["tags"]["gate"] == results["test"]["gate"]["verdict"]
    assert set(seen["artifacts"]) == {
        "optimized_program.json",
        "best_model.json",
        "optimization_results.json",
        "ledger.json",
        "evaluations.json",
        "report.html",
    }
    assert seen["artifacts"]["best_model.json"] == (tracked_run / PROGRAM).read_bytes()
    assert seen["artifacts"]["ledger.json"] == (tracked_run / "ledger.json").read_bytes()

    assert len(seen["children"]) == len(results["trials"])
    for trial in results["trials"]:
        child = seen["children"][f"trial_{trial['trial']:02d}"]
        assert child["metrics"]["eval"] == [(0, trial["score"])]
        assert child["params"]["instruction"] == results["candidates"][trial["instruction_index"]]
        assert child["tags"]["eval_kind"] == "eval_full"
        state = json.loads(child["artifacts"]["model.json"])
        assert state["generate"]["signature"]["instructions"] == child["params"]["instruction"]

    # The program downloaded from MLflow loads into the generator, as the run's own file does.
    downloaded = tmp_path / "best_model.json"
    downloaded.write_bytes(seen["artifacts"]["best_model.json"])
    program = Generator()
    program.load(str(downloaded))
    assert program.generate.signature.instructions == results["optimized_signature"]["instructions"]


def test_live_logging_and_mlflow_log_give_the_same_content(tracked_run, mlflow_store, tmp_path, capsys):
    from optimizer.tracking.mlflow import MlflowStore

    out = tmp_path / "live"
    cache = tracked_run.parent / "cache"  # the fixture run's answers: this run makes no live call
    assert optimize_main([*TRACKED_FLAGS, "--out", str(out), "--cache-dir", str(cache), "--mlflow"]) == 0
    printed = capsys.readouterr().out
    live_id = printed.split("mlflow: run ")[1].split()[0]
    live = snapshot(mlflow_store, live_id, tmp_path / "a")

    os.environ["MLFLOW_EXPERIMENT_NAME"] = "replayed"  # restored by the fixture's monkeypatch
    assert mlflow_log_main([str(out)]) == 0
    replayed_store = MlflowStore()
    [replayed] = replayed_store.search(f"tags.`hsopt.run_id` = '{out.name}'")
    assert replayed.info.run_id != live_id and replayed_store.experiment_id != mlflow_store.experiment_id
    assert snapshot(replayed_store, replayed.info.run_id, tmp_path / "b") == live
    assert live["status"] == "FINISHED" and len(live["children"]) == 4 and live["artifacts"]


def test_mlflow_log_twice_logs_once_and_completes_a_cut_short_run(tracked_run, mlflow_store, capsys):
    from optimizer.tracking.mlflow import run_start_tags

    # A live run that was created and then lost its tracking server before anything else was logged.
    cut = mlflow_store.create_run(tracked_run.name, run_start_tags(tracked_run.name, "scripts/optimize.py"))
    assert mlflow_log_main([str(tracked_run)]) == 0
    assert f"logged as run {cut}" in capsys.readouterr().out
    assert mlflow_log_main([str(tracked_run)]) == 0
    assert f"already in MLflow as run {cut}" in capsys.readouterr().out
    runs = mlflow_store.search("")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_id for r in parents] == [cut]
    assert len(runs) == 1 + 4 and mlflow_store.client.get_run(cut).info.status == "FINISHED"


def test_a_sweep_directory_is_one_parent_with_a_nested_run_per_cell(tracked_run, mlflow_store, tmp_path):
    sweep = tmp_path / "sweep"
    for cell in ("seed-1", "seed-2"):
        shutil.copytree(tracked_run, sweep / cell)
    (sweep / "seed-2" / "optimization_results.json").write_text(
        (tracked_run / RESULTS).read_text().replace('"seed": 42', '"seed": 2')
    )
    (sweep / "sweep_results.json").write_text("{}")
    assert mlflow_log_main(["--sweep", str(sweep)]) == 0
    assert mlflow_log_main(["--sweep", str(sweep)]) == 0  # nothing logged twice
    runs = mlflow_store.search("")
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    cells = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.run_name == "sweep" and sorted(c.info.run_name for c in cells) == ["seed-1", "seed-2"]
    assert len(runs) == 1 + 2 * (1 + 4)
    assert [a.path for a in mlflow_store.client.list_artifacts(parent.info.run_id)] == ["sweep_results.json"]


def test_default_store_is_mlflows_local_sqlite_database(tracked_run, mlflow_template, tmp_path, monkeypatch):
    from optimizer.tracking.mlflow import MlflowStore, log_directory

    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    store = MlflowStore()
    assert store.uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    [(_, run_id, _)] = log_directory(tracked_run, store=store)
    assert (tmp_path / "mlflow.db").is_file()
    assert (tmp_path / "mlruns" / "0" / run_id / "artifacts" / "best_model.json").is_file()


# -- failures ------------------------------------------------------------------------------------


def _silent_port() -> tuple[socket.socket, int]:
    """A port that accepts connections and never answers (a hung server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    return server, server.getsockname()[1]


def test_an_unreachable_server_loses_nothing_and_warns_once(tracked_run, tmp_path, monkeypatch, capsys):
    server, port = _silent_port()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")  # the user's setting wins over our bound
    out = tmp_path / "run"
    cache = tracked_run.parent / "cache"
    try:
        code = optimize_main([*TRACKED_FLAGS, "--out", str(out), "--cache-dir", str(cache), "--mlflow"])
    finally:
        server.close()
    captured = capsys.readouterr()
    assert code == 0
    assert (out / PROGRAM).read_bytes() == (tracked_run / PROGRAM).read_bytes()
    warnings = [line for line in captured.err.splitlines() if line.strip()]
    assert len(warnings) == 1, captured.err
    assert (
        warnings[0].startswith("warning: MLflow logging to http://127.0.0.1") and "scripts/mlflow_log.py" in warnings[0]
    )
    assert str(out.resolve()) in warnings[0]
    assert "mlflow: run" not in captured.out


def test_mlflow_log_to_an_unreachable_server_is_one_line_and_exit_1(tracked_run, monkeypatch, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: connections are refused
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    assert mlflow_log_main([str(tracked_run)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: MLflow logging failed")


HIDE_MLFLOW = """
import sys
class HideMlflow:
    def find_spec(self, name, path=None, target=None):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, HideMlflow())
sys.path.insert(0, "scripts")
sys.argv = [sys.argv[0], *sys.argv[1:]]
"""


@pytest.mark.parametrize("flag", ["--mlflow", "--mlflow-traces"])
def test_mlflow_flag_without_mlflow_installed_is_one_line_before_any_call(flag, tmp_path):
    out = tmp_path / "run"
    code = HIDE_MLFLOW + "from optimizer.cli import main\nsys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", code, *TRACKED_FLAGS, "--out", str(out), flag],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"error: {flag} needs MLflow, which is not installed: pip install -e '.[mlflow]'"
    ]
    assert not out.exists()  # stopped before the run directory, and so before any call


def test_mlflow_log_without_mlflow_installed_is_one_line(tracked_run):
    code = HIDE_MLFLOW + "from optimizer.tracking.cli import mlflow_log_main\nsys.exit(mlflow_log_main())"
    done = subprocess.run(
        [sys.executable, "-c", code, str(tracked_run)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "pip install" in done.stderr


def test_without_the_flag_mlflow_is_never_imported(tracked_run, tmp_path):
    code = (
        "import sys\nsys.path.insert(0, 'scripts')\nimport _bootstrap\nfrom optimizer.cli import main\n"
        "code = main(sys.argv[1:])\nprint('MLFLOW-IMPORTED' if any(m.split('.')[0] == 'mlflow' for m in sys.modules) "
        "else 'MLFLOW-ABSENT')\nsys.exit(code)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            *TRACKED_FLAGS,
            "--out",
            str(tmp_path / "run"),
            "--cache-dir",
            str(tracked_run.parent / "cache"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("MLFLOW-ABSENT")


# -- traces --------------------------------------------------------------------------------------


def test_traces_of_lm_calls_carry_token_usage_and_link_to_the_run(tracked_run, mlflow_store, tmp_path, capsys):
    out = tmp_path / "traced"
    cache = tracked_run.parent / "cache"
    assert optimize_main([*TRACKED_FLAGS, "--out", str(out), "--cache-dir", str(cache), "--mlflow-traces"]) == 0
    captured = capsys.readouterr()
    assert "mlflow: run " in captured.out, captured.err[-3000:]
    run_id = captured.out.split("mlflow: run ")[1].split()[0]
    ledger = json.loads((out / "ledger.json").read_text())
    assert ledger["total"]["live_calls"] == 0  # tracing changes no request: every answer is the cached one
    assert (out / PROGRAM).read_bytes() == (tracked_run / PROGRAM).read_bytes()
    traces = mlflow_store.client.search_traces(locations=[mlflow_store.experiment_id], max_results=5000)
    # One trace per top-level DSPy module call (a generation or one judge attribute), each from this run.
    assert 0.5 * ledger["total"]["cached_calls"] <= len(traces) <= ledger["total"]["cached_calls"]
    assert {t.info.trace_metadata.get("mlflow.sourceRun") for t in traces} == {run_id}
    usage = [t.info.token_usage for t in traces]
    assert all(u and u["input_tokens"] > 0 and u["output_tokens"] > 0 for u in usage)
    lm_spans = [s for t in traces[:20] for s in t.data.spans if s.name == "LM.__call__"]
    assert lm_spans and all(s.attributes.get("mlflow.chat.model") or s.attributes.get("model") for s in lm_spans)
    # The run itself is logged as without traces, and finished.
    run = mlflow_store.client.get_run(run_id)
    assert run.info.status == "FINISHED" and "eval_full" in run.data.metrics
    # Nothing of the tracing outlives the run: no active run, no global URI or experiment, no callback.
    import dspy
    import mlflow

    assert mlflow.active_run() is None and "MLFLOW_EXPERIMENT_ID" not in os.environ
    assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_store.uri
    assert not dspy.settings.callbacks and not dspy.settings.track_usage


def test_trace_spans_are_redacted():
    from optimizer.tracking.mlflow import _redact_span

    class Span:
        def __init__(self) -> None:
            self.inputs = {"messages": [{"content": "use sk-live-0123456789 please"}]}
            self.outputs = ["answer with sk-live-0123456789"]

        def set_inputs(self, value):
            self.inputs = value

        def set_outputs(self, value):
            self.outputs = value

    logs.register_secret("sk-live-0123456789")
    span = Span()
    _redact_span(span)
    assert "sk-live" not in json.dumps([span.inputs, span.outputs]) and "[REDACTED]" in span.outputs[0]


# -- sweeps --------------------------------------------------------------------------------------


def test_a_sweep_is_one_parent_run_with_a_nested_run_per_cell_live_or_replayed(mlflow_store, tmp_path, capsys):
    from optimizer.sweep.cli import main as sweep_main
    from optimizer.tracking.mlflow import MlflowStore

    flags = [f for f in TRACKED_FLAGS if f != "--quiet"]
    out = tmp_path / "sweep"
    argv = ["--seeds", "1,2", *flags, "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--quiet"]
    assert sweep_main([*argv, "--mlflow"]) == 0
    assert "mlflow: sweep run" in capsys.readouterr().out

    def tree(store):
        runs = store.search("")
        [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        cells = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        return runs, parent, cells

    runs, parent, cells = tree(mlflow_store)
    assert parent.info.run_name == "sweep" and parent.info.status == "FINISHED"
    assert sorted(c.info.run_name for c in cells) == ["seed-1", "seed-2"]
    assert all(c.info.status == "FINISHED" and c.data.metrics.get("eval_full") for c in cells)
    assert len(runs) == 1 + 2 * (1 + 4)  # the sweep, its cells, their trials
    assert parent.data.params["axis.seed"] == "1,2" and parent.data.metrics["cells/finished"] == 2
    names = {a.path for a in mlflow_store.client.list_artifacts(parent.info.run_id)}
    assert names == {"sweep.json", "sweep_results.json", "sweep_report.html"}
    live = snapshot(mlflow_store, parent.info.run_id, tmp_path / "live")

    # The same command again: every cell is skipped, nothing is logged twice, the parent run continues.
    assert sweep_main([*argv, "--mlflow"]) == 0
    again, parent_again, _ = tree(mlflow_store)
    assert len(again) == len(runs) and parent_again.info.run_id == parent.info.run_id
    assert snapshot(mlflow_store, parent.info.run_id, tmp_path / "again") == live

    # Logged afterwards from the directory (recognized as a sweep): the same content.
    os.environ["MLFLOW_EXPERIMENT_NAME"] = "replayed"  # restored by the fixture's monkeypatch
    assert mlflow_log_main([str(out)]) == 0
    replayed = MlflowStore()
    _, replayed_parent, _ = tree(replayed)
    assert snapshot(replayed, replayed_parent.info.run_id, tmp_path / "replayed") == live


def test_shards_started_together_find_one_parent_run(mlflow_store, tmp_path):
    import threading
    import time

    from optimizer.tracking.mlflow import MlflowStore, SweepTracker

    class SlowSearch(MlflowStore):
        def search(self, filter_string: str) -> list:
            found = super().search(filter_string)
            time.sleep(0.5)  # both shards search before either creates the parent, unless one waits
            return found

    warnings: list[str] = []
    shards = [SweepTracker(tmp_path / "sweep", store=SlowSearch(), warn=warnings.append) for _ in range(2)]
    threads = [threading.Thread(target=shard.start) for shard in shards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not warnings
    assert shards[0].run_id is not None and shards[0].run_id == shards[1].run_id
    assert [r.info.run_id for r in mlflow_store.search("") if "mlflow.parentRunId" not in r.data.tags] == [
        shards[0].run_id
    ]


def test_a_shard_that_ends_first_leaves_the_parent_running_for_the_others(mlflow_store, tmp_path):
    from optimizer.tracking.mlflow import SweepTracker

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(json.dumps({"axes": {"seed": [1, 2]}, "options": [], "cells": [{}, {}]}))

    def gathered(status: dict) -> None:
        (sweep / "sweep_results.json").write_text(json.dumps({"sweep": {"status": status}}))

    first, last = SweepTracker(sweep, store=mlflow_store), SweepTracker(sweep, store=mlflow_store)
    assert first.start() == last.start() is not None
    gathered({"finished": 1, "running": 1})  # the first shard ends while the other's cell runs
    assert first.finish() == first.run_id
    assert mlflow_store.client.get_run(first.run_id).info.status == "RUNNING"
    gathered({"finished": 1, "failed": 1})  # the last shard ends: its cell failed
    assert last.finish() == last.run_id
    assert mlflow_store.client.get_run(last.run_id).info.status == "FAILED"

    # A sweep stopped by an error (budget, replay miss) with cells never run is failed, not left running.
    gathered({"finished": 1, "pending": 1})
    stopped = SweepTracker(sweep, store=mlflow_store)
    assert stopped.start() == first.run_id
    assert stopped.finish(stopped=True) == first.run_id
    assert mlflow_store.client.get_run(first.run_id).info.status == "FAILED"


def test_mlflow_inside_a_sweeps_cell_options_is_refused(tmp_path, capsys):
    from optimizer.sweep.cli import main as sweep_main

    config = tmp_path / "sweep.toml"
    config.write_text("[grid]\nseed = [1, 2]\n[options]\nmlflow = true\n")
    assert sweep_main(["--config", str(config), "--out", str(tmp_path / "s")]) == 2
    assert "--mlflow belong to the whole sweep" in capsys.readouterr().err


def test_a_store_lost_during_the_run_is_one_warning_and_the_replay_completes_the_run(tracked_run, mlflow_store):
    from optimizer.tracking.mlflow import RunTracker

    warnings: list[str] = []
    tracker = RunTracker(store=mlflow_store, warn=warnings.append)
    tracker.start(tracked_run)
    assert tracker.run_id is not None and not warnings
    db = Path(mlflow_store.uri.removeprefix("sqlite:///"))
    kept = db.read_bytes()
    db.write_bytes(b"not a database" * 100)  # the store breaks while the run goes on
    mlflow_store.client._tracking_client.store.engine.dispose()  # no pooled connection to the old file
    assert tracker.finish() is None
    assert len(warnings) == 1 and f"scripts/mlflow_log.py {tracked_run.resolve()}" in warnings[0]

    db.write_bytes(kept)  # the store is back: the started run is completed, not logged a second time
    assert mlflow_log_main([str(tracked_run)]) == 0
    run = mlflow_store.client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and "eval_full" in run.data.metrics
    assert len([r for r in mlflow_store.search("") if "mlflow.parentRunId" not in r.data.tags]) == 1


def test_sweeps_with_the_same_directory_name_have_a_parent_run_each(mlflow_store, tmp_path):
    from optimizer.tracking.mlflow import SweepTracker

    first, second = tmp_path / "team-a" / "sweep", tmp_path / "team-b" / "sweep"
    parents = [SweepTracker(d, store=mlflow_store).start() for d in (first, second)]
    assert None not in parents and parents[0] != parents[1]
    from optimizer.artifacts import SWEEP_ID_FILE

    assert (first / SWEEP_ID_FILE).read_text() != (second / SWEEP_ID_FILE).read_text()
    # Resumed, or another shard of it: the same sweep, the same parent run.
    assert SweepTracker(first, store=mlflow_store).start() == parents[0]
    assert SweepTracker(second, store=mlflow_store).start() == parents[1]
    tops = [r for r in mlflow_store.search("") if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.info.run_id for r in tops) == sorted(parents)
    assert {r.info.run_name for r in tops} == {"sweep"}


def test_a_sweeps_identity_is_made_once_whoever_asks_first(tmp_path):
    import threading

    from optimizer.artifacts import sweep_identity

    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(sweep_identity(tmp_path / "s"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 8 and len(set(seen)) == 1
    assert sweep_identity(tmp_path / "s") == seen[0] != sweep_identity(tmp_path / "other" / "s")
