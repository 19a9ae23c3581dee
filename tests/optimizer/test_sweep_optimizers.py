"""The race: MIPROv2 and GEPA as a sweep axis, compared across seeds in the sweep's results and report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.sweep.cli import format_summary, settings_from_args
from optimizer.sweep.grid import Axis, build_grid
from optimizer.sweep.runner import cell_dir, run_sweep
from optimizer.sweep.stats import REPORT_FILE, RESULTS_FILE, write_sweep_results
from optimizer.testing import small_flags

GEPA_BUDGET = ("--gepa-max-metric-calls", "40")


def test_gepa_options_reach_only_the_gepa_cells():
    grid = build_grid(
        [Axis("optimizer", ("mipro", "gepa")), Axis("seed", ("1", "2"))],
        ["--num-trials", "3", *GEPA_BUDGET, "--reflection-model=x"],
    )
    names = [cell.name for cell in grid.cells]
    assert names == [
        "optimizer-mipro_seed-1",
        "optimizer-mipro_seed-2",
        "optimizer-gepa_seed-1",
        "optimizer-gepa_seed-2",
    ]
    mipro, gepa = grid.cells[0].flags, grid.cells[2].flags
    assert "--gepa-max-metric-calls" not in mipro and "--reflection-model=x" not in mipro and "--num-trials" in mipro
    assert [*GEPA_BUDGET] == list(gepa[gepa.index("--gepa-max-metric-calls") :][:2])
    assert gepa[-4:] == ("--optimizer", "gepa", "--seed", "1")


@pytest.fixture(scope="module")
def raced(tmp_path_factory):
    tmp: Path = tmp_path_factory.mktemp("race")
    argv = [
        *("--optimizers", "mipro,gepa", "--seeds", "1,2"),
        *small_flags("--sim-latency-ms", "1"),
        *GEPA_BUDGET,
        *("--cache-dir", str(tmp / "cache"), "--out", str(tmp / "race")),
    ]
    settings, _ = settings_from_args(argv)
    outcome = run_sweep(settings, gather=write_sweep_results)
    return settings, outcome


def test_each_cell_runs_its_optimizer(raced):
    settings, outcome = raced
    assert not outcome.failed and outcome.fatal is None
    for cell in settings.grid.cells:
        results = json.loads((cell_dir(settings.out, cell) / "optimization_results.json").read_text())
        assert (results.get("optimizer") or "mipro") == cell.value("optimizer")
        assert ("gepa" in results) == (cell.value("optimizer") == "gepa")


def test_the_results_and_report_compare_the_optimizers_across_seeds(raced):
    settings, _ = raced
    results = json.loads((settings.out / RESULTS_FILE).read_text())
    (comparison,) = results["optimizer_comparison"]
    diff = comparison["improvement_gepa_minus_mipro"]
    assert diff["n"] == [2, 2] and diff["difference"] is not None and diff["method"] == "Welch t"
    gepa_mean = comparison["gepa"]["test_improvement"]["mean"]
    mipro_mean = comparison["mipro"]["test_improvement"]["mean"]
    assert diff["difference"] == pytest.approx(gepa_mean - mipro_mean, abs=0.01)
    for side in ("mipro", "gepa"):
        assert comparison[side]["calls"]["n"] == 2 and comparison[side]["calls"]["mean"] > 0
        assert comparison[side]["wall_s"]["n"] == 2
    page = (settings.out / REPORT_FILE).read_text()
    assert "MIPROv2 versus GEPA" in page and "GEPA minus MIPROv2" in page
    assert "GEPA - MIPROv2 improvement" in format_summary(results, settings.out)
