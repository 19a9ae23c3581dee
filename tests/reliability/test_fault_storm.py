"""Fault storms over loopback: the small run completes, waits honour Retry-After, and nothing is lost.

Two storms run against the simulator (see ``bench/reliability.py`` for the exact rates):
one with only transient faults (429 with Retry-After, 500, 503, client timeouts, dropped
connections), whose result must equal the fault-free run's byte for byte, and the full storm, which
adds 5% malformed 200 answers. A malformed answer is not transient to the gateway (it is a 200, so
it is cached); the test pins down what it changes and checks that nothing else changed.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import optimizer.run as run_module
import simulator
from cache import CachePolicy
from gateway.retry import RetryPolicy
from gateway.runtime import GatewaySettings
from optimizer.cli import main
from optimizer.run import run_optimization
from simulator import FaultConfig, SimConfig

pytestmark = pytest.mark.slow
SAMPLE = Path(__file__).resolve().parents[2] / "evaluation" / "sample" / "helpsteer2_sample.jsonl"


@pytest.fixture(scope="module")
def transient_storm(harness: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return harness.fault_storm(
        tmp_path_factory.mktemp("storm"),
        "transient-storm",
        harness.TRANSIENT_STORM,
        sim_seed=harness.TRANSIENT_STORM_SEED,
    )


@pytest.fixture(scope="module")
def full_storm(harness: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return harness.fault_storm(
        tmp_path_factory.mktemp("storm"), "full-storm", harness.STORM, sim_seed=harness.STORM_SEED
    )


@pytest.fixture(params=["transient_storm", "full_storm"])
def storm(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def test_storm_run_completes_with_every_example_scored(storm, harness):
    assert storm.error is None, storm.error
    results = storm.outcome.results
    assert results["failures"] == []
    injected = storm.server["injected"]
    # The storm really happened: every transient kind the run asked for was injected.
    for kind in ("429", "500", "503", "timeout", "drop"):
        assert injected.get(kind, 0) > 0, kind
    entries, corrupted = harness.cache_health(storm.cache_dir)
    assert corrupted == 0 and entries == storm.outcome.ledger["total"]["live_calls"]
    assert storm.server["statuses"]["200"] == entries  # every answer the server gave was kept


def test_every_wait_after_a_429_is_at_least_its_retry_after(storm, harness):
    pairs = harness._paired(storm.instruments)
    assert len(pairs) == len(storm.instruments.retries) == len(storm.instruments.sleeps)
    for event, slept in pairs:
        assert slept == pytest.approx(event["wait_s"], abs=1e-3)  # the logged wait is the one slept
    asked = storm.faults.retry_after_s
    after_429 = [slept for event, slept in pairs if event["error"] == "RateLimited"]
    assert len(after_429) == storm.server["injected"]["429"]
    assert min(after_429) >= asked
    # Backoff alone is shorter than Retry-After here, so the check above is one that could fail.
    assert any(slept < asked for event, slept in pairs if event["error"] != "RateLimited")


def test_no_call_goes_past_the_attempt_cap(storm):
    cap = RetryPolicy().max_attempts
    # A retry logged after attempt n leads to attempt n + 1: the highest logged attempt bounds them all.
    highest = max(event["attempt"] for event in storm.instruments.retries)
    assert highest + 1 <= cap
    assert storm.instruments.sends == storm.server["requests"]


def test_ledger_counts_every_retry_and_error(storm):
    total = storm.outcome.ledger["total"]
    transient = sum(n for kind, n in storm.server["injected"].items() if kind != "malformed")
    assert total["retries"] == len(storm.instruments.retries) == transient
    # Every request the server received is one attempt of a call the ledger counted.
    assert storm.server["requests"] == total["live_calls"] + total["retries"] + total["errors"]
    assert total["errors"] == 0  # no call ran out of attempts in these storms


def test_transient_storm_result_equals_the_fault_free_run(transient_storm, reference, harness):
    outcome = transient_storm.outcome
    assert harness.differing_keys(outcome.results, reference.results) == []
    assert harness._program(outcome) == harness._program(reference)
    assert harness.evaluations(outcome) == harness.evaluations(reference)
    assert outcome.ledger["total"]["live_calls"] == reference.ledger["total"]["live_calls"]


def test_malformed_answers_change_only_the_examples_they_reached(full_storm, reference, harness):
    """A malformed 200 is cached like any answer; DSPy's JSON fallback then asks again, so only the
    examples whose requests got a malformed answer can score differently from the fault-free run."""
    outcome = full_storm.outcome
    assert len(full_storm.instruments.malformed_messages) == full_storm.server["injected"]["malformed"] > 0
    dev = [e["prompt"] for e in harness.evaluations(reference)["baseline_dev"]]
    test = [e["prompt"] for e in harness.evaluations(reference)["baseline_test"]]
    affected = full_storm.affected_prompts(dev + test)
    changed = harness.changed_examples(outcome, reference)
    same_winner = harness._program(outcome) == harness._program(reference)
    names = ["baseline_dev", "baseline_test"] + (["optimized_dev", "optimized_test"] if same_winner else [])
    for name in names:
        prompts = dev if name.endswith("dev") else test
        assert {prompts[i] for i in changed[name]} <= affected, name
    assert any(changed.values())  # the storm did reach scored examples: the check above was not vacuous


def test_full_storm_replays_identically_from_its_cache(full_storm, harness, tmp_path):
    """Malformed answers are cached, so a rerun reproduces the storm's result exactly, with no live call."""
    config = replace(
        harness.SMALL,
        model="openai/gpt-4o",
        api_base=full_storm.api_base,
        cache_dir=full_storm.cache_dir,
        out_dir=tmp_path / "replay",
        policy=CachePolicy.REPLAY,
    )
    # The storm's endpoint carried a short client timeout and a key; replay never sends, so neither matters.
    with harness.instrumented(None, client_timeout_s=harness.STORM_CLIENT_TIMEOUT_S):
        replayed = run_optimization(config)
    assert replayed.ledger["total"]["live_calls"] == 0
    assert harness.differing_keys(replayed.results, full_storm.outcome.results) == []
    assert harness.evaluations(replayed) == harness.evaluations(full_storm.outcome)


