"""Paired bootstrap intervals, the release gate, and the JSON block of a run's test results."""

from __future__ import annotations

import json
import math
import random

import pytest

from evaluation.metric import DEFAULT_WEIGHTS
from evaluation.signatures import ATTRIBUTES
from evaluation.stats import (
    GatePolicy,
    Interval,
    bootstrap_mean_ci,
    paired_bootstrap_ci,
    per_attribute_cis,
    release_gate,
    spread,
    student_t_cdf,
    student_t_quantile,
    welch_difference,
)
from evaluation.stats import test_report as build_test_report


def noisy_pairs(n: int, effect: float, noise: float, seed: int = 7) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    baseline = [rng.uniform(0.5, 0.9) for _ in range(n)]
    optimized = [b + effect + rng.gauss(0.0, noise) for b in baseline]
    return baseline, optimized


def interval(mean: float, low: float, high: float, n: int = 50, dropped: int = 0) -> Interval:
    return Interval(mean, low, high, n, dropped, 2000, 0.95)


# -- intervals ----------------------------------------------------------------------------------------
def test_identical_lists_give_the_zero_interval():
    values = [0.3, 0.8, 0.55, 0.9, 0.1]
    ci = paired_bootstrap_ci(values, list(values))
    assert (ci.mean_diff, ci.low, ci.high) == (0.0, 0.0, 0.0)
    assert ci.n_pairs == 5 and ci.dropped == 0 and ci.resamples == 2000 and ci.confidence == 0.95


def test_a_constant_shift_gives_a_degenerate_interval_at_the_shift():
    baseline = [0.1 * i for i in range(1, 9)]
    optimized = [b + 0.1 for b in baseline]
    ci = paired_bootstrap_ci(baseline, optimized)
    assert (ci.low, ci.mean_diff, ci.high) == pytest.approx((0.1, 0.1, 0.1), abs=1e-12)
    # Differences that are exactly equal in floating point give exactly equal bounds.
    exact = paired_bootstrap_ci([0.25, 0.5, 0.75], [0.375, 0.625, 0.875])
    assert exact.low == exact.mean_diff == exact.high == 0.125


def test_a_real_effect_in_noisy_data_excludes_zero():
    baseline, optimized = noisy_pairs(100, effect=0.04, noise=0.08)
    ci = paired_bootstrap_ci(baseline, optimized)
    assert 0.0 < ci.low < ci.mean_diff < ci.high
    assert ci.high - ci.low < 0.06  # about 4 standard errors of 0.008


def test_no_effect_in_noisy_data_includes_zero():
    baseline, optimized = noisy_pairs(100, effect=0.0, noise=0.08)
    ci = paired_bootstrap_ci(baseline, optimized)
    assert ci.low < 0.0 < ci.high


def test_the_interval_is_a_pure_function_of_the_seed():
    baseline, optimized = noisy_pairs(60, effect=0.02, noise=0.1)
    first = paired_bootstrap_ci(baseline, optimized, seed=11)
    assert paired_bootstrap_ci(baseline, optimized, seed=11) == first
    other = paired_bootstrap_ci(baseline, optimized, seed=12)
    assert other.mean_diff == first.mean_diff  # the observed mean does not depend on the seed
    assert (other.low, other.high) != (first.low, first.high)
    assert other.low == pytest.approx(first.low, abs=0.01) and other.high == pytest.approx(first.high, abs=0.01)


def test_seed_zero_is_a_seed_like_any_other():
    baseline, optimized = noisy_pairs(40, effect=0.02, noise=0.1)
    zero = paired_bootstrap_ci(baseline, optimized, seed=0)
    assert zero == paired_bootstrap_ci(baseline, optimized, seed=0)
    assert zero != paired_bootstrap_ci(baseline, optimized, seed=1)


