"""The composite HelpSteer2 metric: a weighted sum of five 0–4 judge scores, in one config object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from evaluation.signatures import ATTRIBUTES


@dataclass(frozen=True)
class MetricWeights:
    """Weights of the attributes and the peaked maps of complexity and verbosity (where 2 is ideal).

    helpfulness, correctness and coherence are normalised linearly (score / 4); complexity and
    verbosity through their maps, so a response too complex or too long scores lower, not higher.
    """

    helpfulness: float = 0.30
    correctness: float = 0.25
    coherence: float = 0.25
    complexity: float = 0.10
    verbosity: float = 0.10
    complexity_map: tuple[float, float, float, float, float] = (0.0, 0.7, 1.0, 0.3, 0.0)
    verbosity_map: tuple[float, float, float, float, float] = (0.0, 0.3, 1.0, 0.3, 0.0)

    def __post_init__(self) -> None:
        total = sum(self.weight(a) for a in ATTRIBUTES)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"metric weights must sum to 1, not {total}")
        if len(self.complexity_map) != 5 or len(self.verbosity_map) != 5:
            raise ValueError("complexity and verbosity maps need one value per score 0–4")

    def weight(self, attribute: str) -> float:
        return float(getattr(self, attribute))

    def normalised(self, attribute: str, score: int) -> float:
        """The 0–1 value of one attribute's score."""
        if not 0 <= score <= 4:
            raise ValueError(f"{attribute} score {score} is outside 0–4")
        if attribute == "complexity":
            return self.complexity_map[score]
        if attribute == "verbosity":
            return self.verbosity_map[score]
        return score / 4.0

    def composite(self, scores: Mapping[str, int]) -> float:
        """The weighted composite in [0, 1] of one response's five scores."""
        return sum(self.weight(a) * self.normalised(a, scores[a]) for a in ATTRIBUTES)


DEFAULT_WEIGHTS = MetricWeights()
