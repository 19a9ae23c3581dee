"""Structured outputs in whole runs: ``auto`` probes a self-hosted server once, uses schemas where it
enforces them (a model too weak for DSPy's formats then completes the run), reports a server that
accepts and ignores them, sends nothing to learn the verdict again on a replay, and leaves the
embedded simulator's default requests as stock DSPy sends them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from optimizer.cli import main
from optimizer.testing import small_flags
from simulator import SimConfig, Simulator


@pytest.fixture(autouse=True)
def _here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sim-key-for-these-tests")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(argv)
    return status, capsys.readouterr().err


def served(sim: Simulator, out: Path, model: str, *extra: str) -> list[str]:
    return small_flags(
        "--quiet",
        "--api-base",
        sim.openai_api_base,
        "--model",
        model,
        "--cache-dir",
        str(out.parent / "cache"),
        "--out",
        str(out),
        *extra,
    )


def outputs(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    results = json.loads((out / "optimization_results.json").read_text())
    ledger = json.loads((out / "ledger.json").read_text())
    return results, ledger


def test_auto_uses_enforced_schemas_and_a_weak_model_completes(tmp_path: Path, capsys) -> None:
    config = SimConfig(port=0, latency_ms=0.0, unparsable_models=("weak",))
    with Simulator(config) as sim:
        status, err = run(served(sim, tmp_path / "run", "openai/weak"), capsys)
        assert status == 0, err
        results, ledger = outputs(tmp_path / "run")
        roles = results["structured_outputs"]["roles"]
        assert {r: (v["structured"], v["probe"]["verdict"]) for r, v in roles.items()} == {
            "task": (True, "enforced"),
            "prompt": (True, "enforced"),
            "judge": (True, "enforced"),
        }
        assert ledger["phases"]["probe"]["live_calls"] == 1  # one endpoint, probed once for three roles
        assert results["failures"] == [] and results["test"]["gate"]["verdict"] in ("ship", "hold")

        # Stock DSPy's requests on the same weak model: it cannot get past its first step.
        status, err = run(served(sim, tmp_path / "off", "openai/weak", "--structured-outputs", "off"), capsys)
        assert status == 2 and "could not be used" in err

        # A replay sends nothing, the probe included: the verdict is noted in the cache.
        sent = sim.stats()["requests"]
        status, err = run(served(sim, tmp_path / "replay", "openai/weak", "--replay"), capsys)
        assert status == 0, err
        assert sim.stats()["requests"] == sent
    replayed, replay_ledger = outputs(tmp_path / "replay")
    assert replay_ledger["total"]["live_calls"] == 0
    assert replayed["structured_outputs"]["roles"]["judge"]["probe"]["source"] == "cache note"
    program = "optimized_program.json"
    assert (tmp_path / "replay" / program).read_bytes() == (tmp_path / "run" / program).read_bytes()


def test_a_server_that_accepts_and_ignores_schemas_is_reported(tmp_path: Path, capsys) -> None:
    with Simulator(SimConfig(latency_ms=0.0, schemas="ignore")) as sim:
        status, err = run(served(sim, tmp_path / "run", "openai/my-local-model"), capsys)
    assert status == 0, err
    results, _ = outputs(tmp_path / "run")
    judge = results["structured_outputs"]["roles"]["judge"]
    assert judge["structured"] is False and judge["probe"]["verdict"] == "ignored"
    assert "ACCEPTS BUT IGNORES" in judge["reason"]


def test_openai_models_behind_any_base_url_are_not_probed(tmp_path: Path, capsys) -> None:
    with Simulator(SimConfig(latency_ms=0.0)) as sim:
        status, err = run(served(sim, tmp_path / "run", "openai/gpt-4o"), capsys)
    assert status == 0, err
    results, ledger = outputs(tmp_path / "run")
    assert not any(r["structured"] or r["probe"] for r in results["structured_outputs"]["roles"].values())
    assert "probe" not in ledger["phases"]


def test_the_embedded_simulator_keeps_stock_requests_unless_asked(tmp_path: Path, capsys) -> None:
    common = ["--sim-latency-ms", "0", "--cache-dir", str(tmp_path / "cache")]
    status, err = run(small_flags("--quiet", *common, "--out", str(tmp_path / "auto")), capsys)
    assert status == 0, err
    results, ledger = outputs(tmp_path / "auto")
    assert results["structured_outputs"]["mode"] == "auto"
    assert not any(r["structured"] or r["probe"] for r in results["structured_outputs"]["roles"].values())
    assert "probe" not in ledger["phases"]

    status, err = run(
        small_flags("--quiet", *common, "--out", str(tmp_path / "on"), "--structured-outputs", "on"), capsys
    )
    assert status == 0, err
    forced, forced_ledger = outputs(tmp_path / "on")
    assert all(r["structured"] for r in forced["structured_outputs"]["roles"].values())
    assert forced["failures"] == []
    # Every request of the run carried a schema, so none of the stock run's answers could be reused.
    assert forced_ledger["total"]["cached_calls"] == 0
