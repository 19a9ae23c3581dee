"""Paired bootstrap confidence intervals of an improvement, and the release gate that reads them.

Everything here is a pure function of its inputs: no I/O, no clock, no global random state. The
resampling draws from ``random.Random(seed)``, whose Mersenne Twister stream is the same on every
platform, so an interval is reproducible bit for bit from the per-example scores and the seed.

Units. ``paired_bootstrap_ci`` keeps the units of its inputs. ``test_report`` (the JSON block of a
run's results) works in *percentage points*: the composite is 0–1 per example and is reported on
the 0–100 scale of ``EvaluationResult.percent``; each attribute's normalised 0–1 value
(``MetricWeights.normalised``) is reported the same way, so "+2.5" always means 2.5 points out of 100.

Failures (``evaluation/engine.py``). A candidate failure (the program's own output unusable) counts as
0, on the composite and on every attribute's normalised value, as the mean does; a judge failure
leaves its example out of the pair on both sides, so both programs are compared on the same examples.

Over 500 lines on purpose: pure functions around one paired bootstrap; the gate and the results block
read the intervals computed above them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from evaluation.metric import DEFAULT_WEIGHTS, MetricWeights
from evaluation.signatures import ATTRIBUTES

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 42
PERCENT = 100.0  # 0–1 values to percentage points


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval of the mean paired difference (optimized − baseline).

    ``mean_diff`` is the observed mean difference over the kept pairs; ``low``/``high`` are the
    percentile bounds. With no usable pair all three are NaN (``as_dict`` writes them as null).
    """

    mean_diff: float
    low: float
    high: float
    n_pairs: int
    dropped: int
    resamples: int
    confidence: float

    @property
    def defined(self) -> bool:
        return self.n_pairs > 0 and not math.isnan(self.mean_diff)

    def scaled(self, factor: float) -> Interval:
        """The same interval in other units (e.g. ×100 for percentage points)."""
        return Interval(
            self.mean_diff * factor,
            self.low * factor,
            self.high * factor,
            self.n_pairs,
            self.dropped,
            self.resamples,
            self.confidence,
        )

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        """JSON-ready fields; undefined bounds become None (JSON has no NaN)."""

        def number(value: float) -> float | None:
            return None if math.isnan(value) else round(value, digits)

        return {
            "mean_diff": number(self.mean_diff),
            "low": number(self.low),
            "high": number(self.high),
            "n_pairs": self.n_pairs,
            "dropped": self.dropped,
            "resamples": self.resamples,
            "confidence": self.confidence,
        }


def _check_options(resamples: int, confidence: float) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default 'linear' method)."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    weight = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * weight


