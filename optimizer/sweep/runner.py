"""Running a sweep: its cells at once in one process, through one gateway, each into its own run directory.

Every cell is the run ``scripts/optimize.py`` makes with the cell's flags (``optimizer.sweep.grid``):
the same data, the same requests, the same artifacts. What the cells share is the gateway: one
concurrency bound, one rate limiter, one cache, one in-flight table, one budget (``--max-cost``
caps the whole sweep) and one simulator or provider connection. Each cell records its calls in a
ledger of its own (``gateway.runs.RunLedgers``), written as its ``ledger.json`` like any run's.

The sweep directory::

    sweep.json                 the grid: axes, common options, every cell's flags
    sweep_id                   the sweep's identity, made once (MLflow finds its parent run by it)
    cells/<name>/              a cell's run directory (optimize.py's outputs) and its cell.json
    sweep_results.json         statistics over the finished cells (optimizer.sweep.stats)
    sweep_report.html          the same, as a self-contained page (optimizer.sweep.report)

``cell.json`` says whether the cell finished. Running the same command again skips finished cells
and runs the others again, which the cache answers up to where they stopped: no completed call is
paid twice. Several processes (``--shard I/N``) may share one directory; each writes only its own
cells, and each, when done, gathers whatever has finished into ``sweep_results.json``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import hashlib
import json
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import structlog

from evaluation.data import DataError, LoadedData, Splits, load_rows
from gateway import errors as gw_errors
from gateway.config import default_model
from gateway.ledger import Ledger
from gateway.runs import RunLedgers
from gateway.runtime import Runtime
from gateway.shared.target import RedisTarget, redact_url
from optimizer.artifacts import sweep_identity, write_json
from optimizer.backend import Backend, open_backend
from optimizer.estimate import PhaseEstimate
from optimizer.progress import Progress
from optimizer.run import (
    SIMULATED_NOTE,
    RunConfig,
    RunOutcome,
    check_prices,
    check_run_dir,
    estimate_for,
    execute_run,
    gateway_settings,
    load_splits,
    shared_prices,
)
from optimizer.studies import ProcessStudies, StudyTarget, close_studies, storage_url
from optimizer.sweep.grid import Cell, Grid, shard_cells
from optimizer.sweep.progress import SweepDisplay

log = structlog.get_logger("sweep")

CELL_STATE = "cell.json"
SWEEP_FILE = "sweep.json"
CELLS_DIR = "cells"
DEFAULT_PARALLEL = 8


@dataclass(frozen=True)
class SweepSettings:
    """A sweep as the command line gives it; ``configs`` are the cells' parsed optimize.py options."""

    out: Path
    grid: Grid
    configs: dict[str, RunConfig]  # cell name -> its RunConfig (out_dir already its run directory)
    shard: tuple[int, int] = (0, 1)
    parallel: int = DEFAULT_PARALLEL
    max_cost_usd: float | None = None
    dry_run: bool = False
    optuna_storage: str | None = None  # None: optuna.db in the sweep directory; "none": no storage
    redis: RedisTarget | None = None  # shared cache, in-flight calls, limits (and budget) with other shards
    budget_name: str | None = None  # with redis and max_cost_usd: one cap for every shard naming it


@dataclass
class CellResult:
    """How one cell of this process ended."""

    cell: Cell
    run_dir: Path
    status: str  # "finished", "failed" or "skipped" (finished by an earlier run of the sweep)
    error: str | None = None
    outcome: RunOutcome | None = None
    wall_s: float = 0.0
    started: float = 0.0  # time.monotonic() when the cell started in this process


class SweepObserver(Protocol):
    """Told about each cell as it ends and about the sweep once its results are written.

    ``cell_finished`` is called on the cell's thread as soon as its outputs (or its failure) are
    written, ``sweep_finished`` on the sweep's thread with ``sweep_results.json``'s content. An
    observer that raises is reported in one warning and changes nothing else.
    """

    def cell_finished(self, result: CellResult) -> None: ...

    def sweep_finished(self, results: dict[str, Any]) -> None: ...


@dataclass
class SweepOutcome:
    results: list[CellResult] = field(default_factory=list)
    estimate: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None  # sweep_results.json's content
    fatal: BaseException | None = None  # the gateway error that stopped every cell, if one did

    @property
    def failed(self) -> list[CellResult]:
        return [r for r in self.results if r.status == "failed"]


class SweepError(Exception):
    """The sweep cannot run as asked (one line for the user)."""


def cell_dir(out: Path, cell: Cell) -> Path:
    return out / CELLS_DIR / cell.name


