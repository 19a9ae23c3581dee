"""MIPROv2's independent sequential stretches, run at the same time with identical results.

Stock MIPROv2 bootstraps its demo sets one after another and proposes its instructions one after
another, although no set and no proposal reads another's result: each only draws from the shared
random generator before it starts. The stand-ins here let MIPROv2's own loops run unchanged, in
order, making every draw from that generator in the stock order; each stand-in records the work
instead of doing it and returns a placeholder, and the recorded work then runs on threads
(``run_concurrently``) and fills the placeholders in.

Its search evaluates one trial after another too, although Optuna's TPE picks its first trials
(ten by default) at random from its own seeded generator, never from a score: ``predict_trials``
draws those picks ahead on a copy of the sampler, so their programs can be evaluated together
before the trials, run one after another as written, ask for them.

The requests are the same ones the sequential code sends, so the cache, the results and the
artifact do not change; only the wall time does.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import copy
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dspy.propose import GroundedProposer
from dspy.teleprompt.bootstrap import BootstrapFewShot

T = TypeVar("T")


def run_concurrently(jobs: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``jobs`` on threads, each in a copy of the caller's context; results in order.

    The context copy carries DSPy's settings (``dspy.context``) and the ledger phase into each
    thread. Every job runs to its end; the first failure in job order is raised.
    """
    if len(jobs) <= 1:
        return [job() for job in jobs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="mipro") as pool:
        futures = [pool.submit(contextvars.copy_context().run, job) for job in jobs]
        concurrent.futures.wait(futures)
    return [future.result() for future in futures]


# -- bootstrap ------------------------------------------------------------------------------------
@dataclass
class _PendingSet:
    options: dict[str, Any]
    student: Any
    teacher: Any
    trainset: list[Any]
    demos: list[list[Any]]  # one list per predictor, filled in place when the set is bootstrapped


StopReason = Callable[[], BaseException | None]


@dataclass
class DeferredBootstrap:
    """Stands in for ``BootstrapFewShot`` in ``create_n_fewshot_demo_sets``: records each set to bootstrap.

    ``stop`` names the error that ends the run (a spent budget, a replay miss), if any. DSPy's
    bootstrap catches and logs every failed example and moves on to the next; once the run is
    ending, each set stops before its next example instead (and the optimizer drops DSPy's log
    lines about it), so the run reports its one error once.
    """

    stop: StopReason = lambda: None
    pending: list[_PendingSet] = field(default_factory=list)

    def __call__(self, **options: Any) -> _DeferredCompile:
        return _DeferredCompile(self, options)

    def run(self) -> None:
        """Bootstrap every recorded set at once and put each set's demos where MIPROv2 already holds them."""
        stop = self.stop

        class StoppingBootstrap(BootstrapFewShot):
            def _bootstrap_one_example(self, example: Any, round_idx: int = 0) -> Any:
                reason = stop()
                if reason is not None:
                    raise reason
                return super()._bootstrap_one_example(example, round_idx)

        def job(item: _PendingSet) -> Callable[[], None]:
            def bootstrap() -> None:
                program = StoppingBootstrap(**item.options).compile(
                    item.student, teacher=item.teacher, trainset=item.trainset
                )
                for slot, predictor in zip(item.demos, program.predictors(), strict=True):
                    slot.extend(predictor.demos)

            return bootstrap

        pending, self.pending = self.pending, []
        # Inside an optimizer the sets draw no tqdm bars and, once the run is ending, log no
        # per-example failures (optimizer/mipro/stand_ins.py): the run reports progress and its error itself.
        run_concurrently([job(item) for item in pending])


class _DeferredCompile:
    def __init__(self, owner: DeferredBootstrap, options: dict[str, Any]) -> None:
        self._owner = owner
        self._options = options

    def compile(self, student: Any, *, teacher: Any = None, trainset: list[Any]) -> _Placeholder:
        # MIPROv2 has already shuffled this copy of the train set with its generator; keep the order.
        demos: list[list[Any]] = [[] for _ in student.predictors()]
        self._owner.pending.append(_PendingSet(self._options, student, teacher, list(trainset), demos))
        return _Placeholder(demos)


class _Placeholder:
    """What ``create_n_fewshot_demo_sets`` reads from a compiled program: its predictors' demo lists."""

    def __init__(self, demos: list[list[Any]]) -> None:
        self._predictors = [_DemoSlot(slot) for slot in demos]

    def predictors(self) -> list[_DemoSlot]:
        return self._predictors


@dataclass
class _DemoSlot:
    demos: list[Any]


# -- proposal -------------------------------------------------------------------------------------
class _OneDraw:
    """The generator a deferred proposal sees: the rollout id MIPROv2 drew for it, in stock order."""

    def __init__(self, rollout_id: int) -> None:
        self._rollout_id: int | None = rollout_id

    def randint(self, low: int, high: int) -> int:
        if self._rollout_id is None:
            raise RuntimeError("a deferred proposal drew from the generator twice; DSPy's proposer changed")
        value, self._rollout_id = self._rollout_id, None
        return value

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"a deferred proposal used rng.{name}; DSPy's proposer changed")


