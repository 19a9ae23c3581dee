"""A user's mistakes end as one clear line and a non-zero exit: no traceback, nothing half-written.

The command line is driven in-process (``optimizer.cli.main``), which is what ``scripts/optimize.py``
runs: an exception escaping ``main`` is what a user would see as a traceback.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import diskcache
import pytest

from cache import ResponseCache
from optimizer.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl"
SMALL = [
    "--train-size",
    "20",
    "--dev-size",
    "8",
    "--test-size",
    "8",
    "--num-candidates",
    "3",
    "--num-trials",
    "3",
    "--quiet",
    "--sim-latency-ms",
    "0",
]
GOOD_LINES = SAMPLE.read_bytes().splitlines(keepends=True)[:3]
SCORES = '"helpfulness": 2, "correctness": 2, "coherence": 2, "complexity": 2, "verbosity": 2'


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of one command-line run; fails the test on an escaped exception."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's way out
        status = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:
        pytest.fail(f"{type(exc).__name__} escaped the command line (a user would see a traceback): {exc}")
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_clear_line(status: int, out: str, err: str, *names: str) -> None:
    assert status not in (0, None)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert "Traceback" not in out + err
    assert not out.strip(), f"nothing belongs on stdout for a mistake, got: {out!r}"


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()) if path.exists() else []


@pytest.fixture(autouse=True)
def scratch_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env is read; anything written by mistake shows up here


# -- malformed dataset files ----------------------------------------------------------------------------
DATASETS = {
    "invalid-json.jsonl": (b"".join(GOOD_LINES) + b'{"prompt": "Hi", broken\n', "line 4: invalid JSON"),
    "missing-column.jsonl": (
        b"".join(GOOD_LINES) + ('{"prompt": "Hi", ' + SCORES + "}\n").encode(),
        "line 4: missing field 'response'",
    ),
    "wrong-type.jsonl": (
        b"".join(GOOD_LINES) + ('{"prompt": 42, "response": "r", ' + SCORES + "}\n").encode(),
        "line 4: prompt must be text",
    ),
    "wrong-score.jsonl": (
        b"".join(GOOD_LINES)
        + (
            '{"prompt": "Hi", "response": "r", ' + SCORES.replace('"helpfulness": 2', '"helpfulness": "high"') + "}\n"
        ).encode(),
        "line 4: helpfulness must be an integer 0-4",
    ),
    "empty.jsonl": (b"", "file is empty"),
    "latin-1.jsonl": (
        b"".join(GOOD_LINES) + ('{"prompt": "caf\u00e9", "response": "r", ' + SCORES + "}\n").encode("latin-1"),
        "line 4: not valid UTF-8",
    ),
    "missing-column.csv": (b"prompt,response,helpfulness\nHi,there,2\n", "missing column(s)"),
    "not-a-list.json": (b'{"rows": []}', "expected a JSON array"),
}


@pytest.mark.parametrize("name", list(DATASETS))
def test_malformed_dataset_file(name, tmp_path, capsys):
    content, problem = DATASETS[name]
    (tmp_path / name).write_bytes(content)
    status, out, err = run_cli(["--dataset", str(tmp_path / name), *SMALL, "--out", str(tmp_path / "run")], capsys)
    assert_one_clear_line(status, out, err, name, problem)
    assert files_under(tmp_path / "run") == []


def test_missing_dataset_file(tmp_path, capsys):
    status, out, err = run_cli(["--dataset", str(tmp_path / "nowhere.jsonl"), *SMALL], capsys)
    assert_one_clear_line(status, out, err, "no such file", "nowhere.jsonl")


# -- bad flag values and models -------------------------------------------------------------------------
FLAGS = [
    (["--concurrency", "0"], "--concurrency"),
    (["--concurrency", "-4"], "--concurrency"),
    (["--concurrency", "lots"], "--concurrency"),
    (["--num-trials", "0"], "--num-trials"),
    (["--num-candidates", "1"], "--num-candidates"),
    (["--dev-size", "0"], "--dev-size"),
    (["--test-size", "-1"], "--test-size"),
    (["--max-cost", "-5"], "--max-cost"),
    (["--train-size", "5000"], "asked for"),
    (["--model", "nosuchprovider/some-model"], "unknown model"),
    (["--model", "openai/gpt-4o"], "OPENAI_API_KEY"),
    (["--model", "azure/my-deployment"], "AZURE_API_KEY"),
]


@pytest.mark.parametrize(("flags", "names"), FLAGS, ids=[" ".join(f) for f, _ in FLAGS])
def test_bad_flag_value(flags, names, tmp_path, capsys):
    argv = ["--dataset", str(SAMPLE), *SMALL, "--out", str(tmp_path / "run"), *flags]
    status, out, err = run_cli(argv, capsys)
    assert_one_clear_line(status, out, err, names)
    assert files_under(tmp_path) == []


# -- places that cannot be written ----------------------------------------------------------------------
def unwritable_directory(tmp_path: Path) -> Path:
    """A directory this process cannot create files in: chmod 500, or (as root, where chmod does not
    stop writes) a path whose parent is a regular file."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        (locked / "probe").write_text("x")
    except OSError:
        return locked / "run"
    (locked / "probe").unlink()
    locked.chmod(0o700)
    (tmp_path / "a-file").write_text("not a directory")
    return tmp_path / "a-file" / "run"


