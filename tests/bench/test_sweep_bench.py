"""The sweep benchmark's bookkeeping: its six cells, and the check that each equals its standalone run."""

from __future__ import annotations

import json
from pathlib import Path

from bench.sweep_bench import grid, identical


def write_run(directory: Path, program: str, results: dict) -> None:
    directory.mkdir(parents=True)
    (directory / "optimized_program.json").write_text(program)
    (directory / "evaluations.json").write_text("{}")
    (directory / "optimization_results.json").write_text(json.dumps(results))


def test_the_grid_is_three_seeds_by_two_subsets():
    cells = grid([]).cells
    assert [c.name for c in cells] == [
        "subset-middle_seed-1",
        "subset-middle_seed-2",
        "subset-middle_seed-3",
        "subset-high_seed-1",
        "subset-high_seed-2",
        "subset-high_seed-3",
    ]


def test_identical_names_what_differs_and_ignores_where_a_run_wrote(tmp_path):
    g = grid(["--num-trials", "2"])
    for cell in g.cells:
        results = {"trials": [1, 2], "config": {"out_dir": "x"}, "run_id": "a"}
        write_run(tmp_path / "sweep" / "cells" / cell.name, "{}", results)
        results = {"trials": [1, 2], "config": {"out_dir": "y"}, "run_id": "b"}
        write_run(tmp_path / "runs" / cell.name, "{}", results)
    assert identical(g, tmp_path / "sweep", tmp_path / "runs") == []
    odd = g.cells[4].name
    (tmp_path / "runs" / odd / "optimized_program.json").write_text('{"other": 1}')
    (tmp_path / "runs" / odd / "optimization_results.json").write_text(json.dumps({"trials": [1]}))
    assert identical(g, tmp_path / "sweep", tmp_path / "runs") == [
        f"{odd}: optimized_program.json",
        f"{odd}: results[trials]",
    ]