class ConcurrentGroundedProposer(GroundedProposer):
    """``GroundedProposer`` that asks for every candidate instruction at once.

    The dataset summary (made in ``__init__``, each call building on the last) stays sequential.
    ``propose_instructions_for_program`` walks the candidates as stock DSPy does, drawing each one's
    tip and rollout id in order; the proposals themselves then run concurrently, each on a frozen
    copy of the proposer's state as it was at its turn.
    """

    def propose_instructions_for_program(
        self, trainset: Any, program: Any, demo_candidates: Any, trial_logs: Any, N: int
    ) -> dict[int, list[str]]:
        self._deferred: list[Callable[[], str]] = []
        proposed = super().propose_instructions_for_program(trainset, program, demo_candidates, trial_logs, N)
        answers = iter(run_concurrently(self._deferred))
        self._deferred = []
        return {pred_i: [next(answers) for _ in texts] for pred_i, texts in proposed.items()}

    def propose_instruction_for_predictor(
        self,
        program: Any,
        predictor: Any,
        pred_i: int,
        demo_candidates: Any,
        demo_set_i: int,
        trial_logs: Any,
        tip: Any = None,
    ) -> str:
        # The stock method draws exactly one number from the generator: the rollout id. Draw it now.
        frozen = _frozen_copy(self)
        frozen.rng = _OneDraw(self.rng.randint(0, 10**9))
        stock = GroundedProposer.propose_instruction_for_predictor

        def propose() -> str:
            instruction: str = stock(
                frozen,
                program=program,
                predictor=predictor,
                pred_i=pred_i,
                demo_candidates=demo_candidates,
                demo_set_i=demo_set_i,
                trial_logs=trial_logs,
                tip=tip,
            )
            return instruction

        self._deferred.append(propose)
        return f"<deferred proposal {len(self._deferred)}>"


def _frozen_copy(proposer: GroundedProposer) -> GroundedProposer:
    clone = object.__new__(type(proposer))
    clone.__dict__.update(proposer.__dict__)
    return clone


# -- search ---------------------------------------------------------------------------------------
def value_free_trials(sampler: Any, completed: int, n_trials: int) -> int:
    """How many of the next ``n_trials`` trials ``sampler`` picks without looking at any score.

    A random sampler never looks; TPE samples at random until ``n_startup_trials`` trials are
    complete (DSPy's MIPROv2 uses Optuna's default of 10, and the default program is the first). Any
    other sampler, or a TPE sampler whose start-up count cannot be read, is assumed to look at once.
    """
    import optuna

    if type(sampler) is optuna.samplers.RandomSampler:
        return n_trials
    if type(sampler) is optuna.samplers.TPESampler:
        startup = getattr(sampler, "_n_startup_trials", None)
        if isinstance(startup, int):
            return max(0, min(n_trials, startup - completed))
    return 0


Choose = Callable[[Any, int], Any]  # (an Optuna trial, its 1-based number) -> the program it evaluates


def predict_trials(study: Any, n_trials: int, choose: Choose) -> list[Any]:
    """The programs the next trials of ``study`` will evaluate, as far as no score can change them.

    A copy of the study, with a copy of its sampler in the same state, asks for each trial and is
    told a placeholder score; while the sampler is value-free (``value_free_trials``) the copy draws
    exactly what the real study will draw, whatever the real scores turn out to be.
    """
    import optuna

    if len(study.directions) != 1:
        return []
    counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    completed = len(study.get_trials(deepcopy=False, states=counted))
    count = value_free_trials(study.sampler, completed, n_trials)
    if count == 0:
        return []
    shadow = optuna.create_study(direction=study.direction, sampler=copy.deepcopy(study.sampler))
    shadow.add_trials(study.get_trials(deepcopy=True))
    programs = []
    for _ in range(count):
        trial = shadow.ask()
        programs.append(choose(trial, trial.number + 1))
        shadow.tell(trial, 0.0)
    return programs


class PrefetchingOptuna:
    """Optuna as MIPROv2 imports it, except that each study first hands its value-free trials to ``prefetch``.

    ``prefetch(study, n_trials)`` runs before ``study.optimize`` starts its first trial; the trials
    themselves then run as written, one after another. ``observe(study)``, if given, sees each study
    as it is created (the run records its trials).
    """

    def __init__(
        self,
        optuna: types.ModuleType,
        prefetch: Callable[[Any, int], None],
        observe: Callable[[Any], None] | None = None,
    ) -> None:
        self._optuna = optuna
        self._prefetch = prefetch
        self._observe = observe

    def __getattr__(self, name: str) -> Any:
        return getattr(self._optuna, name)

    def create_study(self, *args: Any, **kwargs: Any) -> Any:
        study = self._optuna.create_study(*args, **kwargs)
        optimize = study.optimize
        prefetch = self._prefetch

        def optimize_after_prefetch(func: Any, n_trials: int | None = None, *o_args: Any, **o_kwargs: Any) -> None:
            if n_trials:
                prefetch(study, n_trials)
            optimize(func, n_trials, *o_args, **o_kwargs)

        study.optimize = optimize_after_prefetch
        if self._observe is not None:
            self._observe(study)
        return study