def paired_bootstrap_ci(
    baseline: Sequence[float | None],
    optimized: Sequence[float | None],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Percentile bootstrap interval of mean(optimized[i] − baseline[i]) over the examples.

    Position ``i`` must be the same example in both lists. A pair where either side is None (the
    example failed) is dropped and counted in ``Interval.dropped``. Each resample draws the kept
    pairs with replacement, so the correlation between the two programs on one example is kept:
    that is what makes a paired interval much narrower than two independent ones.
    """
    if len(baseline) != len(optimized):
        raise ValueError(f"paired lists differ in length: {len(baseline)} baseline vs {len(optimized)} optimized")
    _check_options(resamples, confidence)
    diffs = [float(o) - float(b) for b, o in zip(baseline, optimized, strict=True) if b is not None and o is not None]
    dropped = len(baseline) - len(diffs)
    n = len(diffs)
    if n == 0:
        nan = math.nan
        return Interval(nan, nan, nan, 0, dropped, resamples, confidence)
    observed = math.fsum(diffs) / n
    rng = random.Random(seed)
    # rng.choices draws floor(random() * n) per item: one C call per draw, fast enough for
    # 2000 resamples of a few hundred pairs without numpy.
    # fsum is exact before its one rounding, so a resample of equal differences has exactly the
    # observed mean: a constant shift gives the degenerate interval [d, d], not d ± rounding noise.
    means = sorted(math.fsum(rng.choices(diffs, k=n)) / n for _ in range(resamples))
    alpha = 1.0 - confidence
    low, high = _quantile(means, alpha / 2.0), _quantile(means, 1.0 - alpha / 2.0)
    return Interval(observed, low, high, n, dropped, resamples, confidence)


def per_attribute_cis(
    baseline_scores: Sequence[Mapping[str, int] | None],
    optimized_scores: Sequence[Mapping[str, int] | None],
    *,
    weights: MetricWeights = DEFAULT_WEIGHTS,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Interval]:
    """Per attribute, the interval of the change in its normalised 0–1 value (``weights.normalised``).

    Inputs are per-example score dicts (None for a failed example), paired by position. Complexity
    and verbosity go through their peaked maps, so moving from 3 to 2 counts as an improvement.
    Every attribute uses the same seed, hence the same resampled examples as the composite.
    """
    if len(baseline_scores) != len(optimized_scores):
        raise ValueError(f"paired lists differ in length: {len(baseline_scores)} vs {len(optimized_scores)}")

    def values(scores: Sequence[Mapping[str, int] | None], attribute: str) -> list[float | None]:
        return [
            None if s is None or s.get(attribute) is None else weights.normalised(attribute, int(s[attribute]))
            for s in scores
        ]

    return {
        attribute: paired_bootstrap_ci(
            values(baseline_scores, attribute),
            values(optimized_scores, attribute),
            resamples=resamples,
            seed=seed,
            confidence=confidence,
        )
        for attribute in ATTRIBUTES
    }


def bootstrap_mean_ci(
    values: Sequence[float | None],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float, float, int]:
    """(mean, low, high, n): a percentile bootstrap interval of the mean of ``values`` (None left out).

    With no value all three numbers are NaN. The resampling is ``paired_bootstrap_ci``'s on the
    differences from zero, so both draw the same examples for the same seed.
    """
    kept = [float(v) for v in values if v is not None]
    interval = paired_bootstrap_ci([0.0] * len(kept), kept, resamples=resamples, seed=seed, confidence=confidence)
    return interval.mean_diff, interval.low, interval.high, interval.n_pairs


# -- across runs (seeds) -----------------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (df > 0, not necessarily whole)."""
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on the CDF)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if student_t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12:
            break
    return (low + high) / 2.0


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation and a Student-t interval of the mean of a few runs' figures.

    With one run the standard deviation and the interval are undefined (None). The interval
    treats the runs (e.g. seeds) as independent draws: it says where the mean over many seeds
    would likely be, not where one more seed's figure would fall.
    """

    n: int
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None
    confidence: float = DEFAULT_CONFIDENCE

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        def number(value: float | None) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "n": self.n,
            "mean": number(self.mean),
            "sd": number(self.sd),
            "ci95": None if self.low is None else [number(self.low), number(self.high)],
            "method": "Student t over runs",
        }


def spread(values: Sequence[float], *, confidence: float = DEFAULT_CONFIDENCE) -> Spread:
    """The ``Spread`` of ``values`` (one figure per run)."""
    n = len(values)
    if n == 0:
        return Spread(0, None, None, None, None, confidence)
    mean = math.fsum(values) / n
    if n == 1:
        return Spread(1, mean, None, None, None, confidence)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = student_t_quantile(1.0 - (1.0 - confidence) / 2.0, n - 1) * sd / math.sqrt(n)
    return Spread(n, mean, sd, mean - half, mean + half, confidence)


def welch_difference(
    first: Sequence[float], second: Sequence[float], *, confidence: float = DEFAULT_CONFIDENCE
) -> dict[str, Any]:
    """mean(second) − mean(first) with Welch's t interval (unequal variances); JSON-ready.

    Each side needs two values or more; the interval is None otherwise. When both sides have no
    spread at all the interval is the difference itself.
    """
    n1, n2 = len(first), len(second)
    result: dict[str, Any] = {"n": [n1, n2], "difference": None, "ci95": None, "df": None, "method": "Welch t"}
    if n1 == 0 or n2 == 0:
        return result
    m1, m2 = math.fsum(first) / n1, math.fsum(second) / n2
    diff = m2 - m1
    result["difference"] = round(diff, 4)
    if n1 < 2 or n2 < 2:
        return result
    v1 = math.fsum((v - m1) ** 2 for v in first) / (n1 - 1) / n1
    v2 = math.fsum((v - m2) ** 2 for v in second) / (n2 - 1) / n2
    if v1 + v2 == 0.0:
        result["ci95"] = [round(diff, 4), round(diff, 4)]
        return result
    df = (v1 + v2) ** 2 / ((v1 * v1) / (n1 - 1) + (v2 * v2) / (n2 - 1))
    half = student_t_quantile(1.0 - (1.0 - confidence) / 2.0, df) * math.sqrt(v1 + v2)
    result.update(ci95=[round(diff - half, 4), round(diff + half, 4)], df=round(df, 2))
    return result


# -- the release gate --------------------------------------------------------------------------------
@dataclass(frozen=True)
class GatePolicy:
    """When an optimized instruction may replace the baseline. All thresholds are percentage points.

    ``min_improvement``: the composite interval's lower bound must be strictly above it; at the
    default 0.0 the improvement must be distinguishable from no change at all.
    ``max_attribute_regression``: an attribute blocks promotion only when its whole interval lies
    below ``-max_attribute_regression`` (upper bound < −5 points by default, i.e. a clear loss of more
    than 0.05 on the normalised 0–1 scale, about one fifth of a rubric step). A small or uncertain
    dip does not block, because a 100-example judge panel cannot resolve a change that fine.
    ``min_pairs``: with fewer paired examples the percentile bootstrap badly under-covers, so the
    gate holds rather than trust it.
    """

    min_improvement: float = 0.0
    max_attribute_regression: float = 5.0
    min_pairs: int = 10

    def __post_init__(self) -> None:
        if not math.isfinite(self.min_improvement):
            raise ValueError("min_improvement must be a finite number of percentage points")
        if not math.isfinite(self.max_attribute_regression) or self.max_attribute_regression < 0:
            raise ValueError("max_attribute_regression must be a non-negative number of percentage points")
        if self.min_pairs < 1:
            raise ValueError("min_pairs must be at least 1")

    def as_dict(self) -> dict[str, Any]:
        return {
            "min_improvement_pp": self.min_improvement,
            "max_attribute_regression_pp": self.max_attribute_regression,
            "min_pairs": self.min_pairs,
        }


Verdict = Literal["promote", "hold"]


@dataclass(frozen=True)
class GateVerdict:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)

    @property
    def promote(self) -> bool:
        return self.verdict == "promote"


def _pp(value: float) -> str:
    return f"{value:+.2f} pp"


def release_gate(overall: Interval, per_attribute: Mapping[str, Interval], policy: GatePolicy) -> GateVerdict:
    """Promote only if the composite's interval clears ``min_improvement`` and no attribute clearly regresses.

    Intervals are in percentage points. The reasons always say why, for either verdict.
    """
    level = f"{overall.confidence:.0%}"
    blockers: list[str] = []
    if not overall.defined:
        blockers.append("no example was scored for both programs, so there is no interval to judge")
    elif overall.n_pairs < policy.min_pairs:
        blockers.append(
            f"only {overall.n_pairs} paired examples (the gate needs at least {policy.min_pairs}); "
            "too few for a trustworthy interval"
        )
    elif not overall.low > policy.min_improvement:
        blockers.append(
            f"composite change {_pp(overall.mean_diff)}, {level} CI [{_pp(overall.low)}, "
            f"{_pp(overall.high)}]: the lower bound does not clear {_pp(policy.min_improvement)}"
        )
    regressions = []
    for attribute, interval in per_attribute.items():
        if interval.defined and interval.high < -policy.max_attribute_regression:
            regressions.append(attribute)
            blockers.append(
                f"{attribute} clearly regressed: change {_pp(interval.mean_diff)}, {level} CI "
                f"[{_pp(interval.low)}, {_pp(interval.high)}] lies below "
                f"{_pp(-policy.max_attribute_regression)}"
            )
    if overall.dropped:
        note = (
            f"the judge failed on {overall.dropped} example(s) in one program or both; they were left out of the pairs"
        )
    else:
        note = ""
    if blockers:
        return GateVerdict("hold", blockers + ([note] if note else []))
    reasons = [
        (
            f"composite change {_pp(overall.mean_diff)} over {overall.n_pairs} paired examples, {level} CI "
            f"[{_pp(overall.low)}, {_pp(overall.high)}]: the lower bound clears {_pp(policy.min_improvement)}"
        ),
        (
            f"no attribute clearly regressed (every attribute's CI upper bound is at or above "
            f"{_pp(-policy.max_attribute_regression)})"
        ),
    ]
    return GateVerdict("promote", reasons + ([note] if note else []))


# -- the JSON block of a run's results --------------------------------------------------------------
_Record = Mapping[str, Any]


def _paired_records(
    baseline_examples: Sequence[_Record], optimized_examples: Sequence[_Record]
) -> list[tuple[_Record, _Record]]:
    """Match records by their ``index``; both programs must have been run on the same prompts."""

    def by_index(records: Sequence[Mapping[str, Any]], label: str) -> dict[int, Mapping[str, Any]]:
        table: dict[int, Mapping[str, Any]] = {}
        for position, record in enumerate(records):
            index = int(record.get("index", position))
            if index in table:
                raise ValueError(f"{label} examples repeat index {index}")
            table[index] = record
        return table

    base, opt = by_index(baseline_examples, "baseline"), by_index(optimized_examples, "optimized")
    if set(base) != set(opt):
        only = sorted(set(base) ^ set(opt))[:5]
        raise ValueError(f"baseline and optimized examples are not the same set (indices differ, e.g. {only})")
    pairs = []
    for index in sorted(base):
        b, o = base[index], opt[index]
        if "prompt" in b and "prompt" in o and b["prompt"] != o["prompt"]:
            raise ValueError(f"example {index} has a different prompt in the baseline and optimized results")
        pairs.append((b, o))
    return pairs


def _judge_failed(record: Mapping[str, Any]) -> bool:
    # Records written before failures had kinds leave every failed example out, as they were scored.
    return bool(record.get("failure")) and record.get("failure_kind") != "candidate"


def _composite_of(record: Mapping[str, Any]) -> float | None:
    """The example's composite (0–1): 0 for a candidate failure, None (left out) for a judge failure."""
    if _judge_failed(record):
        return None
    if record.get("failure"):
        return 0.0
    value = record.get("composite")
    return None if value is None else float(value)


