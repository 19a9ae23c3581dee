"""The concurrent evaluation engine: generation, then five judge calls at once, for every example.

All examples are in flight together, or up to ``examples_in_flight`` of them per evaluation: an
example's first step (formatting its prompt) runs on the event loop, and a thousand of them at once
would keep the loop from reading the answers already waiting, leaving call slots idle. Results are
collected by example index, never by completion order, so the numbers are identical at any
concurrency.

Two kinds of failure are told apart, because they mean different things for a candidate's score:

* **candidate** failures: the program's own output cannot be used (DSPy's adapters could not parse
  it after their JSON fallback, or the provider refused or filtered the generation). That is the
  candidate's fault, so the example counts as 0, as stock MIPROv2 scores it; otherwise a candidate
  that fails on hard examples would look better than one that answers them.
* **judge** failures: the judge's answer for an attribute could not be used (unparsable after a
  fresh resample, a score outside 0–4, a refused judge call). That says nothing about the candidate:
  the example is left out of the mean (and out of both sides of a paired comparison). If more than
  ``max_failure_share`` of the examples have a judge failure, the evaluation stops with an error.

Anything else the gateway raises (retries exhausted, budget, replay miss) is not an output of the
model: it propagates and stops the evaluation, so no score ever depends on a transient failure.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dspy
from dspy.utils.exceptions import AdapterParseError

from evaluation.metric import DEFAULT_WEIGHTS, MetricWeights
from evaluation.signatures import ATTRIBUTES, RUBRICS, JudgeSignature
from gateway import errors as gateway_errors

RETRY_TEMPERATURE = 1.0

# Set while the judge is being asked: whoever watches model outputs (optimizer/output_watch.py) can
# tell the judge's from the program's, even where both run on the same model.
_judging: contextvars.ContextVar[bool] = contextvars.ContextVar("judging", default=False)


def judging() -> bool:
    """Whether the current context is inside one of the judge's calls."""
    return _judging.get()


CANDIDATE = "candidate"  # the program's own output failed: counted as 0
JUDGE = "judge"  # the judge's output failed: left out


class EvaluationError(Exception):
    """An evaluation could not produce a trustworthy score."""


class JudgeFailure(EvaluationError):
    """The judge's answer for one attribute could not be used."""


class ModelOutputError(EvaluationError):
    """A model's output could not be used where the run cannot go on without it.

    The message is the one line a user sees: the model, the step, what went wrong and what to try.
    The calls made so far are cached, so a rerun (with a stronger model for that role) goes on from them.
    """

    def __init__(self, *, role: str, model: str, step: str, detail: str, flag: str) -> None:
        super().__init__(
            f"the {role} model {model!r} gave output that could not be used while {step} ({detail}); "
            f"try a stronger {flag} (the calls made so far are cached: a rerun goes on from them)"
        )
        self.role = role
        self.model = model
        self.step = step
        self.flag = flag


class TooManyFailures(ModelOutputError):
    """More examples had a judge failure than the configured share allows."""


@dataclass(frozen=True)
class JudgeScores:
    """The five attribute scores of one response, with the judge's justifications."""

    scores: dict[str, int]
    justifications: dict[str, str]


@dataclass(frozen=True)
class ExampleResult:
    """One example's outcome; ``failure_kind`` is ``CANDIDATE`` (composite 0) or ``JUDGE`` (no composite)."""

    index: int
    prompt: str
    response: str | None
    judged: JudgeScores | None
    composite: float | None
    failure: str | None = None
    failure_kind: str | None = None
    refused: bool = False  # the failure is the provider's refusal (content filter, bad request), not unparsable output

    @property
    def failed(self) -> bool:
        return self.failure is not None

    @property
    def counted(self) -> bool:
        """Whether the example is in the mean: scored, or a candidate failure (as 0)."""
        return self.failure_kind != JUDGE


