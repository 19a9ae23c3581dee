"""A sweep's grid: axes of ``optimize.py`` options, and the cells they make, each a standalone run's flags.

A cell is exactly the run ``python scripts/optimize.py <its flags>`` makes: its flags are the
sweep's common options followed by its own axis values, and its ``RunConfig`` is parsed from them by
``optimize.py``'s own parser. The grid comes from flags (``--seeds 1,2,3 --subsets middle,high
--models A,B``) or from a TOML file::

    [grid]                     # every combination is a cell; keys are optimize.py flags without "--"
    seed = [1, 2, 3]
    subset = ["middle", "high"]
    model = ["simulator"]
    sizes = ["160/40/100"]     # train/dev/test sizes together

    [options]                  # flags of every cell
    num-trials = 10
    minibatch = false          # a switch: true gives the flag, false leaves it out

    [sweep]                    # the sweep's own settings (flags of the same name win)
    out = "sweeps/seeds-x-subsets"
    max-cost = 40
    parallel = 6

Cells are listed in a fixed order (the axes' product, seed innermost), named after their values
(``subset-high_seed-2``), and shared out among shards round-robin (``--shard I/N``: cells I, I+N,
I+2N, ...), so every shard of a job array computes the same list and takes a disjoint share.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Axis flags of the sweep's command line and the optimize.py option each varies.
AXIS_FLAGS: dict[str, str] = {
    "subsets": "subset",
    "models": "model",
    "prompt-models": "prompt-model",
    "judge-models": "judge-model",
    "num-candidates": "num-candidates",
    "num-trials": "num-trials",
    "sizes": "sizes",
    "seeds": "seed",
}
AXIS_ORDER = tuple(AXIS_FLAGS.values())  # the order of the command line's axes; seed innermost
SEED_AXIS = "seed"
SIZES_AXIS = "sizes"  # "train/dev/test" sizes of one cell
# Options that shape the one gateway (and simulator) all cells share: the same for every cell.
SHARED_OPTIONS = frozenset(
    {
        "concurrency",
        "cache-dir",
        "replay",
        "no-cache",
        "refresh",
        "rpm",
        "tpm",
        "max-wait-s",
        "transport",
        "sim-latency-ms",
    }
)
# Options that belong to the sweep as a whole, never to one cell.
# (The Redis URL is the sweep's so that its password, if any, never lands in a cell's flags or files.)
SWEEP_OPTIONS = frozenset(
    {"out", "max-cost", "dry-run", "quiet", "log-json", "optuna-storage", "redis-url", "budget-name"}
)
# The keys of [sweep].
SWEEP_SETTINGS = frozenset({"out", "max-cost", "parallel", "optuna-storage", "redis-url", "budget-name"})


class GridError(Exception):
    """A sweep's grid or options are wrong; the message is one line for the user."""


