"""Content-filter refusals: the refused example fails with its reason, the run goes on, replay agrees.

The simulator refuses every request containing ``[[content-filter]]``, so a small dataset in the
HelpSteer2 schema with that marker in one train, one dev and one test prompt exercises a refusal in
bootstrap, in every evaluation and (through the train set) in the proposer's context. One refused
example of 10 is within the engine's 10% failure share, so the run must complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from cache import CachePolicy, ResponseCache
from evaluation.data import Splits
from optimizer.mipro.phased import SearchConfig
from optimizer.run import RunConfig, RunOutcome, run_optimization
from simulator import CONTENT_FILTER_MARKER, FaultConfig, SimConfig, Simulator

pytestmark = pytest.mark.slow
TINY = RunConfig(
    train_size=10, dev_size=10, test_size=10, search=SearchConfig(num_candidates=2, num_trials=1), sim_latency_ms=0.0
)


@dataclass
class RefusedRun:
    outcome: RunOutcome
    splits: Splits
    config: RunConfig


def refused_records(cache_dir: Path) -> list[dict[str, Any]]:
    with ResponseCache(cache_dir) as cache:
        records = [cache.get(key) for key in cache.keys()]
    return [r for r in records if r is not None and "refusal" in r]


def failure_places(results: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {(f["split"], f["program"], f["index"]) for f in results["failures"]}


def marked_index(rows: list[Any]) -> int:
    (index,) = [i for i, row in enumerate(rows) if CONTENT_FILTER_MARKER in row.prompt]
    return index


@pytest.fixture(scope="module")
def refused_run(refusal_dataset, tmp_path_factory) -> RefusedRun:
    tmp = tmp_path_factory.mktemp("refusals")
    dataset, splits = refusal_dataset(tmp, train=10, dev=10, test=10, refused={"train": 1, "dev": 1, "test": 1})
    config = replace(TINY, dataset=str(dataset), out_dir=tmp / "run", cache_dir=tmp / "cache")
    return RefusedRun(run_optimization(config), splits, config)


def test_refused_generation_counts_as_zero_with_its_reason_and_the_run_goes_on(refused_run):
    results = refused_run.outcome.results
    dev, test = marked_index(refused_run.splits.dev), marked_index(refused_run.splits.test)
    assert failure_places(results) == {
        ("dev", "baseline", dev),
        ("dev", "optimized", dev),
        ("test", "baseline", test),
        ("test", "optimized", test),
    }
    for failure in results["failures"]:
        assert failure["reason"].startswith("generation: ContentFiltered:"), failure
        assert failure["kind"] == "candidate"  # the generation was refused: the candidate's failure
    one_refusal = {"candidate": 1, "judge": 0}
    assert results["dev"]["failed"] == {"baseline": one_refusal, "optimized": one_refusal}
    assert results["dev"]["examples"] == 10
    run_dir = refused_run.outcome.run_dir
    details = json.loads((run_dir / "evaluations.json").read_text())
    for name in ("baseline_dev", "optimized_dev", "baseline_test", "optimized_test"):
        failed = [e for e in details[name] if e["failure"]]
        assert len(failed) == 1 and CONTENT_FILTER_MARKER in failed[0]["prompt"], name
        assert failed[0]["scores"] is None and failed[0]["composite"] == 0.0  # in the mean, as 0
        assert all(e["scores"] is not None for e in details[name] if not e["failure"])
        composites = [e["composite"] for e in details[name]]
        split = "dev" if name.endswith("dev") else "test"
        program = "baseline" if name.startswith("baseline") else "optimized"
        assert results[split][program] == pytest.approx(100 * sum(composites) / len(composites), abs=0.006)
    assert refused_run.outcome.ledger["total"]["errors"] >= 3  # each refusal made live is counted


def test_refusals_are_cached_and_never_sent_twice(refused_run):
    refusals = refused_records(refused_run.config.cache_dir)
    assert refusals, "no refusal was cached"
    assert all("content" in r["refusal"].lower() for r in refusals)
    # Each live refusal is one ledger error and one cache entry; a body refused live twice would be
    # two errors for one entry. The run asks some refused bodies more than once (the search repeats
    # the baseline's dev evaluation; the final evaluation repeats the winning trial's).
    assert len(refusals) == refused_run.outcome.ledger["total"]["errors"]


def test_replay_refuses_the_same_examples_without_a_call(refused_run, tmp_path):
    config = refused_run.config
    replayed = run_optimization(replace(config, policy=CachePolicy.REPLAY, out_dir=tmp_path / "replay"))
    assert replayed.ledger["total"]["live_calls"] == 0
    assert failure_places(replayed.results) == failure_places(refused_run.outcome.results)
    for key in ("baseline_score", "optimized_score", "dev", "test", "trials"):
        assert replayed.results[key] == refused_run.outcome.results[key], key


def test_replay_reports_the_same_reasons(refused_run, tmp_path):
    """A refusal served from the cache must read as the live one did, or replayed results differ."""
    config = refused_run.config
    replayed = run_optimization(replace(config, policy=CachePolicy.REPLAY, out_dir=tmp_path / "replay"))
    assert replayed.results["failures"] == refused_run.outcome.results["failures"]


def test_finish_reason_refusal_is_a_failed_example_too(refusal_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sim-key")
    dataset, splits = refusal_dataset(tmp_path, train=10, dev=10, test=0, refused={"dev": 1})
    faults = FaultConfig(content_filter_mode="finish_reason")
    with Simulator(SimConfig(latency_ms=0.0, faults=faults)) as sim:
        config = replace(
            TINY,
            dataset=str(dataset),
            test_size=0,
            model="openai/gpt-4o",
            api_base=sim.openai_api_base,
            out_dir=tmp_path / "run",
            cache_dir=tmp_path / "cache",
        )
        outcome = run_optimization(config)
        sent = sim.stats()["requests"]
    index = marked_index(splits.dev)
    assert failure_places(outcome.results) == {("dev", "baseline", index), ("dev", "optimized", index)}
    assert all("content filter" in f["reason"] for f in outcome.results["failures"])
    refusals = refused_records(tmp_path / "cache")
    total = outcome.ledger["total"]
    # Each request the server answered is counted once: a finish_reason refusal is an error (billed,
    # so its tokens count), every other answer a live call.
    assert total["errors"] == len(refusals) > 0 and total["retries"] == 0
    assert sent == total["requests"] == total["live_calls"] + total["errors"]


def test_each_candidates_failures_of_both_kinds_are_in_the_results_and_the_report(refused_run):
    results = refused_run.outcome.results
    evaluated = [c for c in results["candidate_evaluations"] if c["evaluated"]]
    assert evaluated and len(results["candidate_evaluations"]) == len(results["candidates"])
    # The refused dev prompt fails every candidate's generation, and nothing fails its judge.
    assert {(c["candidate_failures"], c["judge_failures"]) for c in evaluated} == {(1, 0)}
    assert all(t["candidate_failures"] == 1 and t["judge_failures"] == 0 for t in results["trials"] if t["full_eval"])
    html = (refused_run.outcome.run_dir / "report.html").read_text()
    candidates = html.split('id="candidates"')[1].split("</section>")[0]
    assert "candidate failures" in candidates and "judge failures" in candidates
    rows = candidates.split("<tbody>")[1].split("</tr>")[:-1]
    for row, evaluation in zip(rows, results["candidate_evaluations"], strict=True):
        cells = [cell.split(">", 1)[1] for cell in row.split("</td>")[:-1]]
        expected = ["–", "–"] if not evaluation["evaluated"] else ["1", "0"]
        assert cells[-2:] == expected, row
    summary = html.split('id="summary"')[1].split("</section>")[0]
    assert "1 / 1" in summary and "0 / 0" in summary


def test_scores_with_failures_are_the_same_at_concurrency_one(refused_run, tmp_path):
    config = replace(refused_run.config, concurrency=1, out_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    serial = run_optimization(config)
    assert serial.ledger["total"]["live_calls"] > 0  # answered afresh, one call at a time
    for key in ("dev", "test", "trials", "candidate_evaluations", "failures", "optimized_signature"):
        assert serial.results[key] == refused_run.outcome.results[key], key
    first, second = ((o.run_dir / "optimized_program.json").read_bytes() for o in (refused_run.outcome, serial))
    assert first == second
