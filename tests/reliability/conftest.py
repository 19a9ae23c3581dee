"""Fixtures for the reliability tests: the campaign harness, a fault-free reference run, refusal datasets.

The harness is ``bench/reliability.py`` (run by ``scripts/reliability_report.py``): the tests call the
same functions that print the figures of RELIABILITY.md, so what is recorded there is what is asserted here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from bench import reliability
from evaluation.data import Splits, load_rows, prepare_splits
from optimizer.run import RunOutcome
from simulator import CONTENT_FILTER_MARKER

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "evaluation" / "sample" / "helpsteer2_sample.jsonl"


@pytest.fixture(scope="session")
def harness() -> ModuleType:
    """The campaign harness, ``bench.reliability``."""
    return reliability


@pytest.fixture(scope="session")
def reference(harness: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    """The fault-free run of the small configuration on the embedded simulator (its cache is reusable:
    the embedded simulator's endpoint identity does not include its port)."""
    outcome: RunOutcome = harness.reference_run(tmp_path_factory.mktemp("reference"))
    return outcome


@pytest.fixture(autouse=True)
def restore_standard_logging() -> Iterator[None]:
    """``optimizer.cli.main`` points the root logger at the stderr of its moment; put it back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


RefusalDataset = Callable[..., tuple[Path, Splits]]


@pytest.fixture(scope="session")
def refusal_dataset() -> RefusalDataset:
    """Write a HelpSteer2 JSONL file whose first prompts of chosen splits carry the content-filter marker.

    Call it as ``refusal_dataset(directory, train=..., dev=..., test=..., refused={"dev": 1})``.
    Appending the marker keeps each prompt's place in the sorted pool the splits are drawn from, so
    the marked prompts stay in the splits they were chosen from; the returned splits prove it.
    """

    def build(
        directory: Path, *, train: int, dev: int, test: int, refused: dict[str, int], seed: int = 42
    ) -> tuple[Path, Splits]:
        rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()[:150]]
        path = directory / "refusals.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        plain = prepare_splits(load_rows(str(path)), seed=seed, train_size=train, dev_size=dev, test_size=test)
        chosen = {row.prompt for name, count in refused.items() for row in plain.split(name)[:count]}
        for row in rows:
            if row["prompt"] in chosen:
                row["prompt"] = f"{row['prompt']} {CONTENT_FILTER_MARKER}"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        splits = prepare_splits(load_rows(str(path)), seed=seed, train_size=train, dev_size=dev, test_size=test)
        for name in ("train", "dev", "test"):
            marked = sum(CONTENT_FILTER_MARKER in row.prompt for row in splits.split(name))
            assert marked == refused.get(name, 0), (name, marked)
        return path, splits

    return build