def test_a_known_value_pins_the_resampling_scheme():
    # Guards the cross-machine promise: a change to the drawing or the quantile rule changes this.
    ci = paired_bootstrap_ci([0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 2.0, 3.0], resamples=1000, seed=42)
    assert (ci.mean_diff, ci.low, ci.high) == (1.5, 0.5, 2.5)
    # Python's Mersenne Twister and float arithmetic are the same everywhere, so these are exact.
    rng = random.Random(3)
    baseline = [rng.random() for _ in range(10)]
    optimized = [b + rng.gauss(0.0, 0.1) for b in baseline]
    noisy = paired_bootstrap_ci(baseline, optimized, resamples=500, seed=42)
    assert (noisy.low, noisy.high) == pytest.approx((-0.09677747065638517, -0.00011189468369360907), rel=1e-12)


def test_higher_confidence_gives_a_wider_interval():
    baseline, optimized = noisy_pairs(50, effect=0.02, noise=0.1)
    narrow = paired_bootstrap_ci(baseline, optimized, confidence=0.80)
    wide = paired_bootstrap_ci(baseline, optimized, confidence=0.99)
    assert wide.low < narrow.low and wide.high > narrow.high


def test_failed_pairs_are_dropped_and_counted():
    baseline = [0.5, None, 0.7, 0.2, 0.9, 0.4]
    optimized = [0.6, 0.8, None, None, 0.95, 0.5]
    ci = paired_bootstrap_ci(baseline, optimized, seed=3)
    assert ci.n_pairs == 3 and ci.dropped == 3
    kept = paired_bootstrap_ci([0.5, 0.9, 0.4], [0.6, 0.95, 0.5], seed=3)
    assert (ci.mean_diff, ci.low, ci.high) == (kept.mean_diff, kept.low, kept.high)


def test_no_usable_pair_gives_an_undefined_interval_that_serialises_as_null():
    ci = paired_bootstrap_ci([None, 0.5], [0.4, None])
    assert ci.n_pairs == 0 and ci.dropped == 2 and not ci.defined
    assert math.isnan(ci.low)
    data = ci.as_dict()
    assert data["low"] is None and data["high"] is None and data["mean_diff"] is None
    json.dumps(data, allow_nan=False)


@pytest.mark.parametrize("kwargs", [{"resamples": 0}, {"confidence": 1.0}, {"confidence": 0.0}])
def test_bad_options_are_rejected(kwargs):
    with pytest.raises(ValueError):
        paired_bootstrap_ci([0.1], [0.2], **kwargs)


def test_unpaired_lengths_are_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap_ci([0.1, 0.2], [0.2])


def test_scaling_moves_the_bounds_not_the_counts():
    ci = interval(0.01, -0.02, 0.04, n=30, dropped=2).scaled(100.0)
    assert (ci.mean_diff, ci.low, ci.high) == pytest.approx((1.0, -2.0, 4.0))
    assert (ci.n_pairs, ci.dropped) == (30, 2)


def test_per_attribute_intervals_use_the_normalised_values():
    base = {"helpfulness": 2, "correctness": 3, "coherence": 3, "complexity": 2, "verbosity": 3}
    better = {"helpfulness": 3, "correctness": 3, "coherence": 3, "complexity": 2, "verbosity": 2}
    cis = per_attribute_cis([base] * 12, [better] * 12)
    assert set(cis) == set(ATTRIBUTES)
    assert cis["helpfulness"].mean_diff == pytest.approx(0.25)
    # Verbosity 3 -> 2 moves to the peak of its map: an improvement, not a drop.
    assert cis["verbosity"].mean_diff == pytest.approx(
        DEFAULT_WEIGHTS.normalised("verbosity", 2) - DEFAULT_WEIGHTS.normalised("verbosity", 3)
    )
    assert cis["verbosity"].low > 0
    assert cis["correctness"].low == cis["correctness"].high == 0.0


def test_per_attribute_intervals_drop_failed_examples():
    scores = dict.fromkeys(ATTRIBUTES, 2)
    cis = per_attribute_cis([scores, None, scores], [scores, scores, None])
    assert all(ci.n_pairs == 1 and ci.dropped == 2 for ci in cis.values())


