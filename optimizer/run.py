"""One optimization run, end to end: data, backend, baseline, the optimizer's search, held-out test, artifacts.

Everything here is what any optimizer's run needs; the optimizer itself (MIPROv2, ``optimizer/mipro/``)
is built from a ``SearchSetup`` and driven through ``InstructionSearch`` (``optimizer/search.py``), so a
second one arrives as a sibling package of ``optimizer/mipro/`` and a case in ``make_search``.

Over 500 lines on purpose: a run's steps in their order, from the data to the artifacts; what is an
optimizer's own lives in its package.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import hashlib
import json
import platform
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import dspy
import structlog

from cache import CachePolicy, ResponseCache, default_cache_dir
from evaluation.data import DEFAULT_SUBSET, LoadedData, Row, Splits, read_rows, split_rows
from evaluation.engine import EvaluationResult, Evaluator, ModelOutputError, judged_as_dict, root_gateway_error
from evaluation.metric import DEFAULT_WEIGHTS, MetricWeights
from evaluation.signatures import ATTRIBUTES, BASELINE_INSTRUCTION, Generator, instruction_of
from evaluation.stats import GatePolicy, test_report
from evaluation.structured import adapter_settings
from gateway.errors import GatewayError, PriceUnknown
from gateway.ledger import Ledger
from gateway.limits import RateLimits
from gateway.pricing import PriceBook, price_of
from gateway.retry import RetryPolicy
from gateway.runtime import GatewaySettings, Runtime
from gateway.shared.target import RedisTarget, redact_url
from gateway.slots import background_calls
from gateway.types import Endpoint
from optimizer.answer_limits import AnswerLimit, answer_limits
from optimizer.artifacts import point_latest, write_atomically, write_json
from optimizer.backend import Backend, open_backend
from optimizer.estimate import (
    MIPRO_FOOTNOTE,
    PhaseEstimate,
    approximate_prompt_tokens,
    estimate_run,
    format_estimate,
    mean_prompt_tokens,
)
from optimizer.gepa.config import GEPAConfig
from optimizer.gepa.entry import GEPASearch
from optimizer.gepa.estimate import GEPA_FOOTNOTE, estimate_gepa_run
from optimizer.mipro.entry import MIPROv2Search
from optimizer.mipro.phased import SearchConfig
from optimizer.progress import Progress
from optimizer.report import write_report
from optimizer.search import InstructionSearch, SearchSetup
from optimizer.structured_outputs import decide as decide_structured
from optimizer.studies import ProcessStudies, StudyTarget, close_studies, storage_url

log = structlog.get_logger("optimizer")

EXAMPLES_PER_SLOT = 2


class RunError(Exception):
    """A run could not complete for a reason the user can act on (one line)."""


@dataclass(frozen=True)
class RunConfig:
    """Every option of a run; validated by the CLI before it gets here."""

    dataset: str = "nvidia/HelpSteer2"
    subset: str = DEFAULT_SUBSET  # "middle" (helpfulness 2-3) or "high" (helpfulness 4)
    skip_bad_rows: bool = False
    seed: int = 42
    train_size: int = 160
    dev_size: int = 40
    test_size: int = 100
    search: SearchConfig = field(default_factory=SearchConfig)
    weights: MetricWeights = DEFAULT_WEIGHTS
    gate: GatePolicy = field(default_factory=GatePolicy)
    max_failure_share: float = 0.10
    model: str | None = None  # None: the Azure deployment in the environment, else the simulator
    prompt_model: str | None = None
    judge_model: str | None = None
    api_base: str | None = None
    price_model: str | None = None
    concurrency: int = 16
    rpm: float | None = None
    tpm: float | None = None
    max_wait_s: float = RetryPolicy().max_wait_s
    max_cost_usd: float | None = None
    cache_dir: Path | None = None
    policy: CachePolicy = CachePolicy.READ_WRITE
    out_dir: Path | None = None
    runs_dir: Path = Path("runs")
    sim_latency_ms: float | None = None
    dry_run: bool = False
    transport: str = "auto"  # "auto" (direct HTTP where it applies) or "litellm"
    # "auto": probe self-hosted endpoints and use JSON schemas where enforced; "on"; "off" (stock DSPy)
    structured_outputs: str = "auto"
    local_model: Path | None = None  # a GGUF file served by llama.cpp's server for all three roles
    # Where the search's trials are stored: None, a SQLite file in the run directory; "none", nowhere;
    # else an SQLAlchemy URL (optimizer/studies.py).
    optuna_storage: str | None = None
    run_id: str | None = None  # None: made from the time and the configuration
    redis: RedisTarget | None = None  # shared cache, limits and (with budget_name) budget
    budget_name: str | None = None
    optimizer: str = "mipro"  # "mipro" (config.search) or "gepa" (config.gepa)
    gepa: GEPAConfig = field(default_factory=GEPAConfig)
    reflection_model: str | None = None  # GEPA's reflection model; None: the prompt model

    def public(self) -> dict[str, Any]:
        """The configuration as JSON data (no secrets live here)."""
        data = asdict(self)
        if self.optimizer == "mipro":  # MIPROv2's configuration, and so its run id, as before GEPA came
            for key in ("optimizer", "gepa", "reflection_model"):
                del data[key]
        data["policy"] = self.policy.value
        if self.optuna_storage is not None:
            data["optuna_storage"] = redact_url(self.optuna_storage)  # a database URL may hold a password
        data["redis"] = self.redis.display if self.redis is not None else None  # never the password
        for key in ("cache_dir", "out_dir", "runs_dir", "local_model"):
            data[key] = str(data[key]) if data[key] is not None else None
        return data


@dataclass
class RunOutcome:
    run_dir: Path | None
    results: dict[str, Any]
    ledger: dict[str, Any]


# -- helpers -----------------------------------------------------------------------------------------
def _examples(rows: list[Row]) -> list[dspy.Example]:
    return [dspy.Example(prompt=r.prompt, response=r.response).with_inputs("prompt") for r in rows]


def _failed(result: EvaluationResult) -> dict[str, int]:
    """Failures by kind: the program's own output (counted as 0) and the judge's (left out)."""
    return {"candidate": len(result.candidate_failures), "judge": len(result.judge_failures)}


def _run_id(config: RunConfig) -> str:
    """A new run's id: the time and the configuration's digest (its directory under runs/). A run given
    its directory (``--out``) is named by it and the digest instead, so that running the same command
    again (to resume) is the same run, whose study in the Optuna storage it replaces."""
    digest = hashlib.sha256(json.dumps(config.public(), sort_keys=True).encode()).hexdigest()[:6]
    if config.out_dir is not None:
        return f"{config.out_dir.name}-{digest}"
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S-") + digest


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    for package in ("dspy", "litellm", "optuna", "diskcache", "tenacity"):
        found[package] = version(package)
    return found


def check_run_dir(config: RunConfig, run_id: str) -> Path:
    """The run's output directory, created and checked writable (RunError if not)."""
    run_dir = config.out_dir or (config.runs_dir / run_id)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in run_dir.glob(".*.tmp"):  # left by a run killed mid-write; its target is intact
            stale.unlink()
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"cannot write to output directory {run_dir}: {exc.strerror or exc}") from None
    return run_dir


