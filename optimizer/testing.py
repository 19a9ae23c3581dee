"""The small run that tests and harnesses share: seconds on the embedded simulator, every phase exercised.

20 / 8 / 8 examples of the shipped sample, 3 instruction candidates, 3 trials. ``small_config`` is the
``RunConfig`` (the simulator answering in 1 ms), ``small_flags`` the same run as ``optimize.py`` flags,
``run_small`` runs it into a folder of its own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from evaluation.data import SHIPPED_SAMPLE
from optimizer.mipro.phased import SearchConfig
from optimizer.run import RunConfig, run_optimization

SMALL_TRAIN, SMALL_DEV, SMALL_TEST = 20, 8, 8
SMALL_CANDIDATES, SMALL_TRIALS = 3, 3


def small_config(**changes: Any) -> RunConfig:
    """The small run's configuration, with ``changes`` (any ``RunConfig`` field) applied."""
    config = RunConfig(
        dataset=str(SHIPPED_SAMPLE),
        train_size=SMALL_TRAIN,
        dev_size=SMALL_DEV,
        test_size=SMALL_TEST,
        search=SearchConfig(num_candidates=SMALL_CANDIDATES, num_trials=SMALL_TRIALS),
        sim_latency_ms=1.0,
    )
    return replace(config, **changes)


def small_flags(*extra: str, test_size: int = SMALL_TEST) -> list[str]:
    """The small run's data and search flags (no simulator latency: give it in ``extra``), then ``extra``."""
    return [
        "--dataset",
        str(SHIPPED_SAMPLE),
        "--train-size",
        str(SMALL_TRAIN),
        "--dev-size",
        str(SMALL_DEV),
        "--test-size",
        str(test_size),
        "--num-candidates",
        str(SMALL_CANDIDATES),
        "--num-trials",
        str(SMALL_TRIALS),
        *extra,
    ]


def run_small(
    tmp_path: Path, name: str, config: RunConfig | None = None, **changes: Any
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """The small run (or ``config``) with ``changes``, into ``tmp_path / name`` with its cache beside it
    (``cache-<name>``): its run directory, results and ledger."""
    base = config if config is not None else small_config()
    outcome = run_optimization(replace(base, out_dir=tmp_path / name, cache_dir=tmp_path / f"cache-{name}", **changes))
    if outcome.run_dir is None:
        raise AssertionError(f"the run {name!r} wrote no run directory (a dry run?)")
    return outcome.run_dir, outcome.results, outcome.ledger
