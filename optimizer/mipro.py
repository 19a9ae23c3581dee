"""MIPROv2 wired to our evaluation engine and ledger phases.

Stock MIPROv2 evaluates candidates with ``dspy.Evaluate`` (a thread pool, one example at a time per
thread, judge calls one after another inside the metric) and ``eval_candidate_program`` turns any
exception into a silent score of 0. While ``compile`` runs, ``PhasedMIPROv2`` puts our engine in
their place inside the ``mipro_optimizer_v2`` module: every example's generation and 5 judge calls
run concurrently on the gateway loop, failures are left out of the mean, and a fatal error (budget,
replay miss, too many failures) stops the search instead of scoring 0. Everything else — bootstrap,
proposal, the Optuna TPE search, the seed — is MIPROv2's own code.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dspy
from dspy.evaluate.evaluate import EvaluationResult as DSPyEvaluationResult
from dspy.teleprompt import mipro_optimizer_v2
from dspy.teleprompt import utils as teleprompt_utils
from dspy.teleprompt.utils import create_minibatch

from evaluation.engine import EvaluationResult, Evaluator, JudgeFailure
from evaluation.signatures import instruction_of
from gateway.facade import GatewayLoop
from gateway.ledger import Ledger
from optimizer.concurrent import ConcurrentGroundedProposer, DeferredBootstrap, StopReason


@dataclass(frozen=True)
class SearchConfig:
    """The seed's MIPROv2 configuration: zero-shot search over 6 instructions in 10 TPE trials."""

    num_candidates: int = 6
    num_trials: int = 10
    seed: int = 42
    minibatch: bool = False
    minibatch_size: int = 35
    minibatch_full_eval_steps: int = 5
    init_temperature: float = 1.0
    max_errors: int = 10_000

    def __post_init__(self) -> None:
        if self.num_candidates < 2:
            raise ValueError("num_candidates must be at least 2 (the baseline and one proposal)")
        if self.num_trials < 1:
            raise ValueError("num_trials must be at least 1")
        if self.minibatch_size < 1:
            raise ValueError("minibatch_size must be at least 1")


@dataclass
class TrialRecord:
    trial: int
    instruction: str
    score: float
    examples: int
    full_eval: bool
    failures: int
    reused: bool = False  # the same program on the same examples as an earlier trial: its result, no calls


@dataclass
class SearchLog:
    """What the search evaluated, in order (the default program first)."""

    trials: list[TrialRecord] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)


ProgressFactory = Callable[[str, int], Callable[[int, int], None]]