# -- the run -----------------------------------------------------------------------------------------
def load_splits(
    config: RunConfig, progress: Progress, *, loaded: LoadedData | None = None
) -> tuple[LoadedData, Splits]:
    """The run's rows and its train/dev/test splits (``loaded``: rows already read from ``config.dataset``)."""
    if loaded is None:
        loaded = read_rows(config.dataset, skip_bad_rows=config.skip_bad_rows, note=progress.note)
        if loaded.skipped:
            progress.note(f"skipped {loaded.skipped} bad rows")
    return loaded, split_rows(loaded, config)


def recorded_prices(config: RunConfig, backend: Backend) -> PriceBook:
    """The price book as a run starts: served models noted in an existing cache; nothing is written."""
    book = PriceBook()
    directory = config.cache_dir or default_cache_dir()
    if config.policy is not CachePolicy.OFF and (directory / "cache.db").exists():
        with ResponseCache(directory) as cache:

            async def recall() -> None:
                for endpoint in backend.roles:
                    await book.recall(cache, endpoint)

            asyncio.run(recall())
    return book


def shared_prices(runtime: Runtime, backend: Backend) -> PriceBook:
    """The gateway's own price book with the notes of its cache store read in (a shared one included)."""
    prices = runtime.gateway.prices

    async def recall() -> None:
        for endpoint in backend.roles:
            await prices.recall(runtime.cache, endpoint)

    runtime.loop.run(recall())
    return prices