def test_outage_after_the_baseline_ends_in_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    """Every request fails with 503 once the baseline is cached: the proposer's call runs out of attempts.

    DSPy wraps the gateway's error in its own ``LMUnexpectedError`` outside the evaluation engine, so
    the error must be unwrapped before it reaches the command line.
    """
    monkeypatch.chdir(tmp_path)
    flags = [
        "--dataset",
        str(SAMPLE),
        "--train-size",
        "10",
        "--dev-size",
        "4",
        "--test-size",
        "0",
        "--num-trials",
        "1",
        "--quiet",
        "--sim-latency-ms",
        "0",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main([*flags, "--num-candidates", "2", "--out", str(tmp_path / "warm")]) == 0
    capsys.readouterr()
    outage = functools.partial(SimConfig, faults=FaultConfig(rate_503=1.0))
    monkeypatch.setattr(simulator, "SimConfig", outage)  # the embedded simulator is built from this name
    monkeypatch.setattr(
        run_module,
        "GatewaySettings",
        functools.partial(GatewaySettings, retry=RetryPolicy(base_s=0.001, max_backoff_s=0.002)),
    )
    try:
        status = main([*flags, "--num-candidates", "3", "--out", str(tmp_path / "outage")])
    except Exception as exc:  # what a user would see as a traceback
        pytest.fail(f"{type(exc).__name__} escaped the command line: {exc}")
    err = capsys.readouterr().err
    assert status == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and ("Unavailable" in lines[0] or "overloaded" in lines[0]), err
    ledger = json.loads((tmp_path / "outage" / "ledger.json").read_text())
    assert ledger["total"]["errors"] >= 1 and ledger["total"]["retries"] >= RetryPolicy().max_attempts - 1
    assert not (tmp_path / "outage" / "optimized_program.json").exists()