def cell_run_id(out: Path, cell: Cell) -> str:
    """A cell's run id (its Optuna study's name): the sweep directory's name, the cell's, and a digest of
    its flags, so that sweeps sharing one storage keep their studies apart and a rerun replaces its own."""
    digest = hashlib.sha256(json.dumps(list(cell.flags)).encode("utf-8")).hexdigest()[:6]
    return f"{out.name}/{cell.name}-{digest}"


# -- cell state -------------------------------------------------------------------------------------
def read_cell_state(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / CELL_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_cell_state(run_dir: Path, cell: Cell, status: str, **extra: Any) -> None:
    state = {
        "name": cell.name,
        "values": dict(cell.values),
        "flags": list(cell.flags),
        "command": cell.command(run_dir),
        "status": status,
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **extra,
    }
    write_json(run_dir / CELL_STATE, state)


def is_finished(run_dir: Path, cell: Cell) -> bool:
    """True if ``run_dir`` holds this cell's finished run; SweepError if it holds another run."""
    state = read_cell_state(run_dir)
    if state is None:
        return False
    if state.get("flags") != list(cell.flags):
        raise SweepError(
            f"{run_dir} holds a run with other flags than cell {cell.name} has now; "
            "give the sweep another --out (or remove that directory)"
        )
    return state.get("status") == "finished" and (run_dir / "optimization_results.json").is_file()


# -- the sweep --------------------------------------------------------------------------------------
def run_sweep(
    settings: SweepSettings,
    *,
    observers: Sequence[SweepObserver] = (),
    display: SweepDisplay | None = None,
    gather: Callable[[Path, Grid], dict[str, Any]] | None = None,
) -> SweepOutcome:
    """Run this shard's unfinished cells at once through one gateway; write their outputs and the sweep's.

    ``gather`` builds ``sweep_results.json`` (and the report) from the directory once the cells
    have run (``optimizer.sweep.stats.write_sweep_results``).
    """
    display = display or SweepDisplay(enabled=False)
    out = settings.out
    mine = shard_cells(settings.grid.cells, *settings.shard)
    outcome = SweepOutcome()
    pending: list[Cell] = []
    for cell in mine:
        if is_finished(cell_dir(out, cell), cell):
            outcome.results.append(CellResult(cell, cell_dir(out, cell), "skipped"))
        else:
            pending.append(cell)
    display.planned(mine, skipped=[r.cell for r in outcome.results])

    data = _load_data(pending, settings.configs, display)
    with contextlib.ExitStack() as stack:
        backends = _open_backends([settings.configs[c.name] for c in pending], stack)
        if any(b.name == "simulator" for b in backends.values()):
            display.note(SIMULATED_NOTE)
        for c in pending:  # a sweep-wide cap needs a price for every role of every cell, before any call
            config = settings.configs[c.name]
            try:
                check_prices(config, backends[_backend_key(config)], capped=settings.max_cost_usd is not None)
            except gw_errors.PriceUnknown:
                if settings.redis is None or settings.dry_run:
                    raise
                # The shared cache, opened with the runtime, may hold the note: checked there (_run_cells).
        estimates = {
            c.name: estimate_for(
                settings.configs[c.name], data[c.name][1], backends[_backend_key(settings.configs[c.name])]
            )
            for c in pending
        }
        outcome.estimate = _estimate_rows(estimates)
        display.estimate(outcome.estimate, settings.max_cost_usd, concurrency=_concurrency(settings, pending))
        if settings.dry_run:
            return outcome
        _write_sweep_file(out, settings.grid)
        if pending:
            outcome.fatal = _run_cells(settings, pending, data, backends, observers, display, outcome)
    if gather is not None:
        outcome.summary = gather(out, settings.grid)
        for observer in observers:
            _notify(observer.sweep_finished, outcome.summary)
    display.finished()
    return outcome


def _concurrency(settings: SweepSettings, cells: Sequence[Cell]) -> int:
    configs = [settings.configs[c.name] for c in cells] or list(settings.configs.values())
    return configs[0].concurrency if configs else 16


def _write_sweep_file(out: Path, grid: Grid) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        sweep_identity(out)  # made once, at creation; a resume or another shard reads it
        write_json(out / SWEEP_FILE, grid.as_dict())
    except OSError as exc:
        raise SweepError(f"cannot write to sweep directory {out}: {exc.strerror or exc}") from None


def _load_data(
    cells: Sequence[Cell], configs: dict[str, RunConfig], display: SweepDisplay
) -> dict[str, tuple[LoadedData, Splits]]:
    """Every cell's rows and splits, before any call: a data problem stops the sweep before it spends."""
    rows: dict[tuple[str, bool], LoadedData] = {}
    found: dict[str, tuple[LoadedData, Splits]] = {}
    for cell in cells:
        config = configs[cell.name]
        key = (config.dataset, config.skip_bad_rows)
        if key not in rows:
            rows[key] = load_rows(config.dataset, skip_bad_rows=config.skip_bad_rows)
            if rows[key].fallback_message:
                display.note(rows[key].fallback_message or "")
            if rows[key].skipped:
                display.note(f"skipped {rows[key].skipped} bad rows of {config.dataset}")
        try:
            found[cell.name] = load_splits(config, Progress(enabled=False), loaded=rows[key])
        except DataError as exc:
            raise DataError(f"cell {cell.name}: {exc}") from None
    return found


def _backend_key(config: RunConfig) -> tuple[Any, ...]:
    model = config.model or default_model()
    return (model, config.prompt_model or model, config.judge_model or model, config.api_base, config.price_model)


def _open_backends(configs: Sequence[RunConfig], stack: contextlib.ExitStack) -> dict[tuple[Any, ...], Backend]:
    """One backend per distinct set of models: every simulated cell talks to the same simulator."""
    backends: dict[tuple[Any, ...], Backend] = {}
    for config in configs:
        key = _backend_key(config)
        if key not in backends:
            model, _, _, api_base, price_model = key
            backends[key] = stack.enter_context(
                open_backend(
                    model,
                    prompt_model=config.prompt_model,
                    judge_model=config.judge_model,
                    api_base=api_base,
                    price_model=price_model,
                    sim_latency_ms=config.sim_latency_ms,
                )
            )
    return backends


def _estimate_rows(estimates: dict[str, list[PhaseEstimate]]) -> list[dict[str, Any]]:
    rows = []
    for name, phases in estimates.items():
        cost = None if any(p.cost_usd is None for p in phases) else round(sum(p.cost_usd or 0.0 for p in phases), 4)
        rows.append(
            {
                "cell": name,
                "calls": sum(p.calls for p in phases),
                "prompt_tokens": sum(p.prompt_tokens for p in phases),
                "completion_tokens": sum(p.completion_tokens for p in phases),
                "cost_usd": cost,
                "minutes": round(sum(p.minutes for p in phases), 2),
                "phases": [asdict(p) for p in phases],
            }
        )
    return rows


@contextlib.contextmanager
def _sweep_runtime(
    settings: SweepSettings,
    cells: Sequence[Cell],
    backends: dict[tuple[Any, ...], Backend],
    display: SweepDisplay,
) -> Iterator[tuple[Runtime, RunLedgers, ProcessStudies | None]]:
    """The one runtime and the one Optuna storage every cell runs through (the storage is closed after)."""
    first = settings.configs[cells[0].name]
    runs = RunLedgers()
    gateway = replace(
        gateway_settings(first),
        max_cost_usd=settings.max_cost_usd,
        redis=settings.redis,
        budget_name=settings.budget_name,
    )
    url = storage_url(settings.optuna_storage, settings.out)
    # One storage for every cell's study; a storage the user named must open before any call.
    studies = ProcessStudies(url, wait_ready=settings.optuna_storage is not None) if url else None
    try:
        with Runtime(gateway, runs=runs) as runtime:
            if settings.redis is not None:
                display.note(
                    f"shared state: Redis at {settings.redis.display} (namespace {settings.redis.namespace!r}): "
                    "cache, in-flight calls and rate limits"
                    + (f", and the budget {settings.budget_name!r}" if settings.budget_name else "")
                    + " shared with every shard and run using it"
                )
            if settings.max_cost_usd is not None:  # before any call, with the shared cache's notes read in
                for cell in cells:
                    config = settings.configs[cell.name]
                    backend = backends[_backend_key(config)]
                    check_prices(config, backend, shared_prices(runtime, backend), capped=True)
            yield runtime, runs, studies
    finally:
        close_studies(studies, log.warning)


def _run_cells(
    settings: SweepSettings,
    cells: Sequence[Cell],
    data: dict[str, tuple[LoadedData, Splits]],
    backends: dict[tuple[Any, ...], Backend],
    observers: Sequence[SweepObserver],
    display: SweepDisplay,
    outcome: SweepOutcome,
) -> BaseException | None:
    """Every cell on a thread of its own (at most ``parallel`` at once), all through one runtime and one storage."""
    with _sweep_runtime(settings, cells, backends, display) as (runtime, runs, studies):
        results_lock = threading.Lock()
        display.attach(runs)

        def run_one(cell: Cell) -> CellResult:
            config = settings.configs[cell.name]
            study = (
                StudyTarget(studies, cell_run_id(settings.out, cell), redact_url(studies.url))
                if studies is not None
                else None
            )
            backend = backends[_backend_key(config)]
            result = _run_cell(cell, config, runtime, runs, backend, data, display, study)
            with results_lock:
                outcome.results.append(result)
            for observer in observers:
                _notify(observer.cell_finished, result)
            return result

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, settings.parallel), thread_name_prefix="cell")
        futures = [pool.submit(run_one, cell) for cell in cells]
        try:
            _wait(futures, display.plain_status)
        except KeyboardInterrupt:
            # Every cell stops at its next call; what was answered is cached for the rerun.
            runtime.gateway.fatal_error = runtime.gateway.fatal_error or gw_errors.Interrupted()
            _wait(futures, display.plain_status)
            raise
        finally:
            pool.shutdown(wait=True)
        if runs.unattributed.total().live_calls + runs.unattributed.total().cached_calls:
            log.warning("sweep.unattributed_calls", **runs.unattributed.total().as_dict())
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error  # a bug in a cell (user errors are recorded in its cell.json instead)
        return runtime.gateway.fatal_error