def check_prices(
    config: RunConfig, backend: Backend, prices: PriceBook | None = None, *, capped: bool | None = None
) -> None:
    """Before any call: a --price-model must be priced, and under a cap (``--max-cost``, or ``capped``)
    every role needs a price. Raises ``PriceUnknown``: one line naming --price-model."""
    prices = prices if prices is not None else recorded_prices(config, backend)
    capped = config.max_cost_usd is not None if capped is None else capped
    for endpoint in backend.roles:
        if capped or (endpoint.price_model and price_of(endpoint.price_model) is None):
            prices.require(endpoint)


def estimate_for(
    config: RunConfig, splits: Splits, backend: Backend, prices: PriceBook | None = None
) -> list[PhaseEstimate]:
    """The pre-run estimate of one run (calls, tokens, cost, minutes per phase), priced as the run will be."""
    prices = prices if prices is not None else recorded_prices(config, backend)
    prompts = [r.prompt for r in splits.train]
    if config.policy is CachePolicy.REPLAY:
        # A replay sends and spends nothing: what a live run would cost is counted roughly rather than
        # load the tokenizer for it (half a second, a fifth of a replay's wall time).
        prompt_tokens = approximate_prompt_tokens(prompts)
    else:
        # Counted as the budget counts the task model's prompts: dense text is not under-estimated.
        prompt_tokens = mean_prompt_tokens(prompts, prices.pricing_name(backend.task) or backend.task.model)
    if config.optimizer == "gepa":
        return estimate_gepa_run(
            config.gepa,
            dev_size=len(splits.dev),
            test_size=len(splits.test),
            mean_prompt_tokens=prompt_tokens,
            task_price=prices.price(backend.task),
            judge_price=prices.price(backend.judge),
            reflection_price=prices.price(backend.reflector),
            concurrency=config.concurrency,
            call_latency_s=backend.mean_latency_s,
        )
    return estimate_run(
        train_size=len(splits.train),
        dev_size=len(splits.dev),
        test_size=len(splits.test),
        num_candidates=config.search.num_candidates,
        num_trials=config.search.num_trials,
        mean_prompt_tokens=prompt_tokens,
        task_price=prices.price(backend.task),
        judge_price=prices.price(backend.judge),
        prompt_price=prices.price(backend.prompt),
        concurrency=config.concurrency,
        call_latency_s=backend.mean_latency_s,
        minibatch=config.search.minibatch,
    )


def gateway_settings(config: RunConfig) -> GatewaySettings:
    """The gateway a run makes its calls through."""
    settings = GatewaySettings(
        concurrency=config.concurrency,
        cache_dir=config.cache_dir,
        policy=config.policy,
        limits=RateLimits(rpm=config.rpm, tpm=config.tpm),
        max_cost_usd=config.max_cost_usd,
        seed=config.seed,
        transport=config.transport,
        redis=config.redis,
        budget_name=config.budget_name,
    )
    return replace(settings, retry=replace(settings.retry, max_wait_s=config.max_wait_s))


SIMULATED_NOTE = (
    "*** SIMULATED BACKEND: answers come from the embedded LLM simulator, not a real model. "
    "Scores show the optimizer working, not GPT-4o quality. ***"
)


