"""What a sweep tells: per cell, per group of seeds, middle against high, and the cost; ``sweep_results.json``.

Everything is read back from the cells' run directories (``optimization_results.json``,
``evaluations.json``, ``ledger.json``, ``cell.json``), so ``scripts/sweep.py report DIR`` gives the
same file as the sweep that wrote the cells, and the shards of a sweep spread over machines can be
gathered by whichever finishes last. Results are read through ``RunView``, which asks for each
figure where the current format keeps it and tolerates what older or newer runs leave out.

Units: scores and improvements are composite points on the 0-100 scale (``EvaluationResult.percent``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.data import DEFAULT_SUBSET
from evaluation.stats import (
    DEFAULT_SEED,
    bootstrap_mean_ci,
    paired_bootstrap_ci,
    spread,
    welch_difference,
)
from optimizer.artifacts import write_json, write_text
from optimizer.sweep.grid import SEED_AXIS, Cell, Grid

RESULTS_FILE = "sweep_results.json"
REPORT_FILE = "sweep_report.html"
RESULTS_VERSION = 1
PERCENT = 100.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _count(value: Any) -> int:
    """A failure count, whether stored as a number or as a mapping of counts per kind."""
    if isinstance(value, Mapping):
        return sum(_count(v) for v in value.values())
    number = _number(value)
    return int(number) if number is not None else 0


class RunView:
    """One run's ``optimization_results.json``, read tolerantly: a missing figure is None, never an error."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def _split(self, split: str) -> Mapping[str, Any]:
        block = self.data.get(split)
        return block if isinstance(block, Mapping) else {}

    def score(self, split: str, program: str) -> float | None:
        """The split's composite score of ``program`` ("baseline" or "optimized")."""
        value = _number(self._split(split).get(program))
        if value is None and split == "dev":  # the seed's keys hold the dev scores too
            value = _number(self.data.get(f"{program}_score"))
        return value

    def improvement(self, split: str) -> float | None:
        value = _number(self._split(split).get("improvement"))
        if value is None:
            base, opt = self.score(split, "baseline"), self.score(split, "optimized")
            value = None if base is None or opt is None else round(opt - base, 2)
        return value

    def test_interval(self) -> tuple[float | None, float | None]:
        """The paired bootstrap interval of the test improvement the run reported."""
        ci = (self._split("test").get("ci95") or {}).get("improvement") or {}
        return _number(ci.get("low")), _number(ci.get("high"))

    def gate(self) -> str | None:
        verdict = (self._split("test").get("gate") or {}).get("verdict")
        return verdict if isinstance(verdict, str) else None

    def gate_reasons(self) -> list[str]:
        reasons = (self._split("test").get("gate") or {}).get("reasons")
        return [str(r) for r in reasons] if isinstance(reasons, list) else []

    def winner(self) -> str | None:
        text = (self.data.get("optimized_signature") or {}).get("instructions")
        return text if isinstance(text, str) else None

    def failures(self, split: str) -> Any:
        """The split's failure counts as the run recorded them (per program, and per kind where it did)."""
        return self._split(split).get("failed")

    def subset(self) -> str:
        value = self.data.get("subset") or (self.data.get("config") or {}).get("subset")
        return value if isinstance(value, str) else DEFAULT_SUBSET

    def seed(self) -> int:
        value = self.data.get("seed")
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_SEED

    def backend(self) -> str | None:
        value = self.data.get("backend")
        return value if isinstance(value, str) else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _composites(records: Any) -> list[float | None]:
    """Per example, the composite (0-1) as the run scored it; None where the example has no score."""
    if not isinstance(records, list):
        return []
    return [_number(r.get("composite")) if isinstance(r, Mapping) else None for r in records]


def _interval(mean: float, low: float, high: float, n: int) -> dict[str, Any]:
    def pp(value: float) -> float | None:
        return None if math.isnan(value) else round(PERCENT * value, 2)

    return {"mean": pp(mean), "ci95": None if n == 0 else [pp(low), pp(high)], "n": n}