class PhasedMIPROv2(mipro_optimizer_v2.MIPROv2):
    """MIPROv2 whose steps are ledger phases and whose evaluations run on our engine."""

    def __init__(self, *, evaluator: Evaluator, loop: GatewayLoop, ledger: Ledger, config: SearchConfig,
                 prompt_model: dspy.LM, task_model: dspy.LM, progress: ProgressFactory | None = None,
                 before_search: Callable[[], object] | None = None,
                 stop_reason: StopReason | None = None) -> None:
        self.evaluator = evaluator
        self.before_search = before_search
        self.stop_reason: StopReason = stop_reason or (lambda: None)
        self.loop = loop
        self.ledger = ledger
        self.config = config
        self.progress = progress
        self.log = SearchLog()
        # Evaluations already made in this search, by program state and examples (see evaluate_program).
        self._evaluated: dict[str, EvaluationResult] = {}
        super().__init__(
            metric=self._bootstrap_metric,
            prompt_model=prompt_model,
            task_model=task_model,
            max_bootstrapped_demos=0,
            max_labeled_demos=0,
            auto=None,
            num_candidates=config.num_candidates,
            num_threads=1,  # unused: our engine replaces Evaluate's thread pool
            max_errors=config.max_errors,
            seed=config.seed,
            init_temperature=config.init_temperature,
            verbose=False,
            track_stats=True,
        )

    def optimize(self, program: dspy.Module, trainset: list[dspy.Example], valset: list[dspy.Example]) -> dspy.Module:
        """Run bootstrap, proposal and search; return the best program."""
        # MIPROv2 and its helpers print progress of their own to stdout; ours goes to stderr.
        with self._engine_in_place(), contextlib.redirect_stdout(io.StringIO()):
            return self.compile(
                program,
                trainset=trainset,
                valset=valset,
                num_trials=self.config.num_trials,
                # MIPROv2 reads ``seed or self.seed``: both carry ours, so a seed of 0 stays 0.
                seed=self.config.seed,
                minibatch=self.config.minibatch,
                minibatch_size=self.config.minibatch_size,
                minibatch_full_eval_steps=self.config.minibatch_full_eval_steps,
            )

    # -- phases ---------------------------------------------------------------------------------
    def _bootstrap_fewshot_examples(self, *args: Any, **kwargs: Any) -> Any:
        # MIPROv2's loop runs as written, drawing each set's shuffle and size in order; the sets
        # themselves are bootstrapped afterwards, all at once (see optimizer/concurrent.py).
        deferred = DeferredBootstrap(stop=self.stop_reason)
        saved = teleprompt_utils.BootstrapFewShot
        with self.ledger.phase("bootstrap"):
            teleprompt_utils.BootstrapFewShot = deferred  # type: ignore[assignment,misc]
            try:
                demo_candidates = super()._bootstrap_fewshot_examples(*args, **kwargs)
            finally:
                teleprompt_utils.BootstrapFewShot = saved  # type: ignore[misc]
            deferred.run()
        return demo_candidates

    def _propose_instructions(self, *args: Any, **kwargs: Any) -> Any:
        with self.ledger.phase("propose"):
            candidates = super()._propose_instructions(*args, **kwargs)
        self.log.candidates = list(candidates[0])
        return candidates

    def _optimize_prompt_parameters(self, *args: Any, **kwargs: Any) -> Any:
        if self.before_search is not None:
            self.before_search()  # e.g. wait for work running beside bootstrap and proposal; raises its error
        with self.ledger.phase("search"):
            return super()._optimize_prompt_parameters(*args, **kwargs)

    # -- metric and evaluation ------------------------------------------------------------------
    def _bootstrap_metric(self, example: dspy.Example, prediction: dspy.Prediction, trace: Any = None) -> float:
        """Composite score of one prediction (used by bootstrapping, from worker threads)."""
        try:
            judged = self.loop.run(self.evaluator.judge(example.prompt, str(prediction.response)))
        except JudgeFailure:
            return 0.0
        return self.evaluator.weights.composite(judged.scores)

    def remember(self, program: dspy.Module, prompts: list[str], result: EvaluationResult) -> None:
        """Record an evaluation made elsewhere in the run (the baseline's) for the search to reuse."""
        self._evaluated[_evaluation_key(program, prompts)] = result

    def evaluated(self, program: dspy.Module, prompts: list[str]) -> EvaluationResult | None:
        """The result of evaluating ``program`` on ``prompts`` earlier in the run, if it was."""
        return self._evaluated.get(_evaluation_key(program, prompts))

    def evaluate_program(self, program: dspy.Module, devset: list[dspy.Example]) -> EvaluationResult:
        trial = len(self.log.trials) + 1
        hook = self.progress(f"trial {trial}/{self.config.num_trials + 1}", len(devset)) if self.progress else None
        prompts = [ex.prompt for ex in devset]
        # TPE samples a candidate again and again; its answers would all come from the cache anyway,
        # so a repeat reuses the first evaluation instead of reading every answer back.
        result = self.evaluated(program, prompts)
        reused = result is not None
        if result is None:
            result = self.loop.run(self.evaluator.evaluate(program, prompts, hook))
            self.remember(program, prompts, result)
        elif hook is not None:
            hook(len(prompts), len(prompts))
        self.log.trials.append(TrialRecord(
            trial=trial,
            instruction=instruction_of(program),
            score=result.percent,
            examples=len(devset),
            full_eval=False,  # set by the caller, which knows the full set size
            failures=len(result.failures),
            reused=reused,
        ))
        return result

    @contextlib.contextmanager
    def _engine_in_place(self) -> Iterator[None]:
        optimizer = self

        class EngineEvaluate:
            """Stands in for ``dspy.Evaluate`` inside MIPROv2."""

            def __init__(self, *, devset: list[dspy.Example], **_: Any) -> None:
                self.devset = devset

            def __call__(self, program: dspy.Module, devset: list[dspy.Example] | None = None,
                         **_: Any) -> DSPyEvaluationResult:
                examples = devset if devset is not None else self.devset
                result = optimizer.evaluate_program(program, examples)
                optimizer.log.trials[-1].full_eval = len(examples) >= len(self.devset)
                return DSPyEvaluationResult(score=result.percent, results=[])

        def eval_candidate_program(batch_size: int, trainset: list[dspy.Example], candidate_program: dspy.Module,
                                   evaluate: Any, rng: Any = None) -> DSPyEvaluationResult:
            # Unlike MIPROv2's own, this lets errors propagate: a failed evaluation is not a score of 0.
            if batch_size >= len(trainset):
                return evaluate(candidate_program, devset=trainset)
            return evaluate(candidate_program, devset=create_minibatch(trainset, batch_size, rng))

        saved = (mipro_optimizer_v2.Evaluate, mipro_optimizer_v2.eval_candidate_program,
                 mipro_optimizer_v2.GroundedProposer)
        mipro_optimizer_v2.Evaluate = EngineEvaluate  # type: ignore[misc,assignment]
        mipro_optimizer_v2.eval_candidate_program = eval_candidate_program  # type: ignore[assignment]
        mipro_optimizer_v2.GroundedProposer = ConcurrentGroundedProposer  # type: ignore[misc]
        try:
            yield
        finally:
            (mipro_optimizer_v2.Evaluate, mipro_optimizer_v2.eval_candidate_program,
             mipro_optimizer_v2.GroundedProposer) = saved


def _evaluation_key(program: dspy.Module, prompts: list[str]) -> str:
    # The program's whole state (instruction, demos) and the examples decide the answers.
    return json.dumps([program.dump_state(), prompts], sort_keys=True, default=repr)
