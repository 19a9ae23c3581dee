"""How well the LLM judge agrees with the dataset's human labels, on rows the optimizer never used.

The pieces: ``calibration_rows`` picks the held-aside rows (those ``prepare_splits`` would not put
in train/dev/test for the same seed and sizes), ``judge_rows`` scores them with an ``Evaluator``,
and ``agreement``/``calibration_report`` compare judge and human scores per attribute: exact match,
within one point, Spearman's rank correlation (average ranks for ties), mean absolute error and
the 5×5 confusion matrix. ``format_report`` renders the text table. Only ``judge_rows`` does I/O
(through the gateway); the rest are pure functions.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evaluation.data import (
    DEFAULT_SUBSET,
    SHIPPED_SAMPLE,
    DataError,
    LoadedData,
    Row,
    is_adversarial,
    normalise_prompt,
    prepare_splits,
    subset_helpfulness,
    subset_label,
)
from evaluation.engine import Evaluator, JudgeFailure, JudgeScores
from evaluation.signatures import ATTRIBUTES

SCORES = range(5)
SYNTHETIC_NOTE = (
    "the labels of the shipped sample are synthetic (set by a fixed rule, not by human raters): "
    "agreement here shows the pipeline working, not how good the judge is on HelpSteer2"
)


def origin_filtered_out(subset: str) -> str:
    """Why a row of another helpfulness than ``subset`` keeps was not used ("helpfulness outside 2-3 ...")."""
    return f"helpfulness outside {subset_label(subset).removeprefix('helpfulness ')} (filtered out)"


# Why a row was not in the optimization splits, in the order the data pipeline drops rows.
ORIGIN_HELPFULNESS = origin_filtered_out(DEFAULT_SUBSET)
ORIGIN_ADVERSARIAL = "adversarial prompt (filtered out)"
ORIGIN_UNSAMPLED = "prompt not sampled into train/dev/test"
ORIGIN_ANY = "any row (the dataset is too small for the splits, so no row was held out by them)"


# -- rank statistics ----------------------------------------------------------------------------------
def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span (``[5, 1, 5]`` → ``[2.5, 1, 2.5]``)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2.0 + 1.0
        for position in range(start, end + 1):
            ranks[order[position]] = shared
        start = end + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r, or None when it is undefined (fewer than two points, or a constant side)."""
    if len(x) != len(y):
        raise ValueError(f"lists differ in length: {len(x)} vs {len(y)}")
    n = len(x)
    if n < 2:
        return None
    mean_x, mean_y = math.fsum(x) / n, math.fsum(y) / n
    dx = [v - mean_x for v in x]
    dy = [v - mean_y for v in y]
    sxx, syy = math.fsum(d * d for d in dx), math.fsum(d * d for d in dy)
    if sxx == 0.0 or syy == 0.0:
        return None
    r = math.fsum(a * b for a, b in zip(dx, dy, strict=True)) / math.sqrt(sxx * syy)
    return max(-1.0, min(1.0, r))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's r of the average ranks (correct with ties, unlike 1 − 6Σd²/(n(n²−1)))."""
    return pearson(average_ranks(x), average_ranks(y))


def confusion_matrix(human: Sequence[int], judge: Sequence[int]) -> list[list[int]]:
    """5×5 counts: ``matrix[h][j]`` is the number of items the humans scored h and the judge j."""
    if len(human) != len(judge):
        raise ValueError(f"lists differ in length: {len(human)} vs {len(judge)}")
    matrix = [[0] * len(SCORES) for _ in SCORES]
    for h, j in zip(human, judge, strict=True):
        if h not in SCORES or j not in SCORES:
            raise ValueError(f"scores must be integers 0-4, got human {h!r} and judge {j!r}")
        matrix[h][j] += 1
    return matrix