def run_optimization(
    config: RunConfig, *, progress: Progress | None = None, on_run_dir: Callable[[Path], None] | None = None
) -> RunOutcome:
    """Optimize the generator's instruction and write the run's artifacts; raises RunError/GatewayError.

    ``on_run_dir`` is called with the run directory once it exists, before any call is made (tracking).
    """
    progress = progress or Progress(enabled=False)
    loaded, splits = load_splits(config, progress)
    progress.note("data: " + " -> ".join(f"{step} {count}" for step, count in splits.counts))

    with open_backend(
        config.model,
        prompt_model=config.prompt_model,
        judge_model=config.judge_model,
        api_base=config.api_base,
        price_model=config.price_model,
        sim_latency_ms=config.sim_latency_ms,
        reflection_model=config.reflection_model,
        local_model=config.local_model,
        concurrency=config.concurrency,
        replay=config.policy is CachePolicy.REPLAY,
    ) as backend:
        if backend.name == "simulator":
            progress.note(SIMULATED_NOTE)
        elif backend.banner:
            progress.note(backend.banner)
        prices = recorded_prices(config, backend)
        unpriced: PriceUnknown | None = None
        try:
            check_prices(config, backend, prices)
        except PriceUnknown as exc:
            if config.redis is None or config.dry_run:
                raise
            unpriced = exc  # the shared cache, opened with the runtime, may hold the note: look there first
        estimate = estimate_for(config, splits, backend, prices)
        footnote = GEPA_FOOTNOTE if config.optimizer == "gepa" else MIPRO_FOOTNOTE
        progress.note(format_estimate(estimate, concurrency=config.concurrency, footnote=footnote))
        estimate_total_usd = sum(r.cost_usd or 0.0 for r in estimate)
        if config.max_cost_usd is not None and estimate_total_usd > config.max_cost_usd:
            progress.note(
                f"note: the estimate (${estimate_total_usd:.2f}) exceeds --max-cost "
                f"(${config.max_cost_usd:.2f}); the run will stop when the cap is reached "
                "(cached answers cost nothing)"
            )
        if config.dry_run:
            return RunOutcome(None, {"estimate": [asdict(r) for r in estimate]}, {})
        run_id = config.run_id or _run_id(config)
        # A storage the user named must open before anything is written or called (the helper process
        # says whether it did); the default, a file in the run directory, is not waited for.
        named = config.optuna_storage is not None
        url = storage_url(config.optuna_storage, Path(".")) if named else None
        studies = ProcessStudies(url, wait_ready=True) if url is not None else None
        try:
            run_dir = check_run_dir(config, run_id)
            if on_run_dir is not None:
                on_run_dir(run_dir)
            if not named:
                url = storage_url(None, run_dir)
                studies = ProcessStudies(url, wait_ready=False) if url is not None else None
            study = StudyTarget(studies, run_id, redact_url(url)) if studies is not None and url else None
            with Runtime(gateway_settings(config)) as runtime:
                if config.redis is not None:
                    progress.note(
                        f"shared state: Redis at {config.redis.display} (namespace {config.redis.namespace!r})"
                    )
                if unpriced is not None:
                    check_prices(config, backend, shared_prices(runtime, backend))  # still before any call
                try:
                    return execute_run(
                        config,
                        runtime,
                        runtime.ledger,
                        backend,
                        splits,
                        loaded,
                        run_dir,
                        progress,
                        run_id=run_id,
                        study=study,
                    )
                finally:
                    if config.budget_name is not None:
                        shared = runtime.budget.as_dict()
                        progress.note(
                            f"shared budget {config.budget_name!r}: ${shared['spent_usd']:.4f} spent by all workers "
                            f"of its ${shared['max_cost_usd']:.4f} cap "
                            f"(scripts/ledger.py --budget-name {config.budget_name})"
                        )
        finally:
            close_studies(studies, log.warning)