def _attribute_of(record: Mapping[str, Any], attribute: str, weights: MetricWeights) -> float | None:
    """The example's normalised 0–1 value of ``attribute``, with failures treated as in ``_composite_of``."""
    if _judge_failed(record):
        return None
    if record.get("failure"):
        return 0.0
    scores = record.get("scores")
    if not isinstance(scores, Mapping) or scores.get(attribute) is None:
        return None
    return weights.normalised(attribute, int(scores[attribute]))


def _mean_pp(values: Sequence[float]) -> float | None:
    return round(PERCENT * math.fsum(values) / len(values), 4) if values else None


def test_report(
    baseline_examples: Sequence[Mapping[str, Any]],
    optimized_examples: Sequence[Mapping[str, Any]],
    *,
    seed: int = DEFAULT_SEED,
    policy: GatePolicy | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    weights: MetricWeights = DEFAULT_WEIGHTS,
) -> dict[str, Any]:
    """The test split's intervals and gate verdict, JSON-ready, from per-example records.

    Records are those of ``evaluations.json`` (``judged_as_dict``): ``index``, ``prompt``,
    ``scores``, ``composite`` (0–1), ``failure``. They are paired by ``index``. Every number in the
    result is in percentage points; ``baseline``/``optimized`` are the means over the kept pairs.
    """
    policy = policy or GatePolicy()
    pairs = _paired_records(baseline_examples, optimized_examples)
    base_composite = [_composite_of(b) for b, _ in pairs]
    opt_composite = [_composite_of(o) for _, o in pairs]
    overall = paired_bootstrap_ci(
        base_composite, opt_composite, resamples=resamples, seed=seed, confidence=DEFAULT_CONFIDENCE
    ).scaled(PERCENT)
    attributes: dict[str, Interval] = {}
    per_attribute: dict[str, Any] = {}
    for attribute in ATTRIBUTES:
        base_values = [_attribute_of(b, attribute, weights) for b, _ in pairs]
        opt_values = [_attribute_of(o, attribute, weights) for _, o in pairs]
        # The same seed as the composite: the same resampled examples.
        interval = paired_bootstrap_ci(
            base_values, opt_values, resamples=resamples, seed=seed, confidence=DEFAULT_CONFIDENCE
        ).scaled(PERCENT)
        attributes[attribute] = interval
        kept_values = [(b, o) for b, o in zip(base_values, opt_values, strict=True) if b is not None and o is not None]
        per_attribute[attribute] = interval.as_dict() | {
            "baseline": _mean_pp([b for b, _ in kept_values]),
            "optimized": _mean_pp([o for _, o in kept_values]),
        }
    verdict = release_gate(overall, attributes, policy)

    kept = [(b, o) for b, o in zip(base_composite, opt_composite, strict=True) if b is not None and o is not None]
    improvement = overall.as_dict() | {
        "baseline": _mean_pp([b for b, _ in kept]),
        "optimized": _mean_pp([o for _, o in kept]),
    }
    return {
        "ci95": {
            "units": "percentage points (0-100 scale; attributes use their normalised 0-1 value x 100)",
            "method": "paired percentile bootstrap",
            "seed": seed,
            "improvement": improvement,
            "per_attribute": per_attribute,
        },
        "gate": {"verdict": verdict.verdict, "reasons": list(verdict.reasons), "policy": policy.as_dict()},
    }


# pytest collects module-level names starting with "test" when a test module imports them.
test_report.__test__ = False  # type: ignore[attr-defined]  # a marker pytest reads
