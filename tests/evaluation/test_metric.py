import pytest

from evaluation.metric import DEFAULT_WEIGHTS, MetricWeights


def scores(h, c, coh, cx, v):
    return {"helpfulness": h, "correctness": c, "coherence": coh, "complexity": cx, "verbosity": v}


@pytest.mark.parametrize(
    ("s", "expected"),
    [
        (scores(4, 4, 4, 2, 2), 1.0),
        (scores(0, 0, 0, 0, 0), 0.0),
        # 0.30*3/4 + 0.25*2/4 + 0.25*4/4 + 0.10*0.7 + 0.10*0.3
        (scores(3, 2, 4, 1, 3), 0.225 + 0.125 + 0.25 + 0.07 + 0.03),
        # complexity and verbosity peak at 2: 4 is as bad as 0
        (scores(4, 4, 4, 4, 4), 0.80),
        (scores(2, 3, 3, 3, 1), 0.15 + 0.1875 + 0.1875 + 0.03 + 0.03),
    ],
)
def test_composite_matches_hand_computed_values(s, expected):
    assert DEFAULT_WEIGHTS.composite(s) == pytest.approx(expected)


def test_weights_must_sum_to_one_and_scores_stay_in_range():
    with pytest.raises(ValueError, match="sum to 1"):
        MetricWeights(helpfulness=0.5)
    with pytest.raises(ValueError, match="outside"):
        DEFAULT_WEIGHTS.normalised("helpfulness", 5)


def test_custom_weights_change_the_composite():
    style_only = MetricWeights(helpfulness=0.0, correctness=0.0, coherence=0.0, complexity=0.5, verbosity=0.5)
    assert style_only.composite(scores(0, 0, 0, 2, 2)) == pytest.approx(1.0)