def _split_block(view: RunView, evaluations: Mapping[str, Any], split: str, seed: int) -> dict[str, Any] | None:
    base, opt = view.score(split, "baseline"), view.score(split, "optimized")
    if base is None and opt is None:
        return None
    block: dict[str, Any] = {
        "baseline": base,
        "optimized": opt,
        "improvement": view.improvement(split),
        "failed": view.failures(split),
    }
    base_values = _composites(evaluations.get(f"baseline_{split}"))
    opt_values = _composites(evaluations.get(f"optimized_{split}"))
    # Each score's own interval: a percentile bootstrap of its mean over the split's examples.
    for program, values in (("baseline", base_values), ("optimized", opt_values)):
        if values:
            block[f"{program}_ci95"] = _interval(*bootstrap_mean_ci(values, seed=seed))["ci95"]
    if split == "test":
        low, high = view.test_interval()
        block["improvement_ci95"] = None if low is None else [low, high]
        block["gate"] = view.gate()
        block["gate_reasons"] = view.gate_reasons()
    elif base_values and len(base_values) == len(opt_values):
        paired = paired_bootstrap_ci(base_values, opt_values, seed=seed)
        block["improvement_ci95"] = _interval(paired.mean_diff, paired.low, paired.high, paired.n_pairs)["ci95"]
    return block


def _cost(ledger: Any) -> dict[str, Any] | None:
    total = (ledger or {}).get("total") if isinstance(ledger, Mapping) else None
    if not isinstance(total, Mapping):
        return None
    return {
        "cost_usd": _number(total.get("cost_usd")),
        "cost_known": bool(total.get("cost_known", True)),
        "saved_usd": _number(total.get("saved_usd")),
        "live_calls": _count(total.get("live_calls")),
        "cached_calls": _count(total.get("cached_calls")),
        "prompt_tokens": _count(total.get("prompt_tokens")),
        "completion_tokens": _count(total.get("completion_tokens")),
    }


def cell_record(run_dir: Path, cell: Cell) -> dict[str, Any]:
    """Everything the sweep reports about one cell, read from its run directory."""
    state = _read_json(run_dir / "cell.json") or {}
    results = _read_json(run_dir / "optimization_results.json")
    status = state.get("status") if isinstance(state, Mapping) else None
    finished = status == "finished" and isinstance(results, Mapping)
    record: dict[str, Any] = {
        "name": cell.name,
        "values": dict(cell.values),
        "status": status if status in ("finished", "failed", "running") else "pending",
        "dir": str(Path(run_dir.parent.name) / run_dir.name),  # relative to the sweep directory
    }
    if isinstance(state, Mapping) and state.get("error"):
        record["error"] = str(state["error"]).strip().splitlines()[-1]
    if isinstance(state, Mapping) and _number(state.get("wall_s")) is not None:
        record["wall_s"] = state["wall_s"]
    cost = _cost(_read_json(run_dir / "ledger.json"))
    if cost is not None:
        record["cost"] = cost
    if not finished:
        record["status"] = "running" if status == "running" else record["status"]
        return record
    view = RunView(results)
    evaluations = _read_json(run_dir / "evaluations.json") or {}
    record["status"] = "finished"
    record["subset"] = view.subset()
    record["seed"] = view.seed()
    record["backend"] = view.backend()
    record["dev"] = _split_block(view, evaluations, "dev", view.seed())
    record["test"] = _split_block(view, evaluations, "test", view.seed())
    record["winner"] = view.winner()
    return record


# -- groups and comparisons -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Group:
    values: tuple[tuple[str, str], ...]
    cells: tuple[dict[str, Any], ...]


def _groups(grid: Grid, records: Mapping[str, dict[str, Any]]) -> list[_Group]:
    order: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
    for cell in grid.cells:
        order.setdefault(cell.group, []).append(records[cell.name])
    return [_Group(values, tuple(cells)) for values, cells in order.items()]


def _test_values(cells: Sequence[dict[str, Any]], key: str) -> list[float]:
    found = []
    for cell in cells:
        value = _number(((cell.get("test") or {}) if cell.get("status") == "finished" else {}).get(key))
        if value is not None:
            found.append(value)
    return found


def group_summary(group: _Group) -> dict[str, Any]:
    """Across the seeds of one group: the test improvement's spread, the gate's promote rate, the winners."""
    finished = [c for c in group.cells if c.get("status") == "finished"]
    with_test = [c for c in finished if c.get("test")]
    improvements = _test_values(with_test, "improvement")
    verdicts = [c["test"].get("gate") for c in with_test if c["test"].get("gate")]
    winners: dict[str, list[str]] = {}
    for cell in finished:
        if cell.get("winner") is not None:
            winners.setdefault(cell["winner"], []).append(cell["name"])
    ranked = sorted(winners.items(), key=lambda item: (-len(item[1]), item[0]))
    return {
        "values": dict(group.values),
        "cells": [c["name"] for c in group.cells],
        "seeds": [c.get("values", {}).get(SEED_AXIS) for c in group.cells],
        "finished": len(finished),
        "test_improvement": spread(improvements).as_dict(),
        "test_baseline": spread(_test_values(with_test, "baseline")).as_dict(),
        "test_optimized": spread(_test_values(with_test, "optimized")).as_dict(),
        "promoted": sum(v == "promote" for v in verdicts),
        "gated": len(verdicts),
        "promote_rate": round(sum(v == "promote" for v in verdicts) / len(verdicts), 4) if verdicts else None,
        "winners": {
            "distinct": len(winners),
            "same": len(winners) == 1 and len(finished) > 1,
            "ranked": [{"instruction": text, "cells": names} for text, names in ranked],
        },
    }