# -- the release gate ---------------------------------------------------------------------------------
FLAT = {a: interval(0.0, -1.0, 1.0) for a in ATTRIBUTES}


def test_gate_promotes_a_clear_improvement_and_says_why():
    verdict = release_gate(interval(3.0, 1.2, 4.9), FLAT, GatePolicy())
    assert verdict.verdict == "promote" and verdict.promote
    assert any("clears" in r and "+1.20 pp" in r for r in verdict.reasons)
    assert any("no attribute clearly regressed" in r for r in verdict.reasons)


def test_gate_holds_when_the_interval_includes_zero():
    verdict = release_gate(interval(1.0, -0.5, 2.5), FLAT, GatePolicy())
    assert verdict.verdict == "hold"
    assert any("does not clear" in r and "-0.50 pp" in r for r in verdict.reasons)


def test_gate_holds_when_the_lower_bound_equals_the_threshold():
    assert release_gate(interval(0.0, 0.0, 0.0), FLAT, GatePolicy()).verdict == "hold"


def test_gate_respects_a_minimum_improvement():
    overall = interval(3.0, 1.5, 4.5)
    assert release_gate(overall, FLAT, GatePolicy(min_improvement=1.0)).verdict == "promote"
    verdict = release_gate(overall, FLAT, GatePolicy(min_improvement=2.0))
    assert verdict.verdict == "hold" and any("+2.00 pp" in r for r in verdict.reasons)


def test_gate_holds_on_a_clear_attribute_regression_and_names_it():
    attributes = dict(FLAT, coherence=interval(-9.0, -12.0, -6.0))
    verdict = release_gate(interval(3.0, 1.0, 5.0), attributes, GatePolicy())
    assert verdict.verdict == "hold"
    assert any(r.startswith("coherence clearly regressed") for r in verdict.reasons)


def test_gate_lets_an_uncertain_or_small_attribute_dip_through():
    attributes = dict(FLAT, coherence=interval(-3.0, -8.0, 1.0), verbosity=interval(-4.0, -4.5, -3.5))
    assert release_gate(interval(3.0, 1.0, 5.0), attributes, GatePolicy()).verdict == "promote"
    # ... unless the tolerance is tightened below the verbosity interval's upper bound.
    strict = release_gate(interval(3.0, 1.0, 5.0), attributes, GatePolicy(max_attribute_regression=3.0))
    assert strict.verdict == "hold" and any("verbosity" in r for r in strict.reasons)


def test_gate_holds_with_too_few_pairs():
    verdict = release_gate(interval(5.0, 2.0, 8.0, n=6), FLAT, GatePolicy())
    assert verdict.verdict == "hold" and any("only 6 paired examples" in r for r in verdict.reasons)
    assert release_gate(interval(5.0, 2.0, 8.0, n=6), FLAT, GatePolicy(min_pairs=5)).verdict == "promote"


def test_gate_mentions_failed_examples_and_holds_without_pairs():
    promoted = release_gate(interval(3.0, 1.0, 5.0, dropped=4), FLAT, GatePolicy())
    assert promoted.verdict == "promote" and any("the judge failed on 4 example(s)" in r for r in promoted.reasons)
    empty = paired_bootstrap_ci([None], [None])
    verdict = release_gate(empty, {}, GatePolicy())
    assert verdict.verdict == "hold" and verdict.reasons


@pytest.mark.parametrize(
    "kwargs", [{"max_attribute_regression": -1.0}, {"min_pairs": 0}, {"min_improvement": math.inf}]
)
def test_gate_policy_validates_itself(kwargs):
    with pytest.raises(ValueError):
        GatePolicy(**kwargs)


