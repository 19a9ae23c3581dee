"""A model whose output cannot be parsed, one role at a time: one line naming it, the step and the flag.

The simulator serves each role under its own model name and answers one of them with text no DSPy
adapter can parse (``SimConfig.unparsable_models``), as a model too weak for the format would. The
command line runs in-process (``optimizer.cli.main``, what ``scripts/optimize.py`` runs): exit 2,
exactly one line on stderr, no traceback; and the same command with a working model for that role
goes on from the calls already cached and ends with the result of a clean run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.cli import main
from simulator import SimConfig, Simulator

GOOD = "openai/gpt-4o"


@pytest.fixture
def sim(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sim-key-for-these-tests")
    config = SimConfig(latency_ms=0.0, unparsable_models=("weak-task", "weak-proposer", "weak-judge"))
    with Simulator(config) as simulator:
        yield simulator


def command(harness, sim: Simulator, out: Path, *, task: str = GOOD, prompt: str = GOOD, judge: str = GOOD) -> list:
    return [
        *harness.SMALL_FLAGS,
        "--quiet",
        "--api-base",
        sim.openai_api_base,
        "--model",
        task,
        "--prompt-model",
        prompt,
        "--judge-model",
        judge,
        # Stock DSPy's requests: with schemas (the default on a server that enforces them), a weak
        # model's answers parse (tests/optimizer/test_structured_run.py).
        "--structured-outputs",
        "off",
        "--cache-dir",
        str(out.parent / "cache"),
        "--out",
        str(out),
    ]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        status = main(argv)
    except Exception as exc:
        pytest.fail(f"{type(exc).__name__} escaped the command line (a user would see a traceback): {exc}")
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    ("role", "weak", "step", "flag"),
    [
        ("task", "openai/weak-task", "bootstrapping demonstrations", "--model"),
        ("prompt", "openai/weak-proposer", "proposing instructions", "--prompt-model"),
        ("judge", "openai/weak-judge", "judging", "--judge-model"),
    ],
)
def test_one_line_naming_the_model_the_step_and_what_to_try(harness, sim, tmp_path, capsys, role, weak, step, flag):
    status, out, err = run_cli(command(harness, sim, tmp_path / "run", **{role: weak}), capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, err
    (line,) = lines
    assert line.startswith(f"error: the {role} model {weak!r} gave output that could not be used while {step}")
    assert f"try a stronger {flag}" in line and "Traceback" not in err and not out.strip()
    # What stopped the run is the weak model's own output, answered and cached, not a transient failure.
    assert json.loads((tmp_path / "run" / "ledger.json").read_text())["total"]["live_calls"] > 0


def test_a_rerun_with_a_working_prompt_model_goes_on_from_the_cache(harness, sim, tmp_path, capsys):
    failed, _, _ = run_cli(command(harness, sim, tmp_path / "run", prompt="openai/weak-proposer"), capsys)
    assert failed == 2
    first = json.loads((tmp_path / "run" / "ledger.json").read_text())["total"]
    status, _, err = run_cli(command(harness, sim, tmp_path / "run"), capsys)
    assert status == 0, err
    resumed = json.loads((tmp_path / "run" / "ledger.json").read_text())["total"]
    clean_dir = tmp_path / "clean" / "run"
    assert run_cli(command(harness, sim, clean_dir), capsys)[0] == 0
    clean = json.loads((clean_dir / "ledger.json").read_text())["total"]
    # The task and judge calls the failed run made were not paid again...
    assert resumed["cached_calls"] > 0 and resumed["live_calls"] < clean["live_calls"]
    assert resumed["live_calls"] + first["live_calls"] >= clean["live_calls"]
    # ...and the result is the clean run's.
    program = "optimized_program.json"
    assert (tmp_path / "run" / program).read_bytes() == (clean_dir / program).read_bytes()
