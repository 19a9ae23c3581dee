"""Helpers for tests and benchmarks that use the simulator: a fake clock and in-process DSPy calls.

``ask`` answers a DSPy request exactly as the HTTP server would (same body, same digest, same text)
but without a socket, which makes landscape checks over hundreds of calls take well under a second.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from simulator.hashing import request_digest
from simulator.responder import respond

SIM_MODEL = "gpt-4o"

# The project's composite metric, restated here so the landscape can be checked without the
# evaluation package: 0.30 helpfulness + 0.25 correctness + 0.25 coherence (each /4) plus
# 0.10 each for complexity and verbosity through maps that peak at the ideal score of 2.
COMPLEXITY_MAP = {0: 0.0, 1: 0.7, 2: 1.0, 3: 0.3, 4: 0.0}
VERBOSITY_MAP = {0: 0.0, 1: 0.3, 2: 1.0, 3: 0.3, 4: 0.0}


class FakeClock:
    """A monotonic clock that moves only when told to; pass it as ``Simulator(clock=...)``."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def chat_body(signature: Any, inputs: dict[str, Any], **params: Any) -> dict[str, Any]:
    """The request body DSPy's ChatAdapter sends for ``signature`` and ``inputs``."""
    from dspy.adapters.chat_adapter import ChatAdapter

    messages = ChatAdapter().format(signature, demos=[], inputs=inputs)
    return {"model": SIM_MODEL, "messages": messages, **params}


def ask(signature: Any, inputs: dict[str, Any], **params: Any) -> dict[str, Any]:
    """Answer a DSPy ChatAdapter request in-process and parse it as the adapter would."""
    from dspy.adapters.chat_adapter import ChatAdapter

    body = chat_body(signature, inputs, **params)
    answer = respond(body, request_digest(body, SIM_MODEL))
    return dict(ChatAdapter().parse(signature, answer.content))


def composite(scores: dict[str, int]) -> float:
    """The project's weighted 0-1 composite of the five judge scores."""
    return (
        0.30 * scores["helpfulness"] / 4
        + 0.25 * scores["correctness"] / 4
        + 0.25 * scores["coherence"] / 4
        + 0.10 * COMPLEXITY_MAP[scores["complexity"]]
        + 0.10 * VERBOSITY_MAP[scores["verbosity"]]
    )


def mean_composite(instruction: str, prompts: Iterable[str], *, temperature: float = 0.0) -> float:
    """Mean composite the simulated judge gives the simulated generator under ``instruction``.

    ``temperature`` only changes the request bodies, and so the deterministic noise draws; comparing
    means across temperatures shows how much of a difference between instructions is noise.
    """
    from evaluation.signatures import ATTRIBUTES, RUBRICS, HelpSteer2Signature, JudgeSignature

    generator = HelpSteer2Signature.with_instructions(instruction)
    values = []
    for prompt in prompts:
        response = ask(generator, {"prompt": prompt}, temperature=temperature)["response"]
        scores = {
            attribute: ask(
                JudgeSignature,
                {"prompt": prompt, "response": response, "rubric": RUBRICS[attribute]},
                temperature=temperature,
            )["score"]
            for attribute in ATTRIBUTES
        }
        values.append(composite(scores))
    return statistics.fmean(values)