def subset_comparison(grid: Grid, groups: Sequence[_Group]) -> list[dict[str, Any]]:
    """For each setting of the other axes that ran both subsets: middle, high and high − middle, over seeds."""
    by_rest: dict[tuple[tuple[str, str], ...], dict[str, _Group]] = {}
    for group in groups:
        values = dict(group.values)
        subset = values.pop("subset", None)
        if subset is None:
            continue
        by_rest.setdefault(tuple(values.items()), {})[subset] = group
    comparisons = []
    for rest, subsets in by_rest.items():
        if "middle" not in subsets or "high" not in subsets:
            continue
        middle, high = subsets["middle"].cells, subsets["high"].cells
        sides = {}
        for name, cells in (("middle", middle), ("high", high)):
            sides[name] = {
                "test_improvement": spread(_test_values(cells, "improvement")).as_dict(),
                "test_baseline": spread(_test_values(cells, "baseline")).as_dict(),
                "test_optimized": spread(_test_values(cells, "optimized")).as_dict(),
            }
        comparisons.append(
            {
                "values": dict(rest),
                **sides,
                "improvement_high_minus_middle": welch_difference(
                    _test_values(middle, "improvement"), _test_values(high, "improvement")
                ),
                "optimized_high_minus_middle": welch_difference(
                    _test_values(middle, "optimized"), _test_values(high, "optimized")
                ),
            }
        )
    return comparisons


def cost_summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    costs = [r["cost"] for r in records if r.get("cost")]
    total = {
        "cost_usd": round(sum(c["cost_usd"] or 0.0 for c in costs), 6),
        "cost_known": all(c["cost_known"] for c in costs),
        "saved_usd": round(sum(c["saved_usd"] or 0.0 for c in costs), 6),
    }
    for key in ("live_calls", "cached_calls", "prompt_tokens", "completion_tokens"):
        total[key] = sum(c[key] for c in costs)
    return {"total": total, "cells_with_ledger": len(costs)}


def sweep_results(out: Path, grid: Grid) -> dict[str, Any]:
    """The content of ``sweep_results.json`` for the cells of ``grid`` under ``out``."""
    from optimizer.sweep.runner import cell_dir

    records = {cell.name: cell_record(cell_dir(out, cell), cell) for cell in grid.cells}
    groups = _groups(grid, records)
    counts: dict[str, int] = {}
    for record in records.values():
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return {
        "version": RESULTS_VERSION,
        "sweep": {
            "digest": grid.digest(),
            "axes": {axis.option: list(axis.values) for axis in grid.axes},
            "options": list(grid.options),
            "cells": len(grid.cells),
            "status": counts,
        },
        "units": "composite points, 0-100; intervals are 95%",
        "methods": {
            "score_ci95": "percentile bootstrap of the mean composite over the split's examples (2000 resamples)",
            "test_improvement_ci95": "the run's paired percentile bootstrap over the test examples",
            "dev_improvement_ci95": "paired percentile bootstrap over the dev examples",
            "across_seeds": "mean, sample standard deviation and Student t interval of the mean over the seeds",
            "high_minus_middle": "difference of the means over seeds with Welch's t interval",
        },
        "cells": [records[cell.name] for cell in grid.cells],
        "groups": [group_summary(group) for group in groups],
        "subset_comparison": subset_comparison(grid, groups),
        "cost": cost_summary(list(records.values())),
    }


def write_sweep_results(out: Path, grid: Grid) -> dict[str, Any]:
    """Write ``sweep_results.json`` and ``sweep_report.html`` (atomically) and return the results."""
    from optimizer.sweep.report import render_sweep_report

    results = sweep_results(out, grid)
    write_json(out / RESULTS_FILE, results)
    page = render_sweep_report(results)
    write_text(out / REPORT_FILE, page)
    return results
