"""A sweep's grid, shards and command line: which cells, with which flags, and one line for every mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.sweep.cli import main as sweep_main
from optimizer.sweep.cli import settings_from_args
from optimizer.sweep.grid import Axis, GridError, build_grid, parse_shard, read_toml, shard_cells

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl")


def test_cells_are_every_combination_seed_innermost_with_the_standalone_flags():
    grid = build_grid(
        [Axis("seed", ("1", "2")), Axis("subset", ("middle", "high")), Axis("model", ("azure/a-b", "openai/c"))],
        ["--num-trials", "4"],
    )
    assert [c.name for c in grid.cells][:3] == [
        "subset-middle_model-azure-a-b_seed-1",
        "subset-middle_model-azure-a-b_seed-2",
        "subset-middle_model-openai-c_seed-1",
    ]
    assert len(grid.cells) == 8
    cell = grid.cells[5]
    assert cell.flags == ("--num-trials", "4", "--subset", "high", "--model", "azure/a-b", "--seed", "2")
    assert cell.group == (("subset", "high"), ("model", "azure/a-b"))
    assert len({c.digest if hasattr(c, "digest") else c.name for c in grid.cells}) == 8


def test_an_axis_of_one_value_is_an_option_and_sizes_set_three_flags():
    grid = build_grid([Axis("seed", ("7",)), Axis("sizes", ("20/8/8", "40/10/10"))], [])
    assert [c.name for c in grid.cells] == ["sizes-20-8-8", "sizes-40-10-10"]
    assert grid.cells[1].flags == ("--seed", "7", "--train-size", "40", "--dev-size", "10", "--test-size", "10")
    assert grid.options == ("--seed", "7")


@pytest.mark.parametrize(
    "axes, options, message",
    [
        ([Axis("concurrency", ("4", "8"))], [], "cannot vary across cells"),
        ([Axis("seed", ("1", "2"))], ["--seed", "3"], "--seed is given as a fixed option and as the seed axis"),
        ([Axis("sizes", ("1/2/3", "4/5/6"))], ["--dev-size", "3"], "--dev-size is given as a fixed option"),
        ([Axis("sizes", ("1/2", "4/5/6"))], [], "expected train/dev/test"),
        ([Axis("seed", ("1", "2")), Axis("seed", ("3", "4"))], [], "an axis is given twice: seed"),
        ([Axis("model", ("a/b", "a-b"))], [], "would share the directory name"),
    ],
)
def test_grid_mistakes_are_one_line(axes, options, message):
    with pytest.raises(GridError, match=message):
        build_grid(axes, options)


def test_shards_split_the_cells_without_overlap():
    grid = build_grid([Axis("seed", tuple(str(i) for i in range(7)))], [])
    shares = [shard_cells(grid.cells, i, 3) for i in range(3)]
    assert sorted(c.name for share in shares for c in share) == sorted(c.name for c in grid.cells)
    assert [len(s) for s in shares] == [3, 2, 2]
    assert parse_shard(" 2/3 ") == (2, 3)
    for bad in ("3/3", "1", "-1/2", "a/b", "0/0"):
        with pytest.raises(GridError):
            parse_shard(bad)


def test_toml_grid_options_and_sweep_settings(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        '[grid]\nseed = [1, 2]\nsubset = ["middle", "high"]\n'
        f'[options]\ndataset = "{SAMPLE}"\nnum-trials = 2\nminibatch = false\n'
        "[sweep]\nmax-cost = 3.5\nparallel = 2\n"
    )
    settings, _ = settings_from_args(["--config", str(path), "--out", str(tmp_path / "out"), "--num-candidates", "3"])
    assert settings.grid.cells[0].name == "subset-middle_seed-1"
    assert settings.max_cost_usd == 3.5 and settings.parallel == 2
    config = settings.configs["subset-high_seed-2"]
    assert (config.seed, config.subset, config.search.num_trials, config.search.num_candidates) == (2, "high", 2, 3)
    assert config.out_dir == tmp_path / "out" / "cells" / "subset-high_seed-2"
    assert config.max_cost_usd is None  # the cap is the sweep's, not each cell's


@pytest.mark.parametrize(
    "text, message",
    [
        ("[grid]\nseed = 1\n", "must be a non-empty list"),
        ("[grid]\nseed = [1, 1]\n", "more than once"),
        ("[grids]\n", "unknown table"),
        ("[sweep]\nfoo = 1\n", "unknown \\[sweep\\] setting"),
        ("[grid\n", "invalid TOML"),
    ],
)
def test_toml_mistakes_are_one_line(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(GridError, match=message):
        read_toml(path)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "1,2", "--frobnicate"], "cell seed-1: unrecognized arguments: --frobnicate"),
        (["--subsets", "middle,low"], "argument --subset: invalid choice: 'low'"),
        (["--seeds", "1,,2"], "--seeds: expected a comma-separated list"),
        (["--seeds", "1,2", "--shard", "2/2"], "--shard 2/2: need 0 <= I < N"),
        (["--seeds", "1,2", "--seed", "4"], "--seed is given as a fixed option"),
        (["--seeds", "1,2", "--num-candidates", "1"], "--num-candidates must be at least 2"),
        (["--config", "missing.toml"], "no such sweep file"),
        (["--seeds", "1,2", "--budget-name", "team"], "--budget-name names a budget shared on a Redis server"),
        (["--seeds", "1,2", "--redis-url", "http://localhost:6379"], "must start with redis:// or rediss://"),
    ],
)
def test_command_line_mistakes_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert sweep_main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "out").exists()


def test_dry_run_estimates_every_cell_and_writes_nothing(tmp_path, capsys):
    argv = ["--seeds", "1,2", "--subsets", "middle,high", "--dataset", SAMPLE, "--num-trials", "2"]
    assert sweep_main([*argv, "--out", str(tmp_path / "out"), "--dry-run", "--max-cost", "0.5"]) == 0
    err = capsys.readouterr().err
    assert "Estimate before any live call (4 cells through one gateway" in err
    assert err.count("subset-high_seed-2") == 1 and "exceeds --max-cost ($0.50)" in err
    assert not (tmp_path / "out").exists()


def test_a_data_problem_in_any_cell_stops_the_sweep_before_a_call(tmp_path, capsys):
    argv = ["--subsets", "middle,high", "--dataset", SAMPLE, "--train-size", "330", "--out", str(tmp_path / "out")]
    assert sweep_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cell subset-middle: asked for 470 rows") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_finished_cell_of_other_flags_is_not_taken_for_this_one(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "cells" / "seed-1").mkdir(parents=True)
    state = {"name": "seed-1", "flags": ["--seed", "1", "--num-trials", "9"], "status": "finished"}
    (out / "cells" / "seed-1" / "cell.json").write_text(json.dumps(state))
    assert sweep_main(["--seeds", "1,2", "--dataset", SAMPLE, "--out", str(out), "--dry-run"]) == 2
    assert "holds a run with other flags than cell seed-1 has now" in capsys.readouterr().err