@dataclass(frozen=True)
class EvaluationResult:
    examples: list[ExampleResult]
    per_attribute: dict[str, float] = field(default_factory=dict)

    @property
    def counted(self) -> list[ExampleResult]:
        """The examples in the mean: all but those with a judge failure."""
        return [e for e in self.examples if e.counted]

    @property
    def failures(self) -> list[ExampleResult]:
        """Every failed example, of either kind."""
        return [e for e in self.examples if e.failed]

    @property
    def candidate_failures(self) -> list[ExampleResult]:
        return [e for e in self.examples if e.failure_kind == CANDIDATE]

    @property
    def judge_failures(self) -> list[ExampleResult]:
        return [e for e in self.examples if e.failure_kind == JUDGE]

    @property
    def unparsable_generations(self) -> list[ExampleResult]:
        """Candidate failures whose generation no adapter could parse (not the provider's refusals)."""
        return [e for e in self.examples if e.failure_kind == CANDIDATE and not e.refused]

    @property
    def mean(self) -> float:
        """Mean composite (0–1) over the counted examples, a candidate failure counting as 0."""
        counted = self.counted
        return math.fsum(e.composite or 0.0 for e in counted) / len(counted) if counted else 0.0

    @property
    def percent(self) -> float:
        return round(100.0 * self.mean, 2)


ProgressHook = Callable[[int, int], None]


class Evaluator:
    """Scores programs with the 5-attribute judge through the gateway."""

    def __init__(
        self,
        task_lm: dspy.LM,
        judge_lm: dspy.LM,
        *,
        weights: MetricWeights = DEFAULT_WEIGHTS,
        max_failure_share: float = 0.10,
        judge_attempts: int = 2,
        examples_in_flight: int | None = None,
        dspy_settings: Mapping[str, Any] | None = None,
    ) -> None:
        """``dspy_settings``: DSPy settings for every call (``evaluation/structured.py``'s adapter)."""
        if not 0.0 <= max_failure_share <= 1.0:
            raise ValueError("max_failure_share must be between 0 and 1")
        if judge_attempts < 1:
            raise ValueError("judge_attempts must be at least 1")
        if examples_in_flight is not None and examples_in_flight < 1:
            raise ValueError("examples_in_flight must be at least 1")
        self.examples_in_flight = examples_in_flight
        self.task_lm = task_lm
        self.judge_lm = judge_lm
        self.weights = weights
        self.max_failure_share = max_failure_share
        self.judge_attempts = judge_attempts
        self._judge = dspy.Predict(JudgeSignature)
        self._settings = dict(dspy_settings or {})

    # -- one response -------------------------------------------------------------------------
    async def judge_attribute(self, prompt: str, response: str, attribute: str) -> tuple[int, str]:
        """One judge call; an unusable answer is asked again (as a fresh sample) before it fails."""
        last = "no answer"
        for attempt in range(self.judge_attempts):
            # A retry is a fresh sample: a new rollout id (so a new cache entry) at sampling temperature.
            lm = (
                self.judge_lm if attempt == 0 else self.judge_lm.copy(rollout_id=attempt, temperature=RETRY_TEMPERATURE)
            )
            token = _judging.set(True)
            try:
                with dspy.context(lm=lm, **self._settings):
                    out = await self._judge.acall(prompt=prompt, response=response, rubric=RUBRICS[attribute])
            except Exception as exc:
                refused, reason = output_failure(exc)  # anything but a model-output failure propagates
                if refused:  # the provider refused the request: asking again gets the same answer
                    raise JudgeFailure(f"{attribute}: {reason}") from exc
                last = f"unparsable judge output ({reason})"
                continue
            finally:
                _judging.reset(token)
            score = out.score
            if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 4:
                last = f"score {score!r} outside 0–4"
                continue
            return score, str(out.justification or "")
        raise JudgeFailure(f"{attribute}: {last}")

    async def judge(self, prompt: str, response: str) -> JudgeScores:
        """Score one response on all five attributes at once."""
        results = await asyncio.gather(
            *(self.judge_attribute(prompt, response, a) for a in ATTRIBUTES), return_exceptions=True
        )
        # Errors that stop the run first, then the first judge failure in attribute order (never the
        # order the calls finished in): the same example fails with the same reason at any concurrency.
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, JudgeFailure):
                raise failure
        if failures:
            raise failures[0]
        scores = {a: r[0] for a, r in zip(ATTRIBUTES, results, strict=True)}  # type: ignore[index]  # the loop above raised every exception
        notes = {a: r[1] for a, r in zip(ATTRIBUTES, results, strict=True)}  # type: ignore[index]  # the loop above raised every exception
        return JudgeScores(scores, notes)

    async def generate(self, program: dspy.Module, prompt: str) -> str:
        with dspy.context(lm=self.task_lm, **self._settings):
            prediction = await program.acall(prompt=prompt)
        return str(prediction.response)

    async def evaluate_example(self, program: dspy.Module, index: int, prompt: str) -> ExampleResult:
        try:
            response = await self.generate(program, prompt)
        except Exception as exc:
            refused, reason = output_failure(exc)  # anything but a model-output failure propagates
            return ExampleResult(
                index, prompt, None, None, 0.0, failure=f"generation: {reason}", failure_kind=CANDIDATE, refused=refused
            )
        try:
            judged = await self.judge(prompt, response)
        except JudgeFailure as exc:
            return ExampleResult(index, prompt, response, None, None, failure=f"judge: {exc}", failure_kind=JUDGE)
        return ExampleResult(index, prompt, response, judged, self.weights.composite(judged.scores))

    # -- many examples --------------------------------------------------------------------------
    def shared_window(self) -> asyncio.Semaphore:
        """A window of ``examples_in_flight`` examples for several evaluations started together to share."""
        return asyncio.Semaphore(self.examples_in_flight or 2**30)

    async def evaluate(
        self,
        program: dspy.Module,
        prompts: Sequence[str],
        progress: ProgressHook | None = None,
        *,
        window: asyncio.Semaphore | None = None,
    ) -> EvaluationResult:
        """Evaluate ``program`` on every prompt concurrently; results in input order.

        ``window`` (from ``shared_window``) bounds the examples in flight of every evaluation given
        it, together; without it this evaluation has a window of its own.
        """
        done = 0
        # Examples start in input order as earlier ones finish (a semaphore's waiters are served in turn).
        window = window or self.shared_window()

        async def one(index: int, prompt: str) -> ExampleResult:
            nonlocal done
            async with window:
                result = await self.evaluate_example(program, index, prompt)
            done += 1
            if progress is not None:
                progress(done, len(prompts))
            return result

        tasks = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(prompts)]
        try:
            examples = list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        result = EvaluationResult(examples, _per_attribute(examples))
        failed = len(result.judge_failures)
        if prompts and failed / len(prompts) > self.max_failure_share:
            reasons = "; ".join(sorted({e.failure or "" for e in result.judge_failures})[:3])
            raise TooManyFailures(
                role="judge",
                model=str(getattr(self.judge_lm, "model", "?")),
                step="judging",
                detail=f"on {failed} of {len(prompts)} examples, more than {self.max_failure_share:.0%}: {reasons}",
                flag="--judge-model",
            )
        return result