@dataclass(frozen=True)
class AttributeAgreement:
    """Judge-versus-human agreement on one attribute."""

    attribute: str
    n: int
    exact: float | None  # share of items with the same score
    within_one: float | None  # share with |judge − human| ≤ 1
    spearman: float | None
    mae: float | None
    human_mean: float | None
    judge_mean: float | None
    confusion: list[list[int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def number(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "n": self.n,
            "exact": number(self.exact),
            "within_one": number(self.within_one),
            "spearman": number(self.spearman),
            "mae": number(self.mae),
            "human_mean": number(self.human_mean),
            "judge_mean": number(self.judge_mean),
            "confusion": [list(row) for row in self.confusion],
        }


def agreement(attribute: str, human: Sequence[int], judge: Sequence[int]) -> AttributeAgreement:
    """Agreement statistics of paired human and judge scores (0–4) on one attribute."""
    matrix = confusion_matrix(human, judge)
    n = len(human)
    if n == 0:
        return AttributeAgreement(attribute, 0, None, None, None, None, None, None, matrix)
    gaps = [abs(h - j) for h, j in zip(human, judge, strict=True)]
    return AttributeAgreement(
        attribute=attribute,
        n=n,
        exact=sum(g == 0 for g in gaps) / n,
        within_one=sum(g <= 1 for g in gaps) / n,
        spearman=spearman(human, judge),
        mae=sum(gaps) / n,
        human_mean=sum(human) / n,
        judge_mean=sum(judge) / n,
        confusion=matrix,
    )


# -- choosing the rows --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CalibrationSelection:
    """The rows to judge, and where they came from."""

    rows: list[Row]
    origins: dict[str, int]  # origin label -> rows chosen from it
    available: int  # rows eligible before sampling
    requested: int
    description: str


def _origin(row: Row, subset: str) -> str:
    if row.helpfulness not in subset_helpfulness(subset):
        return origin_filtered_out(subset)
    if is_adversarial(row.prompt):
        return ORIGIN_ADVERSARIAL
    return ORIGIN_UNSAMPLED


def calibration_rows(
    loaded: LoadedData,
    *,
    n: int,
    seed: int = 42,
    train_size: int = 160,
    dev_size: int = 40,
    test_size: int = 100,
    subset: str = DEFAULT_SUBSET,
) -> CalibrationSelection:
    """Up to ``n`` rows whose prompts would not be in train/dev/test for this seed, these sizes and this subset.

    A row is excluded when its (normalised) prompt is in any split, so a second response to an
    optimization prompt is excluded too. The rows left are those the pipeline filtered out (helpfulness
    outside the subset, e.g. 0, 1 or 4 for ``middle``; adversarial prompts) and the unique prompts it
    did not sample. They are sampled with ``random.Random(seed)`` from a canonical order, so the choice
    does not depend on the file's row order. When the dataset is too small for the splits,
    ``optimize.py`` with those sizes could not run on it, and every row is eligible (the description
    says so).
    """
    if n < 1:
        raise DataError(f"--n must be at least 1, got {n}")
    subset_helpfulness(subset)  # an unknown subset is the user's error, not a dataset too small
    sizes = f"seed {seed}, train/dev/test {train_size}/{dev_size}/{test_size}"
    if subset != DEFAULT_SUBSET:
        sizes += f", subset {subset}"
    try:
        splits = prepare_splits(
            loaded, seed=seed, train_size=train_size, dev_size=dev_size, test_size=test_size, subset=subset
        )
    except DataError:
        eligible = list(loaded.rows)
        origin_of = {id(row): ORIGIN_ANY for row in eligible}
        context = f"the dataset cannot fill train/dev/test at {sizes}; every row was eligible"
    else:
        used = {normalise_prompt(row.prompt) for name in ("train", "dev", "test") for row in splits.split(name)}
        eligible = [row for row in loaded.rows if normalise_prompt(row.prompt) not in used]
        origin_of = {id(row): _origin(row, subset) for row in eligible}
        context = f"rows outside the optimization splits ({sizes})"
    if not eligible:
        raise DataError(
            f"no rows are left outside the optimization splits ({sizes}); "
            "pass the smaller sizes of your run or a larger dataset"
        )
    # Canonical order first (by content hash), then a seeded sample: independent of file order.
    eligible.sort(key=lambda row: hashlib.sha256(row.to_json().encode("utf-8")).hexdigest())
    chosen = eligible if len(eligible) <= n else random.Random(seed).sample(eligible, n)
    origins: dict[str, int] = {}
    for row in chosen:
        origins[origin_of[id(row)]] = origins.get(origin_of[id(row)], 0) + 1
    short = "" if len(eligible) >= n else f" (only {len(eligible)} eligible, fewer than the {n} asked for)"
    breakdown = ", ".join(f"{count} {label}" for label, count in sorted(origins.items()))
    description = f"{len(chosen)} {context}{short}: {breakdown}"
    return CalibrationSelection(chosen, origins, len(eligible), n, description)


def is_shipped_sample(loaded: LoadedData) -> bool:
    """True for the shipped synthetic sample: the hub fallback, or a file with the same bytes."""
    if loaded.used_shipped_sample:
        return True
    try:
        return loaded.fingerprint == hashlib.sha256(SHIPPED_SAMPLE.read_bytes()).hexdigest()
    except OSError:
        return False


# -- judging ------------------------------------------------------------------------------------------
async def judge_rows(evaluator: Evaluator, rows: Sequence[Row]) -> list[JudgeScores | str]:
    """Judge every row's own (prompt, response) at once; a row the judge cannot score gives its reason.

    The gateway bounds the calls in flight. Results come back in row order. Errors that end a run
    (budget, replay miss, credentials) propagate.
    """

    async def one(row: Row) -> JudgeScores | str:
        try:
            return await evaluator.judge(row.prompt, row.response)
        except JudgeFailure as exc:
            return str(exc)

    tasks = [asyncio.ensure_future(one(row)) for row in rows]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def calibration_report(
    rows: Sequence[Row],
    judged: Sequence[JudgeScores | str],
    *,
    source: str,
    selection: str,
    synthetic: bool,
    judge: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON-ready agreement report; rows the judge failed on are counted and left out."""
    if len(rows) != len(judged):
        raise ValueError(f"{len(rows)} rows but {len(judged)} judge results")
    scored = [(row, result) for row, result in zip(rows, judged, strict=True) if isinstance(result, JudgeScores)]
    failures = [result for result in judged if isinstance(result, str)]
    attributes = {
        attribute: agreement(
            attribute,
            [getattr(row, attribute) for row, _ in scored],
            [result.scores[attribute] for _, result in scored],
        ).as_dict()
        for attribute in ATTRIBUTES
    }
    return {
        "source": source,
        "synthetic_labels": synthetic,
        "note": SYNTHETIC_NOTE if synthetic else None,
        "selection": selection,
        "judge": judge or {},
        "rows": len(rows),
        "judged": len(scored),
        "judge_failures": len(failures),
        "failure_reasons": sorted(set(failures))[:5],
        "confusion_axes": "confusion[human][judge], scores 0-4",
        "attributes": attributes,
    }


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else format(value, pattern)


def format_report(report: dict[str, Any]) -> str:
    """The report as a text table followed by one confusion matrix per attribute."""
    lines = [f"Judge calibration on {report['source']}"]
    judge = report.get("judge") or {}
    if judge:
        backend = " (simulated: the embedded LLM simulator)" if judge.get("backend") == "simulator" else ""
        lines.append(f"judge: {judge.get('model')}{backend}")
    if report["synthetic_labels"]:
        lines.append(f"NOTE: {report['note']}")
    lines.append(f"rows: {report['selection']}")
    lines.append(f"judged: {report['judged']} of {report['rows']}; judge failures: {report['judge_failures']}")
    for reason in report.get("failure_reasons", []):
        lines.append(f"  failure: {reason}")
    lines.append("")
    header = f"{'attribute':<12}{'n':>5}{'exact':>8}{'within 1':>10}{'spearman':>10}{'MAE':>7}{'human':>8}{'judge':>8}"
    lines += [header, "-" * len(header)]
    for attribute, stats in report["attributes"].items():
        lines.append(
            f"{attribute:<12}{stats['n']:>5}{_fmt(stats['exact'], '.0%'):>8}{_fmt(stats['within_one'], '.0%'):>10}"
            f"{_fmt(stats['spearman'], '+.3f'):>10}{_fmt(stats['mae'], '.2f'):>7}"
            f"{_fmt(stats['human_mean'], '.2f'):>8}{_fmt(stats['judge_mean'], '.2f'):>8}"
        )
    if any(stats["spearman"] is None and stats["n"] for stats in report["attributes"].values()):
        lines.append("spearman n/a: the judge or the labels gave every row the same score (no ranking to compare)")
    lines += ["", "confusion matrices: rows are human scores 0-4, columns the judge's 0-4"]
    for attribute, stats in report["attributes"].items():
        lines.append(f"\n{attribute}")
        lines.append("        " + "".join(f"{'j' + str(j):>5}" for j in SCORES))
        for h, counts in enumerate(stats["confusion"]):
            lines.append(f"    h{h}  " + "".join(f"{c:>5}" for c in counts))
    return "\n".join(lines)