@dataclass(frozen=True)
class Axis:
    """One optimize.py option (without ``--``) and the values the sweep gives it."""

    option: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One run of the sweep: its name (its directory under ``cells/``), axis values and optimize.py flags."""

    name: str
    values: tuple[tuple[str, str], ...]  # (option, value), in axis order
    flags: tuple[str, ...]  # the flags of ``scripts/optimize.py`` for this run, without --out

    def value(self, option: str) -> str | None:
        return dict(self.values).get(option)

    @property
    def group(self) -> tuple[tuple[str, str], ...]:
        """Its values other than the seed: cells that differ only in the seed form a group."""
        return tuple((option, value) for option, value in self.values if option != SEED_AXIS)

    def command(self, out: Path) -> list[str]:
        """The standalone command that makes the same run into ``out``."""
        return ["python", "scripts/optimize.py", *self.flags, "--out", str(out)]


@dataclass(frozen=True)
class Grid:
    axes: tuple[Axis, ...]
    options: tuple[str, ...]  # flags common to every cell (optimize.py's), before each cell's own
    cells: tuple[Cell, ...]

    def digest(self) -> str:
        """A short hash of what the cells run (their names and flags): equal for every shard of one sweep."""
        data = json.dumps([[c.name, list(c.flags)] for c in self.cells], separators=(",", ":"))
        return hashlib.sha256(data.encode("utf-8")).hexdigest()[:12]

    def as_dict(self) -> dict[str, Any]:
        return {
            "axes": {axis.option: list(axis.values) for axis in self.axes},
            "options": list(self.options),
            "cells": [{"name": c.name, "values": dict(c.values), "flags": list(c.flags)} for c in self.cells],
            "digest": self.digest(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grid:
        """The grid ``as_dict`` wrote (a sweep directory's ``sweep.json``); GridError if it is not one."""
        try:
            axes = tuple(Axis(str(k), tuple(str(v) for v in values)) for k, values in data["axes"].items())
            cells = tuple(
                Cell(
                    str(c["name"]), tuple((str(k), str(v)) for k, v in c["values"].items()), tuple(map(str, c["flags"]))
                )
                for c in data["cells"]
            )
            return cls(axes, tuple(str(o) for o in data["options"]), cells)
        except (KeyError, TypeError, AttributeError) as exc:
            raise GridError(f"not a sweep description (missing or malformed {exc})") from None


# -- reading the grid ---------------------------------------------------------------------------------
def split_list(text: str, *, flag: str) -> tuple[str, ...]:
    """``"1, 2,3"`` -> ``("1", "2", "3")``; empty items and repeats are the user's mistake."""
    values = tuple(item.strip() for item in text.split(","))
    if not values or any(not v for v in values):
        raise GridError(f"--{flag}: expected a comma-separated list, got {text!r}")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise GridError(f"--{flag}: {', '.join(repeated)} given more than once")
    return values


def read_toml(path: Path) -> dict[str, Any]:
    """The ``[grid]``, ``[options]`` and ``[sweep]`` tables of a sweep file (GridError if unreadable)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GridError(f"no such sweep file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GridError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GridError(f"{path}: invalid TOML: {exc}") from None
    unknown = sorted(set(data) - {"grid", "options", "sweep"})
    if unknown:
        raise GridError(f"{path}: unknown table(s) {', '.join(unknown)} (expected [grid], [options], [sweep])")
    for table in ("grid", "options", "sweep"):
        if not isinstance(data.get(table, {}), dict):
            raise GridError(f"{path}: [{table}] must be a table")
    grid = data.get("grid", {})
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise GridError(f"{path}: [grid] {key} must be a non-empty list")
        texts = [_toml_text(path, f"[grid] {key}", v) for v in values]
        if len(set(texts)) != len(texts):
            raise GridError(f"{path}: [grid] {key} lists a value more than once")
    unknown_settings = sorted(set(data.get("sweep", {})) - SWEEP_SETTINGS)
    if unknown_settings:
        expected = ", ".join(sorted(SWEEP_SETTINGS))
        raise GridError(f"{path}: unknown [sweep] setting(s) {', '.join(unknown_settings)} (expected {expected})")
    return data


def _toml_text(path: Path, where: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise GridError(f"{path}: {where}: expected text or numbers, got {value!r}")
    return str(value)


def option_flags(options: Mapping[str, Any], *, source: str) -> list[str]:
    """``{"num-trials": 10, "minibatch": True}`` -> ``["--num-trials", "10", "--minibatch"]``."""
    flags: list[str] = []
    for key, value in options.items():
        if key in SWEEP_OPTIONS:
            raise GridError(f"{source}: {key} belongs in [sweep] or on the command line, not in [options]")
        if isinstance(value, bool):
            if value:
                flags.append(f"--{key}")
        elif isinstance(value, (str, int, float)):
            flags.extend([f"--{key}", str(value)])
        else:
            raise GridError(f"{source}: [options] {key}: expected text, a number or true/false, got {value!r}")
    return flags


def _value_flags(option: str, value: str) -> list[str]:
    if option != SIZES_AXIS:
        return [f"--{option}", value]
    parts = value.split("/")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise GridError(f"sizes: expected train/dev/test like 160/40/100, got {value!r}")
    train, dev, test = (p.strip() for p in parts)
    return ["--train-size", train, "--dev-size", dev, "--test-size", test]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.") or "x"


def _flags_named(tokens: Sequence[str]) -> set[str]:
    return {t[2:].split("=", 1)[0] for t in tokens if t.startswith("--")}


def build_grid(axes: Sequence[Axis], options: Sequence[str]) -> Grid:
    """The cells of ``axes`` (each value of each axis with each of the others) over the common ``options``.

    An axis of one value is a common option. An option may not be both an axis and a common option,
    and the options every cell shares with the others through the one gateway (``SHARED_OPTIONS``)
    may not vary.
    """
    named = [axis.option for axis in axes]
    if len(set(named)) != len(named):
        raise GridError(f"an axis is given twice: {', '.join(sorted({n for n in named if named.count(n) > 1}))}")
    for axis in axes:
        if axis.option in SHARED_OPTIONS or axis.option in SWEEP_OPTIONS:
            raise GridError(f"{axis.option} cannot vary across cells: every cell shares the sweep's one gateway")
        if not axis.values:
            raise GridError(f"the {axis.option} axis has no values")
    given = _flags_named(options)
    sizes_flags = {"train-size", "dev-size", "test-size"}
    for axis in axes:
        clashes = (sizes_flags if axis.option == SIZES_AXIS else {axis.option}) & given
        if clashes:
            raise GridError(f"--{min(clashes)} is given as a fixed option and as the {axis.option} axis")
    # An "axis" of one value varies nothing: it is an option of every cell, and no part of the names.
    options = [*options, *(flag for a in axes if len(a.values) == 1 for flag in _value_flags(a.option, a.values[0]))]
    varying = [a for a in axes if len(a.values) > 1]
    # Seed innermost, so the seeds of one group are neighbours; the other axes keep their order.
    ordered = [a for a in varying if a.option != SEED_AXIS] + [a for a in varying if a.option == SEED_AXIS]
    cells: list[Cell] = []
    names: set[str] = set()
    for combination in itertools.product(*(axis.values for axis in ordered)):
        values = tuple((axis.option, value) for axis, value in zip(ordered, combination, strict=True))
        flags = list(options)
        for option, value in values:
            flags.extend(_value_flags(option, value))
        name = "_".join(f"{option}-{_slug(value)}" for option, value in values) or "run"
        if name in names:
            raise GridError(f"two cells would share the directory name {name!r}; give values that differ in letters")
        names.add(name)
        cells.append(Cell(name, values, tuple(flags)))
    return Grid(tuple(ordered), tuple(options), tuple(cells))


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (0 <= I < N) -> ``(I, N)``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise GridError(f"--shard: expected I/N (e.g. 0/4), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise GridError(f"--shard {text}: need 0 <= I < N")
    return index, count


def shard_cells(cells: Sequence[Cell], index: int, count: int) -> list[Cell]:
    """Shard ``index`` of ``count``: cells index, index + count, ... of the grid's fixed order."""
    return list(cells[index::count])