def _per_attribute(examples: Sequence[ExampleResult]) -> dict[str, float]:
    scored = [e.judged for e in examples if e.judged is not None]
    if not scored:
        return {}
    return {a: round(sum(j.scores[a] for j in scored) / len(scored), 4) for a in ATTRIBUTES}


def root_gateway_error(exc: BaseException) -> gateway_errors.GatewayError | None:
    """The gateway error behind an exception DSPy wrapped (it re-raises engine errors as its own)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, gateway_errors.GatewayError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def output_failure(exc: BaseException) -> tuple[bool, str]:
    """Classify an exception from a model call as a failure of the model's output, or re-raise it.

    Returns ``(refused, reason)``: ``refused`` when the provider turned the request down (content
    filter, bad request, context window: the same request would get the same answer), else the
    adapters could not parse the output. Every other gateway error (retries exhausted, budget,
    replay miss...) is raised as the gateway's own error; any other exception is raised unchanged.
    """
    root = root_gateway_error(exc)
    if root is not None:
        if isinstance(root, gateway_errors.BadRequest):
            return True, f"{type(root).__name__}: {str(root)[:200]}"
        raise root from None
    parse_error = parse_failure(exc)
    if parse_error is not None:
        return False, describe_parse_failure(parse_error)
    raise exc


def parse_failure(exc: BaseException) -> AdapterParseError | None:
    """The adapter parse error behind ``exc`` (DSPy's adapters could not parse a model's output), if any."""
    found = _in_chain(exc, AdapterParseError)
    return found if isinstance(found, AdapterParseError) else None


def describe_parse_failure(error: AdapterParseError) -> str:
    """A short account of a parse failure for a one-line message."""
    return f"{type(error).__name__}: {_first_line(error)}"


def _in_chain(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def judged_as_dict(result: ExampleResult) -> dict[str, Any]:
    """A JSON-ready record of one example's evaluation."""
    return {
        "index": result.index,
        "prompt": result.prompt,
        "response": result.response,
        "scores": result.judged.scores if result.judged else None,
        "justifications": result.judged.justifications if result.judged else None,
        "composite": result.composite,
        "failure": result.failure,
        "failure_kind": result.failure_kind,
    }