# -- the JSON block -----------------------------------------------------------------------------------
def records(
    composite_shift: float,
    n: int = 30,
    *,
    helpfulness: int = 2,
    fail: tuple[int, ...] = (),
    candidate_fail: tuple[int, ...] = (),
) -> list[dict]:
    rng = random.Random(5)
    out = []
    for index in range(n):
        scores = {
            "helpfulness": helpfulness,
            "correctness": rng.randint(2, 4),
            "coherence": 3,
            "complexity": 2,
            "verbosity": rng.choice([2, 3]),
        }
        failed = index in fail
        if index in candidate_fail:  # the program's own output failed: scored 0, as the engine records it
            out.append(
                {
                    "index": index,
                    "prompt": f"prompt {index}",
                    "response": None,
                    "scores": None,
                    "justifications": None,
                    "composite": 0.0,
                    "failure": "generation: AdapterParseError: unparsable",
                    "failure_kind": "candidate",
                }
            )
            continue
        out.append(
            {
                "index": index,
                "prompt": f"prompt {index}",
                "response": None if failed else "r",
                "scores": None if failed else scores,
                "justifications": None,
                "composite": None if failed else DEFAULT_WEIGHTS.composite(scores) + composite_shift,
                "failure": "judge: unparsable" if failed else None,
                "failure_kind": "judge" if failed else None,
            }
        )
    return out


def test_test_report_is_in_percentage_points():
    base = records(0.0)
    shifted = [dict(r, composite=r["composite"] + 0.1) for r in base]
    block = build_test_report(base, shifted, seed=42)
    improvement = block["ci95"]["improvement"]
    assert improvement["low"] == improvement["high"] == improvement["mean_diff"] == pytest.approx(10.0)
    assert improvement["optimized"] - improvement["baseline"] == pytest.approx(10.0)
    assert block["gate"]["verdict"] == "promote"
    assert block["gate"]["policy"] == {"min_improvement_pp": 0.0, "max_attribute_regression_pp": 5.0, "min_pairs": 10}


def test_test_report_per_attribute_and_json():
    base, better = records(0.0), records(0.0, helpfulness=3)
    block = build_test_report(base, better, seed=1, resamples=500)
    per_attribute = block["ci95"]["per_attribute"]
    assert set(per_attribute) == set(ATTRIBUTES)
    assert per_attribute["helpfulness"]["mean_diff"] == pytest.approx(25.0)
    assert per_attribute["helpfulness"]["baseline"] == pytest.approx(50.0)
    assert per_attribute["coherence"]["high"] == 0.0
    assert per_attribute["helpfulness"]["resamples"] == 500
    json.dumps(block, allow_nan=False)


def test_test_report_pairs_by_index_not_position():
    base, opt = records(0.0), records(0.02)
    in_order = build_test_report(base, opt, seed=9)
    shuffled = list(opt)
    random.Random(3).shuffle(shuffled)
    assert build_test_report(base, shuffled, seed=9) == in_order


def test_test_report_counts_failed_examples_as_dropped():
    block = build_test_report(records(0.0, fail=(1,)), records(0.05, fail=(1, 2, 3)))
    assert block["ci95"]["improvement"]["dropped"] == 3
    assert block["ci95"]["improvement"]["n_pairs"] == 27
    assert block["ci95"]["per_attribute"]["coherence"]["dropped"] == 3


def test_a_candidate_failure_counts_as_zero_on_the_composite_and_every_attribute():
    base = records(0.0)
    failing = records(0.0, candidate_fail=(4, 9))
    block = build_test_report(base, failing, seed=3)
    improvement = block["ci95"]["improvement"]
    assert (improvement["n_pairs"], improvement["dropped"]) == (30, 0)  # paired, not dropped
    lost = sum(DEFAULT_WEIGHTS.composite(r["scores"]) for r in base if r["index"] in (4, 9))
    assert improvement["mean_diff"] == pytest.approx(-100 * lost / 30, abs=1e-4)
    coherence = block["ci95"]["per_attribute"]["coherence"]  # 3 everywhere else: only the failures move it
    assert coherence["n_pairs"] == 30 and coherence["mean_diff"] == pytest.approx(-100 * 2 * 0.75 / 30, abs=1e-4)
    assert coherence["low"] < 0


