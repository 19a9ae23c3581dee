"""The shipped sample is what its builder writes from the text bank (``evaluation/sample/build_sample.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BUILDER = Path(__file__).resolve().parents[2] / "evaluation" / "sample" / "build_sample.py"


def test_shipped_sample_is_up_to_date(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BUILDER), "--check"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is up to date" in result.stdout


def test_check_fails_on_a_stale_sample(tmp_path):
    stale = tmp_path / "sample.jsonl"
    stale.write_text('{"prompt": "an old row"}\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(BUILDER), "--check", "--out", str(stale)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "is stale" in result.stderr
