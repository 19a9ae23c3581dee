"""The MLflow UI (`mlflow server` on the test's SQLite store) shows a logged run and its trials in Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from optimizer.tracking.mlflow import log_directory

SERVER_START_S = 120  # the UI server imports Flask, FastAPI and GraphQL: tens of seconds on a busy 2-core machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _page_text(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom)))


def _render(chromium: str, url: str, profile: Path) -> str:
    """The page's DOM after the React app fetched and rendered (Chromium's virtual time lets it finish)."""
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1400,1600",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return _page_text(done.stdout)


def test_mlflow_ui_shows_the_run_with_its_trials(tracked_run, mlflow_store, chromium, tmp_path):
    pytest.importorskip("mlflow.server", reason="the MLflow UI needs the full mlflow package (the dev extra has it)")
    [(_, run_id, _)] = log_directory(tracked_run, store=mlflow_store)
    results = json.loads((tracked_run / "optimization_results.json").read_text())
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            mlflow_store.uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the MLflow server did not start"
            time.sleep(0.5)

        url = f"{base}/#/experiments/{mlflow_store.experiment_id}/runs/{run_id}"
        trials = [f"trial_{t['trial']:02d}" for t in results["trials"]]
        for attempt in range(3):  # the app's data fetches may land after the first render on a busy machine
            text = _render(chromium, url, tmp_path / f"profile-{attempt}")
            if tracked_run.name in text and all(t in text for t in trials):
                break
        assert tracked_run.name in text, text[:3000]
        for trial in trials:  # the nested runs, listed as the run's child runs
            assert trial in text, text[:3000]
        assert "eval_full" in text  # the trial metric, under autologging's name
        assert f"{results['dev']['optimized']:g}" in text or str(results["dev"]["optimized"]) in text
        assert "Finished" in text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
