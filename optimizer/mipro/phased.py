"""MIPROv2 wired to our evaluation engine and ledger phases.

Stock MIPROv2 evaluates candidates with ``dspy.Evaluate`` (a thread pool, one example at a time per
thread, judge calls one after another inside the metric) and ``eval_candidate_program`` turns any
exception into a silent score of 0. While ``compile`` runs, ``PhasedMIPROv2`` puts our engine in
their place inside the ``mipro_optimizer_v2`` module (for its own calls only, so that several
optimizers can run at once in one process: ``optimizer/mipro/stand_ins.py``): every example's
generation and 5 judge calls run concurrently on the gateway loop, a candidate's own failed outputs
count as 0 and judge failures are left out (evaluation/engine.py), and a fatal error (budget, replay
miss, too many judge failures) stops the search instead of scoring 0. Everything else — bootstrap,
proposal, the Optuna TPE search, the seed — is MIPROv2's own code, with its independent steps run at
once (``optimizer/mipro/concurrent.py``): the demo sets, the instruction proposals, and the search's trials
whose choice no score can change (TPE's random start-up trials), evaluated together before the
trials run one after another and find their results.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dspy
import optuna  # here, not when the search starts: importing it holds the interpreter lock for ~0.5 s
import structlog
from dspy.evaluate.evaluate import EvaluationResult as DSPyEvaluationResult
from dspy.teleprompt import mipro_optimizer_v2
from dspy.teleprompt.utils import create_minibatch

from evaluation.engine import EvaluationResult, Evaluator, JudgeFailure
from evaluation.signatures import instruction_of
from gateway.dspy_lm import RunStop, errors_stop_the_run
from gateway.facade import GatewayLoop
from gateway.ledger import Ledger
from optimizer.mipro import stand_ins
from optimizer.mipro.concurrent import (
    ConcurrentGroundedProposer,
    DeferredBootstrap,
    PrefetchingOptuna,
    StopReason,
    predict_trials,
)
from optimizer.output_watch import watch_outputs
from optimizer.studies import StudySink, trial_payload

log = structlog.get_logger("optimizer")


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
    candidate_failures: int  # the program's own output failed: counted as 0 in the score
    judge_failures: int  # the judge's output failed: left out of the score
    reused: bool = False  # the same program on the same examples as an earlier trial: its result, no calls
    prefetched: bool = False  # evaluated ahead, with other trials no score could change (see _prefetch)


@dataclass
class SearchLog:
    """What the search evaluated, in order (the default program first)."""

    trials: list[TrialRecord] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)


ProgressFactory = Callable[[str, int], Callable[[int, int], None]]


class PhasedMIPROv2(mipro_optimizer_v2.MIPROv2):
    """MIPROv2 whose steps are ledger phases and whose evaluations run on our engine.

    Several may run at once in one process, each on its own thread (a sweep's cells): what they put
    in DSPy's place answers each one's own calls (optimizer/mipro/stand_ins.py).
    """

    proposer_class: Callable[..., Any] = ConcurrentGroundedProposer  # stands in for GroundedProposer

    def __init__(
        self,
        *,
        evaluator: Evaluator,
        loop: GatewayLoop,
        ledger: Ledger,
        config: SearchConfig,
        prompt_model: dspy.LM,
        task_model: dspy.LM,
        progress: ProgressFactory | None = None,
        stop_reason: StopReason | None = None,
        studies: StudySink | None = None,
        study: str = "",
        study_attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """``studies``: where the search's study and its trials are recorded, as ``study`` (with
        ``study_attrs`` on it); see optimizer/studies.py."""
        self.evaluator = evaluator
        self.studies = studies
        self.study = study
        self.study_attrs = dict(study_attrs or {})
        # A gateway error that reaches DSPy's bootstrap or proposer (which swallow errors) is kept
        # here: the run stops on it rather than go on with a different demo or candidate set.
        self.run_stop = RunStop()
        gateway_stop: StopReason = stop_reason or (lambda: None)
        self.stop_reason: StopReason = lambda: gateway_stop() or self.run_stop.error
        self.loop = loop
        self.ledger = ledger
        self.config = config
        self.progress = progress
        self.log = SearchLog()
        # Evaluations made (or being made) before any trial asked for them, by program state and
        # examples: the run's own (the baseline's) and repeats of earlier trials (see evaluate_program).
        self._evaluated: dict[str, concurrent.futures.Future[EvaluationResult]] = {}
        # Evaluations started ahead of the trials that will ask for them (see _prefetch).
        self._prefetched: dict[str, concurrent.futures.Future[EvaluationResult]] = {}
        self._search_args: dict[str, Any] = {}
        self.mispredicted = 0  # programs the real study picked that the early prediction did not
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
        # Our engine, proposer and Optuna stand in for DSPy's for calls from this context (other
        # optimizers may run at the same time in this process); MIPROv2's own prints are dropped.
        with stand_ins.dispatching(self._hooks()):
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
        # themselves are bootstrapped afterwards, all at once (see optimizer/mipro/concurrent.py).
        deferred = DeferredBootstrap(stop=self.stop_reason)
        with (
            self.ledger.phase("bootstrap"),
            errors_stop_the_run(self.run_stop),
            watch_outputs(self.run_stop, role="task", step="bootstrapping demonstrations", flag="--model"),
            self._stop_on_what_dspy_swallowed(),
        ):
            with stand_ins.bootstrapping(deferred):
                demo_candidates = super()._bootstrap_fewshot_examples(*args, **kwargs)
            deferred.run()
        return demo_candidates

    def _propose_instructions(self, *args: Any, **kwargs: Any) -> Any:
        with (
            self.ledger.phase("propose"),
            errors_stop_the_run(self.run_stop),
            watch_outputs(self.run_stop, role="prompt", step="proposing instructions", flag="--prompt-model"),
            self._stop_on_what_dspy_swallowed(),
        ):
            candidates = super()._propose_instructions(*args, **kwargs)
        self.log.candidates = list(candidates[0])
        return candidates

    @contextlib.contextmanager
    def _stop_on_what_dspy_swallowed(self) -> Iterator[None]:
        """End a step with the first error recorded in it, whether DSPy swallowed it or let it out.

        What DSPy let out (a proposal it could not parse, say) is raised as the recorded error, which
        names the model, the step and what to try, instead of DSPy's own traceback.
        """
        try:
            yield
        except Exception:
            self.run_stop.raise_if_stopped()
            raise
        self.run_stop.raise_if_stopped()

    def _optimize_prompt_parameters(self, *args: Any, **kwargs: Any) -> Any:
        stock = super()._optimize_prompt_parameters
        self._search_args = dict(inspect.signature(stock).bind(*args, **kwargs).arguments)
        with self.ledger.phase("search"):
            # The trials no score can change start now, beside the baseline's evaluation (the
            # search's first trial, which it waits for).
            self._prefetch(self._value_free_programs(self._stock_study(), self._search_args["num_trials"]))
            try:
                return stock(*args, **kwargs)
            finally:
                # Evaluations no trial asked for (a wrong guess, or a search that stopped early) stop here.
                for unclaimed in self._prefetched.values():
                    unclaimed.cancel()
                self._prefetched.clear()

    def _stock_study(self) -> Any:
        """The study MIPROv2's search starts from, made ahead of it: its sampler, the default program as trial 0.

        The default program's score is not known yet; it does not matter to trials picked at random.
        ``_check_prefetch`` compares what this study predicts with what the real one does.
        """
        program = self._search_args["program"]
        candidates, demos = self._search_args["instruction_candidates"], self._search_args["demo_candidates"]
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=self._search_args["seed"], multivariate=True)
        )
        params = {f"{i}_predictor_instruction": 0 for i in range(len(program.predictors()))}
        if demos:
            params.update({f"{i}_predictor_demos": 0 for i in range(len(program.predictors()))})
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=self._get_param_distributions(program, candidates, demos), value=0.0
            )
        )
        return study

    def _choose(self, trial: Any, number: int) -> dspy.Module:
        """The program MIPROv2's objective builds for ``trial`` (its own selection code, on a copy)."""
        search = self._search_args
        candidate = search["program"].deepcopy()
        self._select_and_insert_instructions_and_demos(
            candidate, search["instruction_candidates"], search["demo_candidates"], trial, {number: {}}, number
        )
        return candidate

    def _value_free_programs(self, study: Any, n_trials: int) -> list[dspy.Module]:
        """The programs of ``study``'s coming trials that no score can change (none with minibatches,
        which draw from MIPROv2's generator at every trial)."""
        if self._search_args.get("minibatch"):
            return []
        return predict_trials(study, n_trials, self._choose)

    def _check_prefetch(self, study: Any, n_trials: int) -> None:
        """As the real study starts: evaluate ahead whatever it will pick that the early prediction missed."""
        missed = self._prefetch(self._value_free_programs(study, n_trials))
        if missed:
            # DSPy starts its search differently from _stock_study: the early evaluations may be wasted.
            self.mispredicted += missed
            log.warning("search.prefetch_mispredicted", programs=missed)

    def _prefetch(self, programs: list[dspy.Module]) -> int:
        """Start evaluating, on the gateway loop and all at once, those of ``programs`` not evaluated or
        started yet; trials collect the results. Returns how many it started."""
        prompts = [ex.prompt for ex in self._search_args["valset"]]
        pending: dict[str, dspy.Module] = {}
        for candidate in programs:
            key = _evaluation_key(candidate, prompts)
            if key not in self._evaluated and key not in self._prefetched:
                pending.setdefault(key, candidate)
        if not pending:
            return 0
        total = len(pending) * len(prompts)
        hook = self.progress(f"{len(pending)} trial programs at once", total) if self.progress else None
        done = [0] * len(pending)

        def progress_of(i: int) -> Callable[[int, int], None]:
            def update(finished: int, _total: int) -> None:
                done[i] = finished
                if hook is not None:
                    hook(sum(done), total)

            return update

        # One window for them all: started together, their first steps would otherwise stall the loop.
        window = self.evaluator.shared_window()
        for i, (key, candidate) in enumerate(pending.items()):
            # Started from this thread, the evaluation carries its context: the search's ledger phase.
            self._prefetched[key] = asyncio.run_coroutine_threadsafe(
                self.evaluator.evaluate(candidate, prompts, progress_of(i), window=window), self.loop.loop
            )
        return len(pending)

    # -- metric and evaluation ------------------------------------------------------------------
    def _bootstrap_metric(self, example: dspy.Example, prediction: dspy.Prediction, trace: Any = None) -> float:
        """Composite score of one prediction (used by bootstrapping, from worker threads)."""
        try:
            judged = self.loop.run(self.evaluator.judge(example.prompt, str(prediction.response)))
        except JudgeFailure:
            return 0.0
        return self.evaluator.weights.composite(judged.scores)

    def remember(
        self,
        program: dspy.Module,
        prompts: list[str],
        result: EvaluationResult | concurrent.futures.Future[EvaluationResult],
    ) -> None:
        """Record an evaluation made elsewhere in the run (the baseline's), done or still running, for the search."""
        if isinstance(result, EvaluationResult):
            done: concurrent.futures.Future[EvaluationResult] = concurrent.futures.Future()
            done.set_result(result)
            result = done
        self._evaluated[_evaluation_key(program, prompts)] = result

    def evaluated(self, program: dspy.Module, prompts: list[str]) -> EvaluationResult | None:
        """The result of evaluating ``program`` on ``prompts`` earlier in the run, if any (waits while it runs)."""
        known = self._evaluated.get(_evaluation_key(program, prompts))
        return known.result() if known is not None else None

    def evaluate_program(self, program: dspy.Module, devset: list[dspy.Example]) -> EvaluationResult:
        trial = len(self.log.trials) + 1
        hook = self.progress(f"trial {trial}/{self.config.num_trials + 1}", len(devset)) if self.progress else None
        prompts = [ex.prompt for ex in devset]
        # TPE samples a candidate again and again; its answers would all come from the cache anyway,
        # so a repeat reuses the first evaluation instead of reading every answer back.
        key = _evaluation_key(program, prompts)
        known = self._evaluated.get(key)
        reused = known is not None
        started = known if known is not None else self._prefetched.pop(key, None)
        prefetched = known is None and started is not None
        if started is None:
            result = self.loop.run(self.evaluator.evaluate(program, prompts, hook))
            self.remember(program, prompts, result)
        else:
            result = started.result()  # a failed evaluation raises here, at its trial's turn
            self._evaluated[key] = started
            if hook is not None:
                hook(len(prompts), len(prompts))
        self.log.trials.append(
            TrialRecord(
                trial=trial,
                instruction=instruction_of(program),
                score=result.percent,
                examples=len(devset),
                full_eval=False,  # set by the caller, which knows the full set size
                candidate_failures=len(result.candidate_failures),
                judge_failures=len(result.judge_failures),
                reused=reused,
                prefetched=prefetched,
            )
        )
        return result

    def _record_study(self, study: Any) -> None:
        """Copy each trial of MIPROv2's study, as it completes, to ``studies`` (the study itself is untouched).

        MIPROv2 adds the default program's score (and, with minibatches, each full evaluation) with
        ``add_trial`` right after evaluating it, and runs the other trials with ``optimize``: each
        trial's record is the evaluation it made, the first one made while it ran.
        """
        sink, name = self.studies, self.study
        if sink is None:
            return
        sink.begin(name, {**self.study_attrs, "candidates": list(self.log.candidates)})
        log = self.log
        add_trial, optimize = study.add_trial, study.optimize
        # Trials are sent in the order of their numbers, so that the stored study numbers them alike: a
        # full evaluation added while a minibatch trial runs (numbered after it) waits for that trial.
        waiting: dict[int, dict[str, Any]] = {}
        sent = [0]

        def send(frozen: Any, record: Any) -> None:
            waiting[frozen.number] = trial_payload(frozen, record)
            while sent[0] in waiting:
                sink.trial(name, waiting.pop(sent[0]))
                sent[0] += 1

        def recorded_add_trial(trial: Any) -> None:
            add_trial(trial)
            send(study.get_trials(deepcopy=False)[-1], log.trials[-1] if log.trials else None)

        records: dict[int, Any] = {}

        def recorded_optimize(func: Any, n_trials: int | None = None, *args: Any, **kwargs: Any) -> None:
            def objective(trial: Any) -> Any:
                first = len(log.trials)
                value = func(trial)
                records[trial.number] = log.trials[first] if len(log.trials) > first else None
                return value

            def completed(_: Any, frozen: Any) -> None:
                send(frozen, records.pop(frozen.number, None))

            callbacks = [*(kwargs.pop("callbacks", None) or []), completed]
            optimize(objective, n_trials, *args, callbacks=callbacks, **kwargs)

        study.add_trial = recorded_add_trial
        study.optimize = recorded_optimize

    def _hooks(self) -> stand_ins.Hooks:
        """What this optimizer puts in place of DSPy's evaluation, proposer and Optuna (mipro/stand_ins.py)."""
        optimizer = self

        class EngineEvaluate:
            """Stands in for ``dspy.Evaluate`` inside MIPROv2."""

            def __init__(self, *, devset: list[dspy.Example], **_: Any) -> None:
                self.devset = devset

            def __call__(
                self, program: dspy.Module, devset: list[dspy.Example] | None = None, **_: Any
            ) -> DSPyEvaluationResult:
                examples = devset if devset is not None else self.devset
                result = optimizer.evaluate_program(program, examples)
                optimizer.log.trials[-1].full_eval = len(examples) >= len(self.devset)
                return DSPyEvaluationResult(score=result.percent, results=[])

        def eval_candidate_program(
            batch_size: int,
            trainset: list[dspy.Example],
            candidate_program: dspy.Module,
            evaluate: Any,
            rng: Any = None,
        ) -> DSPyEvaluationResult:
            # Unlike MIPROv2's own, this lets errors propagate: a failed evaluation is not a score of 0.
            if batch_size >= len(trainset):
                return evaluate(candidate_program, devset=trainset)
            return evaluate(candidate_program, devset=create_minibatch(trainset, batch_size, rng))

        return stand_ins.Hooks(
            evaluate=EngineEvaluate,
            eval_candidate_program=eval_candidate_program,
            proposer=self.proposer_class,
            import_optuna=lambda: PrefetchingOptuna(optuna, self._check_prefetch, self._record_study),
            stop_reason=self.stop_reason,
        )


def _evaluation_key(program: dspy.Module, prompts: list[str]) -> str:
    # The program's whole state (instruction, demos) and the examples decide the answers.
    return json.dumps([program.dump_state(), prompts], sort_keys=True, default=repr)
