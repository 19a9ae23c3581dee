"""Sweeps end to end on the simulator: cells at once through one gateway, each exactly its standalone run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from optimizer.cli import build_parser, config_from_args
from optimizer.run import run_optimization
from optimizer.sweep.cli import main as sweep_main
from optimizer.sweep.cli import settings_from_args
from optimizer.sweep.runner import cell_dir, run_sweep
from optimizer.sweep.stats import RESULTS_FILE, write_sweep_results
from optimizer.testing import small_flags

ROOT = Path(__file__).resolve().parents[2]
SMALL = small_flags("--sim-latency-ms", "1")
# Results that may differ between a cell and its standalone run: where it wrote, and how many of its
# calls were paid (the cells share one cache: a call another cell already made is a cached one).
VOLATILE = {"config", "token_usage", "run_id", "optuna_study"}


def sweep(tmp: Path, *extra: str, out: str = "sweep") -> tuple:
    argv = [
        "--seeds",
        "1,2",
        "--subsets",
        "middle,high",
        *SMALL,
        "--cache-dir",
        str(tmp / "cache"),
        "--out",
        str(tmp / out),
    ]
    settings, _ = settings_from_args([*argv, *extra])
    outcome = run_sweep(settings, gather=write_sweep_results)
    return settings, outcome


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    settings, outcome = sweep(tmp)
    return tmp, settings, outcome


def standalone(tmp: Path, flags: list[str], name: str):
    args = build_parser().parse_args([*flags, "--out", str(tmp / name), "--cache-dir", str(tmp / f"cache-{name}")])
    return run_optimization(config_from_args(args))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["subset-middle_seed-1", "subset-high_seed-2"])
def test_a_cell_is_exactly_its_standalone_run(swept, name):
    tmp, settings, outcome = swept
    cell = next(c for c in settings.grid.cells if c.name == name)
    alone = standalone(tmp, list(cell.flags), f"alone-{name}")
    here = cell_dir(settings.out, cell)
    for artifact in ("optimized_program.json", "evaluations.json"):
        assert (here / artifact).read_bytes() == (alone.run_dir / artifact).read_bytes(), artifact
    results = json.loads((here / "optimization_results.json").read_text())
    assert {k: v for k, v in results.items() if k not in VOLATILE} == {
        k: v for k, v in alone.results.items() if k not in VOLATILE
    }
    # The cell's ledger holds exactly its own calls, phase by phase (paid or answered from the cache).
    ledger = json.loads((here / "ledger.json").read_text())
    for phase, totals in alone.ledger["phases"].items():
        mine = ledger["phases"][phase]
        assert mine["live_calls"] + mine["cached_calls"] == totals["live_calls"] + totals["cached_calls"], phase


@pytest.mark.slow
def test_cells_ran_at_once_and_the_sweep_reports_them(swept):
    tmp, settings, outcome = swept
    assert [r.status for r in outcome.results] == ["finished"] * 4 and outcome.fatal is None
    # They ran at once: every cell started before any had finished.
    assert max(r.started for r in outcome.results) < min(r.started + r.wall_s for r in outcome.results)
    names = [c.name for c in settings.grid.cells]
    assert names == ["subset-middle_seed-1", "subset-middle_seed-2", "subset-high_seed-1", "subset-high_seed-2"]
    states = [json.loads((cell_dir(settings.out, c) / "cell.json").read_text()) for c in settings.grid.cells]
    assert all(s["status"] == "finished" and s["command"][:2] == ["python", "scripts/optimize.py"] for s in states)
    results = outcome.summary
    assert results == json.loads((settings.out / RESULTS_FILE).read_text())
    assert [c["status"] for c in results["cells"]] == ["finished"] * 4
    groups = {g["values"]["subset"]: g for g in results["groups"]}
    for subset, group in groups.items():
        cells = [c for c in results["cells"] if c["subset"] == subset]
        improvements = [c["test"]["improvement"] for c in cells]
        assert group["test_improvement"]["n"] == 2
        assert group["test_improvement"]["mean"] == pytest.approx(sum(improvements) / 2, abs=1e-4)
        low, high = group["test_improvement"]["ci95"]
        assert low < group["test_improvement"]["mean"] < high
        assert group["winners"]["distinct"] == len({c["winner"] for c in cells})
        assert group["gated"] == 2 and group["promote_rate"] == group["promoted"] / 2
    (comparison,) = results["subset_comparison"]
    middle = sum(c["test"]["improvement"] for c in results["cells"] if c["subset"] == "middle") / 2
    high_mean = sum(c["test"]["improvement"] for c in results["cells"] if c["subset"] == "high") / 2
    assert comparison["improvement_high_minus_middle"]["difference"] == pytest.approx(high_mean - middle, abs=1e-3)
    per_cell = sum(c["cost"]["cost_usd"] for c in results["cells"])
    assert results["cost"]["total"]["cost_usd"] == pytest.approx(per_cell, abs=1e-6)
    page = (settings.out / "sweep_report.html").read_text()
    assert "Middle versus high subset" in page and "subset-high_seed-2/report.html" in page
    assert "<script" not in page


@pytest.mark.slow
def test_rerun_skips_finished_cells_and_report_gathers_the_same_results(swept, capsys):
    tmp, settings, outcome = swept
    copy = tmp / "copy"
    shutil.copytree(settings.out, copy)
    before = (copy / RESULTS_FILE).read_bytes()
    _, again = sweep(tmp, out="copy")
    assert [r.status for r in again.results] == ["skipped"] * 4
    assert (copy / RESULTS_FILE).read_bytes() == before
    (copy / RESULTS_FILE).unlink()
    assert sweep_main(["report", str(copy)]) == 0
    assert (copy / RESULTS_FILE).read_bytes() == before
    assert "test improvement across seeds" in capsys.readouterr().out


@pytest.mark.slow
def test_an_unfinished_cell_is_run_again_from_the_cache(swept):
    tmp, settings, outcome = swept
    copy = tmp / "unfinished"
    shutil.copytree(settings.out, copy)
    cell = settings.grid.cells[2]
    program = (cell_dir(copy, cell) / "optimized_program.json").read_bytes()
    (cell_dir(copy, cell) / "cell.json").unlink()
    (cell_dir(copy, cell) / "optimized_program.json").unlink()
    _, again = sweep(tmp, out="unfinished")
    statuses = {r.cell.name: r.status for r in again.results}
    assert statuses.pop(cell.name) == "finished" and set(statuses.values()) == {"skipped"}
    rerun = next(r for r in again.results if r.cell.name == cell.name)
    ledger = rerun.outcome.ledger["total"]
    assert ledger["live_calls"] == 0 and ledger["cached_calls"] > 0  # every answer came from the cache
    assert (cell_dir(copy, cell) / "optimized_program.json").read_bytes() == program


@pytest.mark.slow
def test_max_cost_caps_the_whole_sweep(tmp_path, capsys):
    argv = ["--seeds", "1,2", "--subsets", "middle,high", *SMALL, "--cache-dir", str(tmp_path / "cache")]
    assert sweep_main([*argv, "--out", str(tmp_path / "out"), "--max-cost", "0.3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error: budget reached" in err and "rerun the same command to resume" in err
    results = json.loads((tmp_path / "out" / RESULTS_FILE).read_text())
    assert {c["status"] for c in results["cells"]} == {"failed"}
    # Each cell alone would have spent about $0.7; together they stayed under the one cap.
    spent = sum(c["cost"]["cost_usd"] for c in results["cells"])
    assert 0.1 < spent <= 0.3
