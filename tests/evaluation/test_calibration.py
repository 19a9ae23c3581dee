"""Judge calibration: rank statistics, confusion matrices, held-aside rows, and the script end to end."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.calibration import (
    ORIGIN_ANY,
    ORIGIN_HELPFULNESS,
    agreement,
    average_ranks,
    calibration_report,
    calibration_rows,
    confusion_matrix,
    format_report,
    is_shipped_sample,
    spearman,
)
from evaluation.data import SHIPPED_SAMPLE, DataError, Row, load_file, normalise_prompt, prepare_splits
from evaluation.engine import JudgeScores
from evaluation.signatures import ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "calibrate_judge.py"


# -- rank statistics ----------------------------------------------------------------------------------
def test_average_ranks_share_ranks_between_ties():
    assert average_ranks([10, 20, 20, 30]) == [1.0, 2.5, 2.5, 4.0]
    assert average_ranks([3, 1, 3, 3, 0]) == [4.0, 2.0, 4.0, 4.0, 1.0]
    assert average_ranks([]) == []


def test_spearman_without_ties_matches_the_textbook_formula():
    x, y = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    # d = [1, -1, 1, -1, 0], sum d^2 = 4: rho = 1 - 6*4 / (5*24) = 0.8
    assert spearman(x, y) == pytest.approx(0.8)


def test_spearman_with_ties_uses_average_ranks():
    x, y = [1, 2, 3, 4, 5], [5, 6, 7, 8, 7]
    # y's ranks are [1, 2, 3.5, 5, 3.5]; Pearson of the ranks is 8 / sqrt(10 * 9.5).
    assert spearman(x, y) == pytest.approx(8 / math.sqrt(95))
    # The no-ties shortcut would give 0.825 here; the tie-corrected value differs.
    assert spearman(x, y) != pytest.approx(0.825)


def test_spearman_extremes_and_undefined_cases():
    assert spearman([0, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(1.0)
    # ranks [1, 2, 3, 4] against [4, 2.5, 2.5, 1]: deviations (-1.5, -.5, .5, 1.5) and (1.5, 0, 0, -1.5).
    assert spearman([0, 1, 2, 3], [4, 3, 3, 0]) == pytest.approx(-4.5 / math.sqrt(5 * 4.5))
    assert spearman([1, 2, 3], [2, 2, 2]) is None  # a constant side has no ranking
    assert spearman([1], [1]) is None
    with pytest.raises(ValueError):
        spearman([1, 2], [1])


def test_confusion_matrix_counts_human_rows_and_judge_columns():
    matrix = confusion_matrix([0, 1, 1, 4, 2, 2], [0, 2, 1, 4, 3, 3])
    assert matrix[0][0] == 1 and matrix[1][1] == 1 and matrix[1][2] == 1
    assert matrix[4][4] == 1 and matrix[2][3] == 2
    assert sum(map(sum, matrix)) == 6 and len(matrix) == 5 and all(len(r) == 5 for r in matrix)
    with pytest.raises(ValueError):
        confusion_matrix([5], [0])


def test_agreement_statistics():
    stats = agreement("helpfulness", human=[0, 1, 2, 3, 4], judge=[0, 2, 2, 1, 4])
    assert stats.n == 5
    assert stats.exact == pytest.approx(3 / 5)
    assert stats.within_one == pytest.approx(4 / 5)
    assert stats.mae == pytest.approx(3 / 5)
    assert stats.human_mean == pytest.approx(2.0) and stats.judge_mean == pytest.approx(1.8)
    assert stats.confusion[3][1] == 1
    empty = agreement("coherence", [], [])
    assert empty.n == 0 and empty.exact is None and empty.as_dict()["spearman"] is None


# -- choosing rows ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample():
    return load_file(SHIPPED_SAMPLE)


def test_calibration_rows_avoid_every_optimization_prompt(sample):
    selection = calibration_rows(sample, n=80, seed=42)
    splits = prepare_splits(sample, seed=42)
    used = {normalise_prompt(r.prompt) for name in ("train", "dev", "test") for r in splits.split(name)}
    assert len(selection.rows) == 80
    assert not {normalise_prompt(r.prompt) for r in selection.rows} & used
    assert sum(selection.origins.values()) == 80
    assert ORIGIN_HELPFULNESS in selection.origins  # the filtered-out label range is represented
    assert "outside the optimization splits" in selection.description


def test_calibration_rows_for_the_high_subset_avoid_its_splits(sample):
    selection = calibration_rows(sample, n=80, seed=42, subset="high")
    splits = prepare_splits(sample, seed=42, subset="high")
    used = {normalise_prompt(r.prompt) for name in ("train", "dev", "test") for r in splits.split(name)}
    assert len(selection.rows) == 80
    assert not {normalise_prompt(r.prompt) for r in selection.rows} & used
    # Rows of helpfulness 2-3 are the ones the high subset filtered out.
    assert "helpfulness outside 4 (filtered out)" in selection.origins
    assert "subset high" in selection.description
    with pytest.raises(DataError, match="unknown subset"):
        calibration_rows(sample, n=10, subset="top")


def test_calibration_rows_do_not_depend_on_row_order(sample):
    forward = calibration_rows(sample, n=30, seed=5)
    reversed_rows = dataclasses.replace(sample, rows=tuple(reversed(sample.rows)))
    backward = calibration_rows(reversed_rows, n=30, seed=5)
    assert sorted(r.to_json() for r in forward.rows) == sorted(r.to_json() for r in backward.rows)
    assert calibration_rows(sample, n=30, seed=6).rows != forward.rows


def test_calibration_rows_take_all_rows_when_the_splits_cannot_be_made():
    rows = [Row(f"prompt {i}", "answer", 2, 2, 2, 2, 2) for i in range(6)]
    small = dataclasses.replace(load_file(SHIPPED_SAMPLE), rows=tuple(rows))
    selection = calibration_rows(small, n=100, seed=1)
    assert len(selection.rows) == 6 and selection.origins == {ORIGIN_ANY: 6}
    assert "fewer than the 100 asked for" in selection.description
    with pytest.raises(DataError):
        calibration_rows(small, n=0)


def test_shipped_sample_is_recognised_by_its_bytes(tmp_path, sample):
    assert is_shipped_sample(sample)
    copy = tmp_path / "copy.jsonl"
    shutil.copy(SHIPPED_SAMPLE, copy)
    assert is_shipped_sample(load_file(copy))
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"prompt": "p", "response": "r", **dict.fromkeys(ATTRIBUTES, 2)}) + "\n")
    assert not is_shipped_sample(load_file(other))


def test_report_leaves_out_judge_failures_and_formats_a_table():
    rows = [Row(f"p{i}", "r", i % 5, 2, 3, 2, 2) for i in range(5)]
    judged = [JudgeScores({a: getattr(r, a) for a in ATTRIBUTES}, {}) for r in rows[:4]] + ["helpfulness: bad"]
    report = calibration_report(rows, judged, source="file x", selection="5 rows", synthetic=True)
    assert report["judged"] == 4 and report["judge_failures"] == 1
    assert report["attributes"]["helpfulness"]["exact"] == 1.0
    assert report["attributes"]["helpfulness"]["spearman"] == pytest.approx(1.0)
    text = format_report(report)
    assert "NOTE:" in text and "synthetic" in text and "spearman n/a" in text
    for attribute in ATTRIBUTES:
        assert attribute in text


# -- the script ---------------------------------------------------------------------------------------
def run_script(*flags: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *flags, "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=tmp_path,
    )


def test_script_judges_held_aside_sample_rows_and_prints_json(tmp_path):
    done = run_script(
        "--dataset", str(SHIPPED_SAMPLE), "--n", "20", "--json", "--sim-latency-ms", "0", tmp_path=tmp_path
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["attributes"]) == set(ATTRIBUTES)
    assert report["synthetic_labels"] is True and "synthetic" in report["note"]
    assert report["rows"] == 20 and report["judged"] + report["judge_failures"] == 20
    assert report["judge"]["backend"] == "simulator"
    assert "outside the optimization splits" in report["selection"]
    for stats in report["attributes"].values():
        assert sum(map(sum, stats["confusion"])) == stats["n"] == report["judged"]
        assert 0.0 <= stats["exact"] <= stats["within_one"] <= 1.0
    assert report["calls"]["live"] == 100


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--n", "0"], "--n"),
        (["--dataset", "missing.jsonl"], "no such file"),
        (["--dataset", str(SHIPPED_SAMPLE), "--judge-model", "azure/nothing-configured"], "credentials"),
    ],
)
def test_script_reports_user_errors_in_one_line(tmp_path, flags, message):
    done = run_script(*flags, tmp_path=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert done.stdout == ""