def test_unwritable_output_directory(tmp_path, capsys):
    target = unwritable_directory(tmp_path)
    try:
        status, out, err = run_cli(
            ["--dataset", str(SAMPLE), *SMALL, "--out", str(target), "--cache-dir", str(tmp_path / "cache")], capsys
        )
    finally:
        (tmp_path / "locked").chmod(0o700)
    assert_one_clear_line(status, out, err, "cannot write to output directory", str(target))
    assert not target.exists()


def test_unwritable_cache_directory(tmp_path, capsys):
    target = unwritable_directory(tmp_path)
    try:
        status, out, err = run_cli(
            ["--dataset", str(SAMPLE), *SMALL, "--out", str(tmp_path / "run"), "--cache-dir", str(target)], capsys
        )
    finally:
        (tmp_path / "locked").chmod(0o700)
    assert_one_clear_line(status, out, err, str(target))
    assert files_under(tmp_path / "run") == []


# -- a corrupted cache entry ------------------------------------------------------------------------------
def corrupt_some_entries(cache_dir: Path) -> list[str]:
    """Damage three entries three ways: not JSON, an edited answer, another key's entry moved in."""
    with diskcache.Cache(str(cache_dir)) as raw, ResponseCache(cache_dir) as cache:
        keys = cache.keys()
        victims = [keys[0], keys[len(keys) // 2], keys[-1]]
        edited = json.loads(raw.get(victims[1]))
        edited["record"]["response"]["choices"][0]["message"]["content"] = "[[ ## response ## ]]\nhijacked"
        moved = raw.get(keys[1])
        cache.raw_set(victims[0], "{ not json")
        cache.raw_set(victims[1], json.dumps(edited))
        cache.raw_set(victims[2], moved)
    return victims


@pytest.fixture
def damaged_cache(reference, tmp_path) -> tuple[Path, list[str]]:
    cache_dir = tmp_path / "damaged-cache"
    shutil.copytree(reference.results["config"]["cache_dir"], cache_dir)
    return cache_dir, corrupt_some_entries(cache_dir)


def reference_flags(cache_dir: Path, out: Path) -> list[str]:
    return ["--dataset", str(SAMPLE), *SMALL, "--cache-dir", str(cache_dir), "--out", str(out)]


def test_corrupted_entry_stops_replay_with_one_line(damaged_cache, tmp_path, capsys):
    cache_dir, _ = damaged_cache
    status, out, err = run_cli([*reference_flags(cache_dir, tmp_path / "replay"), "--replay"], capsys)
    assert_one_clear_line(status, out, err, "corrupted cache entry")
    ledger = json.loads((tmp_path / "replay" / "ledger.json").read_text())  # complete, and written
    assert ledger["total"]["live_calls"] == 0
    assert not (tmp_path / "replay" / "optimized_program.json").exists()


def test_corrupted_entries_are_never_returned_but_fetched_again(damaged_cache, reference, harness, tmp_path, capsys):
    cache_dir, victims = damaged_cache
    status, out, err = run_cli(reference_flags(cache_dir, tmp_path / "run"), capsys)
    assert status == 0, err
    ledger = json.loads((tmp_path / "run" / "ledger.json").read_text())
    assert ledger["total"]["live_calls"] == len(victims)  # exactly the damaged answers were asked again
    results = json.loads((tmp_path / "run" / "optimization_results.json").read_text())
    assert harness.differing_keys(results, reference.results) == []
    assert (tmp_path / "run" / "optimized_program.json").read_bytes() == harness._program(reference)
    assert harness.cache_health(cache_dir) == (reference.ledger["total"]["live_calls"], 0)  # and repaired