def execute_run(
    config: RunConfig,
    runtime: Runtime,
    ledger: Ledger,
    backend: Backend,
    splits: Splits,
    loaded: LoadedData,
    run_dir: Path,
    progress: Progress,
    *,
    run_id: str,
    study: StudyTarget | None = None,
) -> RunOutcome:
    """The run itself, on a gateway it may share with other runs; its calls are recorded in ``ledger``.

    Writes every output into ``run_dir``: ``ledger.json`` even when the run stops early (budget,
    replay miss, failures), the report once the ledger exists. ``study``: where the search's trials
    are recorded (as the study named ``run_id``).
    """
    with _ledger_then_report(run_dir, ledger):
        # Each role asks for what it produces (a quota is charged max_tokens on arrival); the train split
        # sizes the generations, so the same data always gives the same requests.
        limits = answer_limits(splits.train)

        def lm(endpoint: Endpoint, limit: AnswerLimit) -> dspy.LM:
            return runtime.lm(
                endpoint, temperature=0.0, max_tokens=limit.max_tokens, retry_max_tokens=limit.retry_max_tokens
            )

        # What stops this run: a run-wide fatal error, or one of an endpoint it uses (another run
        # sharing the gateway may have hit it; a sweep's cells on other endpoints go on).
        identities = (backend.task.identity, backend.prompt.identity, backend.judge.identity)
        task_lm = lm(backend.task, limits.generation)
        judge_lm = lm(backend.judge, limits.judge)
        prompt_lm = lm(backend.prompt, limits.proposer)
        structured = runtime.loop.run(
            decide_structured(
                config.structured_outputs,
                {"task": backend.task, "prompt": backend.prompt, "judge": backend.judge},
                backend.name,
                runtime.gateway,
                on_probe=lambda: ledger.phase("probe"),
            )
        )
        for line in structured.lines():
            progress.note(line)
        dspy_settings = adapter_settings(structured.structured)  # empty: stock DSPy's requests
        # Twice the concurrency in examples keeps every call slot fed (an example has one call in flight,
        # then five) without a burst of prompt formatting that stalls the loop (evaluation/engine.py).
        evaluator = Evaluator(
            task_lm,
            judge_lm,
            weights=config.weights,
            max_failure_share=config.max_failure_share,
            examples_in_flight=EXAMPLES_PER_SLOT * config.concurrency,
            dspy_settings=dspy_settings,
        )
        baseline = Generator()
        dev_prompts = [r.prompt for r in splits.dev]
        test_prompts = [r.prompt for r in splits.test]

        def evaluate(phase: str, label: str, program: dspy.Module, prompts: list[str]) -> EvaluationResult:
            with ledger.phase(phase):
                return runtime.loop.run(evaluator.evaluate(program, prompts, progress.bar(phase, label, len(prompts))))

        # The search's first trial is the baseline on dev: it needs that result as soon as it exists,
        # not the baseline's test score, which is only reported at the end.
        baseline_dev_ready: concurrent.futures.Future[EvaluationResult] = concurrent.futures.Future()

        def publish_dev(task: asyncio.Future[EvaluationResult]) -> None:
            if task.cancelled():
                baseline_dev_ready.cancel()
            elif task.exception() is not None:
                baseline_dev_ready.set_exception(task.exception())
            else:
                baseline_dev_ready.set_result(task.result())

        async def evaluate_baseline() -> tuple[EvaluationResult, EvaluationResult | None]:
            # Background priority: MIPROv2's one-after-another bootstrap and proposal calls go first.
            with ledger.phase("baseline_eval"), background_calls():
                window = evaluator.shared_window()  # dev's examples first, then test's

                async def baseline_on(split: str, prompts: list[str]) -> EvaluationResult:
                    result = await evaluator.evaluate(
                        baseline,
                        prompts,
                        progress.bar("baseline_eval", f"baseline {split}", len(prompts)),
                        window=window,
                    )
                    _check_task_model(result, backend.task.model, config.max_failure_share, split)
                    return result

                dev = asyncio.ensure_future(baseline_on("dev", dev_prompts))
                dev.add_done_callback(publish_dev)
                if not test_prompts:
                    return await dev, None
                test = baseline_on("test", test_prompts)
                dev_result, test_result = await asyncio.gather(dev, test)
                return dev_result, test_result

        # The baseline's evaluations need nothing from MIPROv2, whose bootstrap and proposal leave most
        # call slots idle: they run together, at a lower priority. The search starts once the baseline
        # is scored on dev (its first trial is that evaluation); the baseline's test evaluation goes on
        # filling idle slots while the search and the winner's test evaluation run. Results do not
        # depend on the overlap: every request is the same one, answered once and cached.
        baselines = asyncio.run_coroutine_threadsafe(evaluate_baseline(), runtime.loop.loop)
        try:
            setup = SearchSetup(
                evaluator=evaluator,
                loop=runtime.loop,
                ledger=ledger,
                prompt_model=prompt_lm,
                task_model=task_lm,
                progress=lambda label, total: progress.bar("search", label, total),
                note=progress.note,
                stop_reason=lambda: runtime.gateway.fatal_for(identities),
                studies=study.sink if study is not None else None,
                study=run_id,
                study_attrs={
                    "run_id": run_id,
                    "subset": config.subset,
                    "seed": config.seed,
                    "backend": backend.name,
                    "task_model": backend.task.model,
                    "prompt_model": backend.prompt.model,
                    "judge_model": backend.judge.model,
                    "dev_examples": len(dev_prompts),
                },
                reflection_model=(
                    runtime.lm(backend.reflector, temperature=0.0, max_tokens=config.gepa.reflection_max_tokens)
                    if config.optimizer == "gepa"
                    else None
                ),
            )
            optimizer = make_search(setup, config)
            optimizer.remember(baseline, dev_prompts, baseline_dev_ready)  # the search's first trial
            with dspy.context(**dspy_settings) if dspy_settings else contextlib.nullcontext():
                optimized = optimizer.optimize(baseline, _examples(splits.train), _examples(splits.dev))
            stopped = runtime.gateway.fatal_for(identities)
            if stopped is not None:
                raise stopped
            with ledger.phase("final_eval"):
                # The winner was evaluated on dev during the search: that result is its dev score.
                optimized_dev = optimizer.evaluated(optimized, dev_prompts)
                if optimized_dev is not None:
                    progress.bar("final_eval", "optimized dev", len(dev_prompts))(len(dev_prompts), len(dev_prompts))
            if optimized_dev is None:
                optimized_dev = evaluate("final_eval", "optimized dev", optimized, dev_prompts)
            optimized_test = evaluate("test_eval", "optimized test", optimized, test_prompts) if test_prompts else None
            baseline_dev, baseline_test = baselines.result()
        except Exception as exc:
            baselines.cancel()
            fatal = runtime.gateway.fatal_for(identities)
            if fatal is not None:
                raise fatal from None
            # DSPy wraps engine errors in its own; report the gateway's (e.g. retries exhausted) instead.
            root = root_gateway_error(exc)
            if root is not None and root is not exc:
                raise root from None
            raise

        results = _results(
            runtime.gateway.prices,
            config,
            backend,
            splits,
            loaded,
            optimizer,
            baseline,
            optimized,
            baseline_dev,
            optimized_dev,
            baseline_test,
            optimized_test,
            ledger.as_dict(),
        )
        results["run_id"] = run_id
        if config.optimizer == "gepa":  # the reflection role's model, priced as its calls were
            results["models"]["reflection"] = backend.reflector.model
            results["models"]["priced_as"]["reflection"] = runtime.gateway.prices.pricing_name(backend.reflector)
        results["structured_outputs"] = structured.as_dict()
        results["optuna_study"] = study.as_dict() if study is not None else None
        _write_outputs(run_dir, config, optimized, results, baseline_dev, optimized_dev, baseline_test, optimized_test)
        return RunOutcome(run_dir, results, ledger.as_dict())


