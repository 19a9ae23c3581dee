"""GEPA's settings in a run, and the arithmetic of its budget (metric calls) for the estimate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dspy.teleprompt import GEPA
from dspy.teleprompt.gepa.gepa import AUTO_RUN_SETTINGS

AUTO_LEVELS = tuple(AUTO_RUN_SETTINGS)  # "light", "medium", "heavy"
REFLECTION_MAX_TOKENS = 1024  # a new instruction of a few sentences, with room for a long one


@dataclass(frozen=True)
class GEPAConfig:
    """How GEPA searches: its budget (``auto`` or ``max_metric_calls``, one of them) and reflection settings.

    A metric call is one example evaluated by one candidate (a generation and five judge calls).
    """

    auto: str | None = "light"
    max_metric_calls: int | None = None
    reflection_minibatch_size: int = 3
    reflection_max_tokens: int = REFLECTION_MAX_TOKENS
    use_merge: bool = True
    max_merge_invocations: int = 5
    seed: int = 42

    def __post_init__(self) -> None:
        if (self.auto is None) == (self.max_metric_calls is None):
            raise ValueError("GEPA's budget is one of auto or max_metric_calls")
        if self.auto is not None and self.auto not in AUTO_LEVELS:
            raise ValueError(f"auto must be one of {', '.join(AUTO_LEVELS)}")
        if self.max_metric_calls is not None and self.max_metric_calls < 1:
            raise ValueError("max_metric_calls must be at least 1")
        if self.reflection_minibatch_size < 1:
            raise ValueError("reflection_minibatch_size must be at least 1")

    def budget_kwargs(self) -> dict[str, Any]:
        """The budget argument ``dspy.GEPA`` takes."""
        return {"auto": self.auto} if self.auto is not None else {"max_metric_calls": self.max_metric_calls}


def metric_call_budget(config: GEPAConfig, dev_size: int) -> int:
    """The metric calls GEPA may make with a dev set (its valset) of ``dev_size``: DSPy's own arithmetic."""
    if config.max_metric_calls is not None:
        return config.max_metric_calls
    assert config.auto is not None
    # GEPA.auto_budget reads nothing of the instance; our program has one predictor.
    budget: int = GEPA.auto_budget(
        None,  # an unbound call: the method uses none of its instance's fields
        num_preds=1,
        num_candidates=AUTO_RUN_SETTINGS[config.auto]["n"],
        valset_size=dev_size,
    )
    return budget


def reflection_calls_bound(config: GEPAConfig, dev_size: int) -> int:
    """At most this many reflections: each follows a parent's and precedes a child's minibatch evaluation."""
    spare = max(0, metric_call_budget(config, dev_size) - dev_size)
    return max(1, math.ceil(spare / (2 * config.reflection_minibatch_size)))
