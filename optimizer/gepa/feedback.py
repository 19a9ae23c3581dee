"""GEPA's feedback metric: the judge's five scores and justifications, asked once per example and program.

DSPy's GEPA calls its metric twice for an example it reflects on: once to score the program's output
(in its evaluation) and once more per predictor for the feedback text. Our judge is five calls per
response; asking it twice would double the most expensive part of the search. Our evaluations run on
the engine (``adapter.py``), which records each example's ``ExampleResult`` here; the second call is
answered from that record, with no call at all, and counted (``answered``).

The feedback is the composite score and each attribute's score and justification; a candidate whose
own output could not be used (unparsable, refused) is told so, and the judge's failure is named as
the judge's.
"""

from __future__ import annotations

import threading
from typing import Any

import dspy

from evaluation.engine import ExampleResult
from evaluation.metric import MetricWeights
from evaluation.signatures import ATTRIBUTES


def example_score(result: ExampleResult) -> float:
    """GEPA's number for one example: the composite, 0 for the candidate's own failure and the judge's.

    GEPA needs a score for every example of a batch (its Pareto front is per example); our mean
    leaves a judge failure out, which GEPA cannot, so it counts as the failure score there.
    """
    return float(result.composite) if result.composite is not None else 0.0


def feedback_text(result: ExampleResult, weights: MetricWeights) -> str:
    """What the reflection model is shown about one example."""
    if result.judged is None:
        if result.failure_kind == "candidate":
            return (
                f"Score 0.00 of 1: the assistant's own output could not be used ({result.failure}). "
                "A response that cannot be read counts as 0."
            )
        return f"Score 0.00 of 1: the judge could not score this response ({result.failure})."
    lines = [f"Composite score {example_score(result):.2f} of 1 over five attributes, each scored 0-4:"]
    for attribute in ATTRIBUTES:
        ideal = " (2 is ideal)" if attribute in ("complexity", "verbosity") else ""
        lines.append(
            f"- {attribute}{ideal}, weight {weights.weight(attribute):.2f}: {result.judged.scores[attribute]}/4. "
            f"{result.judged.justifications[attribute]}"
        )
    return "\n".join(lines)


class FeedbackMetric:
    """The metric ``dspy.GEPA`` is given; its evaluations never call it (the engine scores them).

    ``record`` keeps each evaluated example's result under its instruction and prompt; a call for
    feedback (``pred_name`` given) is answered from there.
    """

    def __init__(self, weights: MetricWeights) -> None:
        self.weights = weights
        self._results: dict[tuple[str, str], ExampleResult] = {}
        self._lock = threading.Lock()
        self.answered = 0  # feedback calls answered from a recorded evaluation: judge calls not made again

    def record(self, instruction: str, result: ExampleResult) -> None:
        with self._lock:
            self._results[(instruction, result.prompt)] = result

    def __call__(
        self,
        gold: dspy.Example,
        pred: dspy.Prediction,
        trace: Any = None,
        pred_name: str | None = None,
        pred_trace: Any = None,
    ) -> dspy.Prediction:
        if not pred_trace:
            raise RuntimeError("GEPA's evaluations run on the engine: the metric only answers feedback calls")
        instruction = pred_trace[0][0].signature.instructions
        with self._lock:
            result = self._results.get((instruction, gold.prompt))
            if result is None:
                raise RuntimeError("feedback asked for an example the engine has not evaluated with this instruction")
            self.answered += 1
        return dspy.Prediction(score=example_score(result), feedback=feedback_text(result, self.weights))