@contextlib.contextmanager
def _ledger_then_report(run_dir: Path, ledger: Ledger) -> Iterator[None]:
    """Write ``ledger.json`` when the block ends, however it ends; then, if it succeeded, ``report.html``."""
    try:
        yield
    finally:
        write_json(run_dir / "ledger.json", ledger.as_dict())
    write_report(run_dir)  # after ledger.json exists: the report shows calls and cost per phase


def make_search(setup: SearchSetup, config: RunConfig) -> InstructionSearch:
    """The run's optimizer, chosen by its configuration: MIPROv2 (``config.search``) or GEPA (``config.gepa``)."""
    if config.optimizer == "gepa":
        assert setup.reflection_model is not None
        return GEPASearch(setup, config.gepa, setup.reflection_model)
    return MIPROv2Search(setup, config.search)


def _check_task_model(result: EvaluationResult, model: str, max_share: float, split: str) -> None:
    """Stop when the task model cannot follow the format with the unoptimized instruction itself.

    A candidate's unparsable generation counts as 0 against it; the baseline's, beyond the share the
    judge is allowed too, means the model cannot do the task as asked, and every score would be noise.
    """
    failed = len(result.unparsable_generations)
    if result.examples and failed / len(result.examples) > max_share:
        example = result.unparsable_generations[0].failure or ""
        raise ModelOutputError(
            role="task",
            model=model,
            step=f"answering the {split} prompts with the baseline instruction",
            detail=f"{failed} of {len(result.examples)} answers unparsable, e.g. {example}",
            flag="--model",
        )