def test_a_judge_failure_on_either_side_leaves_the_example_out_of_both():
    base, opt = records(0.0, fail=(2,)), records(0.0, fail=(5,), candidate_fail=(7,))
    block = build_test_report(base, opt, seed=3)
    improvement = block["ci95"]["improvement"]
    assert (improvement["n_pairs"], improvement["dropped"]) == (28, 2)
    kept = [r for r in records(0.0) if r["index"] not in (2, 5)]
    assert improvement["baseline"] == pytest.approx(100 * sum(r["composite"] for r in kept) / 28, abs=1e-3)
    lost = DEFAULT_WEIGHTS.composite(records(0.0)[7]["scores"])
    assert improvement["mean_diff"] == pytest.approx(-100 * lost / 28, abs=1e-4)


def test_test_report_refuses_records_that_do_not_pair():
    base = records(0.0)
    with pytest.raises(ValueError, match="not the same set"):
        build_test_report(base, records(0.0, n=29))
    other_prompt = [dict(r, prompt="something else") if r["index"] == 4 else r for r in records(0.0)]
    with pytest.raises(ValueError, match="different prompt"):
        build_test_report(base, other_prompt)


# -- across runs -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "df, expected",  # two-sided 95% critical values of Student's t, from printed tables
    [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (9, 2.262), (29, 2.045), (120, 1.980)],
)
def test_student_t_quantiles_match_the_tables(df, expected):
    assert student_t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)
    assert student_t_quantile(0.025, df) == pytest.approx(-expected, abs=5e-4)


def test_student_t_cdf_is_symmetric_and_monotone():
    assert student_t_cdf(0.0, 3.5) == pytest.approx(0.5)
    assert student_t_cdf(1.0, 4) + student_t_cdf(-1.0, 4) == pytest.approx(1.0)
    values = [student_t_cdf(t / 4, 2.5) for t in range(-20, 21)]
    assert values == sorted(values)


def test_spread_over_seeds():
    result = spread([1.0, 2.0, 6.0])
    assert result.mean == pytest.approx(3.0) and result.sd == pytest.approx(math.sqrt(7.0))
    half = 4.303 * math.sqrt(7.0) / math.sqrt(3)
    assert (result.low, result.high) == pytest.approx((3.0 - half, 3.0 + half), abs=1e-3)
    one = spread([2.5])
    assert (one.mean, one.sd, one.low) == (2.5, None, None)
    assert spread([]).as_dict()["mean"] is None


def test_welch_difference():
    result = welch_difference([1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0])
    assert result["difference"] == pytest.approx(3.0)
    # Welch-Satterthwaite: v1 = 1/3, v2 = 20/12; df = (v1+v2)^2 / (v1^2/2 + v2^2/3)
    v1, v2 = 1 / 3, 20 / 12
    df = (v1 + v2) ** 2 / (v1**2 / 2 + v2**2 / 3)
    assert result["df"] == pytest.approx(df, abs=0.01)
    half = student_t_quantile(0.975, df) * math.sqrt(v1 + v2)
    assert result["ci95"] == pytest.approx([3.0 - half, 3.0 + half], abs=1e-3)
    assert welch_difference([1.0], [2.0, 3.0])["ci95"] is None
    assert welch_difference([1.0, 1.0], [2.0, 2.0])["ci95"] == [1.0, 1.0]


def test_bootstrap_mean_interval_brackets_the_mean_and_skips_missing_values():
    mean, low, high, n = bootstrap_mean_ci([0.2, 0.4, None, 0.6, 0.8], seed=3)
    assert n == 4 and mean == pytest.approx(0.5) and low < mean < high
    assert bootstrap_mean_ci([0.2, 0.4, 0.6, 0.8], seed=3) == (mean, low, high, n)