def _wait(futures: Sequence[concurrent.futures.Future[Any]], tick: Callable[[], None]) -> None:
    pending = set(futures)
    while pending:  # a timeout lets Ctrl-C reach this thread
        _, pending = concurrent.futures.wait(pending, timeout=0.5)
        tick()


def _run_cell(
    cell: Cell,
    config: RunConfig,
    runtime: Runtime,
    runs: RunLedgers,
    backend: Backend,
    data: dict[str, tuple[LoadedData, Splits]],
    display: SweepDisplay,
    study: StudyTarget | None,
) -> CellResult:
    from optimizer.cli import USER_ERRORS

    run_dir = config.out_dir or Path(cell.name)
    loaded, splits = data[cell.name]
    started, began = time.perf_counter(), time.monotonic()
    progress = display.cell_progress(cell)
    structlog.contextvars.bind_contextvars(cell=cell.name)
    try:
        if runtime.gateway.fatal_error is not None:  # the sweep is ending: do not start another cell
            raise gw_errors.RunAborted(runtime.gateway.fatal_error)
        run_id = study.name if study is not None else cell_run_id(run_dir.parent.parent, cell)
        check_run_dir(config, run_id)
        _write_cell_state(run_dir, cell, "running")
        with runs.run(Ledger()) as ledger:
            result = execute_run(
                config, runtime, ledger, backend, splits, loaded, run_dir, progress, run_id=run_id, study=study
            )
    except USER_ERRORS as exc:
        wall = time.perf_counter() - started
        message = str(exc)
        if run_dir.is_dir():
            _write_cell_state(run_dir, cell, "failed", error=message, wall_s=round(wall, 3))
        display.cell_ended(cell, "failed", message)
        return CellResult(cell, run_dir, "failed", message, None, wall, began)
    except BaseException:
        if run_dir.is_dir():
            _write_cell_state(run_dir, cell, "failed", error=traceback.format_exc(limit=20))
        display.cell_ended(cell, "failed", "internal error (traceback follows)")
        raise
    finally:
        structlog.contextvars.unbind_contextvars("cell")
    wall = time.perf_counter() - started
    _write_cell_state(run_dir, cell, "finished", wall_s=round(wall, 3))
    display.cell_ended(cell, "finished", _scores_line(result.results))
    return CellResult(cell, run_dir, "finished", None, result, wall, began)


def _scores_line(results: dict[str, Any]) -> str:
    test = results.get("test") or results.get("dev") or {}
    gate = (results.get("test") or {}).get("gate") or {}
    verdict = f", gate {gate['verdict']}" if gate.get("verdict") else ""
    split = "test" if results.get("test") else "dev"
    try:
        return f"{split} {test['baseline']:.2f} -> {test['optimized']:.2f} ({test['improvement']:+.2f}){verdict}"
    except (KeyError, TypeError):
        return "finished"


def _notify(method: Callable[[Any], None], argument: Any) -> None:
    try:
        method(argument)
    except Exception as exc:
        log.warning(
            "sweep.observer_failed", observer=type(getattr(method, "__self__", method)).__name__, error=str(exc)
        )