def _results(
    prices: PriceBook,
    config: RunConfig,
    backend: Backend,
    splits: Splits,
    loaded: LoadedData,
    optimizer: InstructionSearch,
    baseline: dspy.Module,
    optimized: dspy.Module,
    baseline_dev: EvaluationResult,
    optimized_dev: EvaluationResult,
    baseline_test: EvaluationResult | None,
    optimized_test: EvaluationResult | None,
    ledger: dict[str, Any],
) -> dict[str, Any]:
    def split_report(base: EvaluationResult | None, opt: EvaluationResult | None) -> dict[str, Any] | None:
        if base is None or opt is None:
            return None
        return {
            "baseline": base.percent,
            "optimized": opt.percent,
            "improvement": round(opt.percent - base.percent, 2),
            "per_attribute": {
                a: {"baseline": base.per_attribute.get(a), "optimized": opt.per_attribute.get(a)} for a in ATTRIBUTES
            },
            # candidate failures count as 0 in the scores; judge failures are left out of them
            "failed": {"baseline": _failed(base), "optimized": _failed(opt)},
            "examples": len(base.examples),
        }

    test = split_report(baseline_test, optimized_test)
    if test is not None and baseline_test is not None and optimized_test is not None:
        # Paired bootstrap interval of the held-out improvement and the release gate's verdict.
        test.update(
            test_report(
                [judged_as_dict(e) for e in baseline_test.examples],
                [judged_as_dict(e) for e in optimized_test.examples],
                seed=config.seed,
                policy=config.gate,
                weights=config.weights,
            )
        )
    failures = [
        {"split": split, "program": program, "index": e.index, "kind": e.failure_kind, "reason": e.failure}
        for split, program, result in (
            ("dev", "baseline", baseline_dev),
            ("dev", "optimized", optimized_dev),
            ("test", "baseline", baseline_test),
            ("test", "optimized", optimized_test),
        )
        if result is not None
        for e in result.failures
    ]
    total = ledger["total"]
    return {
        # The seed's keys: scores in percent (0-100) on the dev set.
        "baseline_score": baseline_dev.percent,
        "optimized_score": optimized_dev.percent,
        "improvement": round(optimized_dev.percent - baseline_dev.percent, 2),
        "original_signature": {"instructions": instruction_of(baseline), "fields": ["prompt", "response"]},
        "optimized_signature": {"instructions": instruction_of(optimized), "fields": ["prompt", "response"]},
        "token_usage": {
            "prompt_tokens": total["prompt_tokens"],
            "completion_tokens": total["completion_tokens"],
            "live_calls": total["live_calls"],
            "cached_calls": total["cached_calls"],
            "cost_usd": total["cost_usd"] if total["cost_known"] else None,
        },
        "dev": split_report(baseline_dev, optimized_dev),
        "test": test,
        **optimizer.results(),  # the optimizer's own: its trials and candidates
        "failures": failures,
        "backend": backend.name,
        "models": {
            "task": backend.task.model,
            "prompt": backend.prompt.model,
            "judge": backend.judge.model,
            "price_model": backend.task.price_model,
            # What each role's calls were priced as (gateway/pricing.py); None: unknown.
            "priced_as": {
                role: prices.pricing_name(endpoint)
                for role, endpoint in (("task", backend.task), ("prompt", backend.prompt), ("judge", backend.judge))
            },
        },
        "config": config.public(),
        "answer_limits": answer_limits(splits.train).as_dict(),
        "seed": config.seed,
        "subset": config.subset,
        "dataset_fingerprint": {
            "input_sha256": splits.input_fingerprint,
            "source": loaded.source,
            "splits": splits.manifest()["splits"],
            "counts": splits.manifest()["counts"],
        },
        "versions": _versions(),
        "baseline_instruction": BASELINE_INSTRUCTION,
    }


def _write_outputs(
    run_dir: Path,
    config: RunConfig,
    optimized: dspy.Module,
    results: dict[str, Any],
    *evaluations: EvaluationResult | None,
) -> None:
    write_atomically(run_dir / "optimized_program.json", lambda tmp: _save_program(optimized, tmp))
    names = ("baseline_dev", "optimized_dev", "baseline_test", "optimized_test")
    details = {
        name: [judged_as_dict(e) for e in result.examples]
        for name, result in zip(names, evaluations, strict=True)
        if result is not None
    }
    write_json(run_dir / "evaluations.json", details)
    write_json(run_dir / "optimization_results.json", results)
    if config.out_dir is None:
        point_latest(config.runs_dir, run_dir)


def _save_program(program: dspy.Module, tmp: Path) -> None:
    # DSPy picks the format from the suffix; the temporary name keeps the .json suffix.
    target = tmp.with_suffix(".json")
    program.save(str(target))
    target.replace(tmp)


__all__ = ["GatewayError", "RunConfig", "RunError", "RunOutcome", "run_optimization"]
