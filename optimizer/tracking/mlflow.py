"""Runs in MLflow: one run per optimization, a nested run per trial, a parent run per sweep.

Where: ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_NAME`` (or ``MLFLOW_EXPERIMENT_ID``) as MLflow's
own clients read them; without a URI, MLflow's local default (a SQLite database, ``mlflow.db``, in
the working directory). What: the ``RunRecord`` that ``optimizer/tracking/record.py`` reads from a finished
run directory, so a run logged as it ends and one logged later by ``scripts/mlflow_log.py`` hold the
same content. Only LM-call traces are live (``RunTracker(traces=True)``): nothing in the files holds them.

Tracking never costs an optimization: a tracking server that fails or cannot be reached gives one
warning with the command that logs the run later, and the run's files are written as always. MLflow
retries an HTTP request for about four minutes by default; unless the user set them, its retry
settings are bounded here so that a dead server delays a run by at most about a minute.

Logging is idempotent: a run directory whose content is already in the experiment (its fingerprint
tag) is not logged twice, and a run whose logging was cut short is completed, not duplicated.

Over 500 lines on purpose: the one module that talks to MLflow (live runs, sweeps, directories logged
afterwards), so that MLflow's client is imported in one place and only when asked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gateway.redaction import error_line, known_secrets, redact, redact_text, redact_url
from optimizer.artifacts import sweep_identity
from optimizer.tracking.record import (
    RESULTS,
    TRIAL_PROGRAM,
    Metric,
    RunRecord,
    TrackingError,
    is_run_dir,
    is_sweep_dir,
    read_run,
    read_sweep,
    require_mlflow,
)

# Bounds on MLflow's HTTP retries (its defaults: 7 retries with backoff factor 2, 120 s timeout per
# request, about four minutes for one unreachable call). A value the user set wins.
HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}
FINGERPRINT_TAG = "hsopt.fingerprint"
RUN_ID_TAG = "hsopt.run_id"
TRIAL_TAG = "hsopt.trial"
PARENT_TAG = "mlflow.parentRunId"
SWEEP_TAG = "hsopt.sweep"  # the sweep directory's name, shown
SWEEP_ID_TAG = "hsopt.sweep_id"  # the sweep's identity (optimizer/artifacts.py), what its parent run is found by
REPLAY_HINT = "python scripts/mlflow_log.py"
TRACE_FLUSH_S = 60.0  # the longest wait, at the end of a run, for MLflow to finish writing its traces


def import_mlflow() -> Any:
    """MLflow, imported with bounded HTTP retries and quiet INFO logging; TrackingError if not installed."""
    require_mlflow()
    for name, value in HTTP_BOUNDS.items():
        os.environ.setdefault(name, value)
    import mlflow

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


@contextlib.contextmanager
def quiet_http_retries() -> Iterator[None]:
    """Keep urllib3's line per retried request off the console while MLflow calls its server: a failure
    is reported once, by the caller."""
    logger = logging.getLogger("urllib3.connectionpool")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class MlflowStore:
    """One tracking URI and experiment, resolved the way MLflow's own clients resolve them."""

    def __init__(self, tracking_uri: str | None = None, experiment_name: str | None = None) -> None:
        mlflow = import_mlflow()
        from mlflow import MlflowClient

        self.uri: str = tracking_uri or mlflow.get_tracking_uri()
        self.client = MlflowClient(self.uri)
        self._experiment_name = experiment_name
        self._experiment_id: str | None = None

    @property
    def display_uri(self) -> str:
        """The tracking URI as it may be shown: no password or token in its user-info or query string."""
        return redact_url(self.uri)

    @property
    def experiment_id(self) -> str:
        """The experiment named by the caller or the environment (created if new), else MLflow's Default."""
        if self._experiment_id is None:
            name = self._experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME")
            if name:
                self._experiment_id = self._named_experiment(name)
            elif os.environ.get("MLFLOW_EXPERIMENT_ID"):
                self._experiment_id = self.client.get_experiment(os.environ["MLFLOW_EXPERIMENT_ID"]).experiment_id
            else:
                self._experiment_id = self.client.get_experiment("0").experiment_id  # MLflow's Default
        return self._experiment_id

    def _named_experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except MlflowException:  # another process created it first
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    def create_run(
        self, name: str, tags: dict[str, str], *, parent_run_id: str | None = None, start_ms: int | None = None
    ) -> str:
        if parent_run_id is not None:
            tags = {**tags, PARENT_TAG: parent_run_id}
        run = self.client.create_run(self.experiment_id, start_time=start_ms, tags=tags, run_name=name)
        return str(run.info.run_id)

    def search(self, filter_string: str) -> list[Any]:
        """Runs of the experiment matching ``filter_string``, newest first (not deleted ones)."""
        return list(
            self.client.search_runs(
                [self.experiment_id],
                filter_string=filter_string,
                max_results=1000,
                order_by=["attributes.start_time DESC"],
            )
        )


def run_start_tags(name: str, source: str) -> dict[str, str]:
    """The tags a run gets when it is created, live or afterwards."""
    return {RUN_ID_TAG: name, "mlflow.source.type": "LOCAL", "mlflow.source.name": source}


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def find_logged(store: MlflowStore, record: RunRecord, parent_run_id: str | None = None) -> tuple[str | None, bool]:
    """(run id, complete) of this run directory's MLflow run if one exists: complete when its content is
    there, incomplete when its logging was cut short (it is then completed rather than duplicated)."""
    done = store.search(f"tags.`{FINGERPRINT_TAG}` = {_quoted(record.fingerprint)}")
    for run in done:
        if parent_run_id is None or run.data.tags.get(PARENT_TAG) == parent_run_id:
            return str(run.info.run_id), True
    for run in store.search(f"tags.`{RUN_ID_TAG}` = {_quoted(record.name)}"):
        if FINGERPRINT_TAG not in run.data.tags and run.data.tags.get(PARENT_TAG) == parent_run_id:
            return str(run.info.run_id), False
    return None, False


def log_run(
    store: MlflowStore,
    record: RunRecord,
    *,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    source: str = "scripts/optimize.py",
    status: str | None = None,
    live: bool = False,
) -> tuple[str, bool]:
    """Log ``record`` as one MLflow run with a nested run per trial; returns (run id, newly logged).

    With ``run_id`` the run exists already (created when the optimization started); otherwise the
    run directory's earlier MLflow run is completed, or left alone if complete, or a new one is made.
    ``live`` stamps the end with the current time instead of the run's own.
    """
    if run_id is None:
        found, complete = find_logged(store, record, parent_run_id)
        if found is not None and complete:
            return found, False
        run_id = found or store.create_run(
            record.name, run_start_tags(record.name, source), parent_run_id=parent_run_id, start_ms=record.start_ms
        )
    client = store.client
    start_ms = None if live else record.start_ms
    end_ms = None if live else record.end_ms
    children = {run.data.tags.get(TRIAL_TAG): run for run in store.search(f"tags.`{PARENT_TAG}` = {_quoted(run_id)}")}
    for trial in record.trials:
        child = children.get(str(trial.number))
        child_id = (
            str(child.info.run_id)
            if child is not None
            else store.create_run(
                trial.name,
                {TRIAL_TAG: str(trial.number)},
                parent_run_id=run_id,
                # Distinct start times keep the trials in order in the UI's run lists.
                start_ms=start_ms + trial.number if start_ms is not None else None,
            )
        )
        if child is None or not child.data.metrics:
            _log_batch(client, child_id, trial.params, trial.tags, trial.metrics)
        if trial.program is not None:
            _log_files(client, child_id, {TRIAL_PROGRAM: _json_bytes(trial.program)})
        client.set_terminated(child_id, "FINISHED", end_time=end_ms)
    existing = client.get_run(run_id)
    if FINGERPRINT_TAG not in existing.data.tags:
        # The fingerprint tag goes with the metrics, in one batch: a run with it holds them all.
        _log_batch(
            client,
            run_id,
            record.params,
            {**record.tags},
            record.metrics,
            last_tags={FINGERPRINT_TAG: record.fingerprint},
        )
    _log_files(client, run_id, dict(record.artifacts))
    final = status or ("FINISHED" if record.finished else "FAILED")
    client.set_terminated(run_id, final, end_time=end_ms)
    return run_id, True


def _log_batch(
    client: Any,
    run_id: str,
    params: dict[str, str],
    tags: dict[str, str],
    metrics: Sequence[Metric],
    *,
    last_tags: dict[str, str] | None = None,
) -> None:
    """Params and tags first (logging the same value twice is harmless), then every metric in one batch."""
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.entities import Param, RunTag
    from mlflow.utils.validation import MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH

    stamp = int(time.time() * 1000)
    items = [Param(k, v) for k, v in params.items()]
    for chunk in _chunks(items, MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=chunk, synchronous=True)
    tag_items = [RunTag(k, v) for k, v in tags.items()]
    for chunk in _chunks(tag_items, MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, tags=chunk, synchronous=True)
    metric_items = [MlflowMetric(m.key, m.value, stamp, m.step) for m in metrics]
    final_tags = [RunTag(k, v) for k, v in (last_tags or {}).items()]
    chunks = list(_chunks(metric_items, MAX_METRICS_PER_BATCH)) or [[]]
    for i, chunk in enumerate(chunks):
        client.log_batch(run_id, metrics=chunk, tags=final_tags if i == len(chunks) - 1 else [], synchronous=True)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _json_bytes(data: Any) -> bytes:
    import json

    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _log_files(client: Any, run_id: str, files: Mapping[str, Path | bytes]) -> None:
    """Upload ``files`` (artifact name -> file or bytes) at the artifact root, in one call."""
    if not files:
        return
    secrets = known_secrets()
    with tempfile.TemporaryDirectory(prefix="hsopt-artifacts-") as staging:
        for name, source in files.items():
            target = Path(staging) / name
            data = source if isinstance(source, bytes) else source.read_bytes()
            target.write_bytes(_redacted_bytes(data, secrets))
        client.log_artifacts(run_id, staging)


def _redacted_bytes(data: bytes, secrets: list[str]) -> bytes:
    """A text file's bytes with every secret redacted (the files were redacted when written; this
    also covers secrets known only to the process that logs them); other bytes as they are."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    cleaned = redact_text(text, secrets)
    return data if cleaned == text else cleaned.encode("utf-8")


# -- live tracking of a run ----------------------------------------------------------------------
Warn = Callable[[str], None]


def _default_warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class RunTracker:
    """Tracks one optimization in MLflow: created when its run directory exists, logged when it ends.

    ``start`` is the run's ``on_run_dir`` hook; ``finish`` logs the directory through ``log_run``,
    the same code as ``scripts/mlflow_log.py``. Any MLflow failure is one warning (``warn``), after
    which the tracker does nothing more: the run goes on and its files can be logged later.
    """

    def __init__(
        self,
        *,
        traces: bool = False,
        parent_run_id: str | None = None,
        store: MlflowStore | None = None,
        source: str = "scripts/optimize.py",
        warn: Warn | None = None,
    ) -> None:
        require_mlflow("--mlflow-traces" if traces else "--mlflow")
        self.traces = traces
        self.parent_run_id = parent_run_id
        self.source = source
        self.warn = warn or _default_warn
        self.store = store
        self.run_id: str | None = None
        self.run_dir: Path | None = None
        self.failed = False
        self._tracing = False
        self._dropped = _TraceExportProblems()
        self._tracing_config: Any = None
        self._track_usage = False

    def start(self, run_dir: Path) -> None:
        """Create the MLflow run (shown as running) and, with traces, send LM-call traces to it."""
        self.run_dir = run_dir = run_dir.resolve()
        try:
            with quiet_http_retries():
                if self.store is None:
                    self.store = MlflowStore()
                self.run_id = self.store.create_run(
                    run_dir.name, run_start_tags(run_dir.name, self.source), parent_run_id=self.parent_run_id
                )
                if self.traces:
                    self._start_traces()
        except Exception as exc:  # tracking must never stop an optimization
            self._fail(exc)

    def finish(self, *, interrupted: bool = False) -> str | None:
        """Log the run directory into the run and end it; returns the MLflow run id, None if tracking failed."""
        status = "KILLED" if interrupted else None
        if status is None and self.run_dir is not None:
            status = "FINISHED" if (self.run_dir / RESULTS).is_file() else "FAILED"
        if self._tracing:
            self._stop_traces(status or "FAILED")
        if self.failed or self.run_id is None or self.run_dir is None or self.store is None:
            return None
        try:
            with quiet_http_retries():
                if not is_run_dir(self.run_dir):  # stopped before it wrote anything
                    self.store.client.set_terminated(self.run_id, status or "FAILED")
                    return self.run_id
                record = read_run(self.run_dir)
                log_run(self.store, record, run_id=self.run_id, source=self.source, status=status, live=True)
        except Exception as exc:  # tracking must never stop an optimization
            self._fail(exc)
            return None
        if self._dropped.count:
            self.warn(
                f"{self._dropped.count} problem(s) writing LM-call traces to {self.store.display_uri} "
                f"(first: {self._dropped.first}); the rest of the run is in MLflow as run {self.run_id}"
            )
        return self.run_id

    def _fail(self, exc: BaseException) -> None:
        self.failed = True
        where = self.store.display_uri if self.store is not None else "the MLflow tracking URI"
        target = str(self.run_dir) if self.run_dir is not None else "RUN_DIR"
        detail = error_line(exc, limit=300)
        self.warn(
            f"MLflow logging to {where} failed ({detail}); the run's files are written as always: "
            f"log them afterwards with {REPLAY_HINT} {target}"
        )

    # -- traces -----------------------------------------------------------------------------------
    def _start_traces(self) -> None:
        """DSPy's MLflow callback on every LM call of the run, with token usage, linked to this run."""
        import_mlflow()
        import mlflow
        import mlflow.dspy

        assert self.store is not None and self.run_id is not None
        # Traces go where MLflow's fluent API points (the environment), into the experiment of the
        # active run; nothing global is set here that would outlive the run.
        if self.store.uri != mlflow.get_tracking_uri():
            raise TrackingError("traces go to the tracking URI of the environment (MLFLOW_TRACKING_URI)")
        import dspy

        self._track_usage = dspy.settings.track_usage
        mlflow.dspy.autolog(
            log_traces=True,
            log_traces_from_compile=True,
            log_traces_from_eval=True,
            log_compiles=False,
            log_evals=False,
            silent=True,
        )
        self._tracing_config = mlflow.tracing.configure(span_processors=[_redact_span])
        self._dropped.attach()
        # A trace records the latest active run of any thread as its source: this one.
        mlflow.start_run(run_id=self.run_id)
        self._tracing = True

    def _stop_traces(self, status: str) -> None:
        import_mlflow()
        import mlflow
        import mlflow.dspy

        self._tracing = False
        try:
            mlflow.dspy.autolog(disable=True, silent=True)
            # Traces are written by MLflow's background workers; a server that died during the run
            # would keep them retrying for each queued trace, so the wait is bounded.
            flusher = threading.Thread(target=mlflow.flush_trace_async_logging, name="mlflow-trace-flush", daemon=True)
            flusher.start()
            flusher.join(TRACE_FLUSH_S)
            if flusher.is_alive():
                self._dropped.note(f"traces were still being written after {TRACE_FLUSH_S:g} s")
            mlflow.end_run(status)
        except Exception as exc:
            self._fail(exc)
        finally:
            self._dropped.detach()
            if self._tracing_config is not None:
                self._tracing_config.__exit__(None, None, None)  # the span processors as they were
            import dspy

            dspy.settings.configure(track_usage=self._track_usage)


class _TraceExportProblems(logging.Filter):
    """Counts, and keeps off the console, MLflow's line per trace it failed to send: one warning tells."""

    LOGGERS = ("mlflow.tracing.export.mlflow_v3", "mlflow.tracing.export.async_export_queue")

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.first = ""

    def attach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)

    def detach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeFilter(self)

    def note(self, message: str) -> None:
        self.count += 1
        self.first = self.first or message

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.note(record.getMessage().splitlines()[0][:200])
            return False
        return True


def _redact_span(span: Any) -> None:
    """Span processor: the log redaction over a span's inputs and outputs."""
    secrets = known_secrets()
    if not secrets:
        return
    if span.inputs is not None:
        span.set_inputs(redact(span.inputs, secrets))
    if span.outputs is not None:
        span.set_outputs(redact(span.outputs, secrets))


# -- sweeps --------------------------------------------------------------------------------------
class SweepTracker:
    """A sweep in MLflow: one parent run named after the sweep directory, each cell a nested run.

    The parent run is found by the sweep's identity (``sweep_id`` in its directory), never by its
    name: two sweeps in directories of the same name have a parent run each.

    It is the sweep's observer: ``cell_finished`` logs a cell's run directory as soon as the cell
    ends (finished or failed), ``sweep_finished`` logs every cell not logged yet (cells finished by an
    earlier run of the sweep, or by other shards) and the sweep's own grid, results and report.
    A resumed sweep continues its parent run; nothing is logged twice. An MLflow failure is one
    warning, after which the tracker does nothing more.
    """

    def __init__(self, sweep_dir: Path, *, store: MlflowStore | None = None, warn: Warn | None = None) -> None:
        require_mlflow()
        self.sweep_dir = sweep_dir.resolve()
        self.warn = warn or _default_warn
        self.store = store
        self.run_id: str | None = None
        self.failed = False
        self._lock = threading.Lock()  # cells end on their own threads; one writer at a time

    def start(self) -> str | None:
        """Find the sweep's parent run (a resumed sweep) or create it; returns its id."""
        try:
            # Shards of one sweep share its directory: one at a time looks for the parent run and creates
            # it if missing, so that shards started together find one parent rather than each make one.
            with quiet_http_retries(), directory_lock(self.sweep_dir, PARENT_LOCK_FILE):
                if self.store is None:
                    self.store = MlflowStore()
                name = self.sweep_dir.name
                identity = sweep_identity(self.sweep_dir)  # not the name: two sweeps may share a name
                found = [
                    r
                    for r in self.store.search(f"tags.`{SWEEP_ID_TAG}` = {_quoted(identity)}")
                    if PARENT_TAG not in r.data.tags
                ]
                if found:
                    self.run_id = str(found[0].info.run_id)
                    self.store.client.update_run(self.run_id, status="RUNNING")
                else:
                    tags = {
                        SWEEP_TAG: name,
                        SWEEP_ID_TAG: identity,
                        "mlflow.source.type": "LOCAL",
                        "mlflow.source.name": "scripts/sweep.py",
                    }
                    self.run_id = self.store.create_run(name, tags)
        except Exception as exc:  # tracking must never stop a sweep
            self._fail(exc)
        return self.run_id

    def log_cell(self, run_dir: Path) -> str | None:
        """Log a cell's run directory as a nested run of the sweep (idempotent); returns its MLflow run id."""
        if self.failed or self.run_id is None or self.store is None or not is_run_dir(run_dir):
            return None
        try:
            with self._lock, quiet_http_retries():
                run_id, _ = log_run(self.store, read_run(run_dir), parent_run_id=self.run_id, source="scripts/sweep.py")
                return run_id
        except Exception as exc:
            self._fail(exc)
            return None

    def cell_finished(self, result: Any) -> None:
        """SweepObserver: a cell ended (``result.run_dir`` holds its outputs)."""
        self.log_cell(Path(result.run_dir))

    def sweep_finished(self, results: dict[str, Any]) -> None:
        """SweepObserver: the sweep's results are written; log what is not yet in MLflow, and them."""
        for run_dir in run_dirs_under(self.sweep_dir):
            self.log_cell(run_dir)
        if self.failed or self.run_id is None or self.store is None:
            return
        try:
            with self._lock, quiet_http_retries():
                record = read_sweep(self.sweep_dir)
                client = self.store.client
                latest = client.get_run(self.run_id).data.metrics
                fresh = [m for m in record.metrics if latest.get(m.key) != m.value]  # a rerun adds no repeats
                _log_batch(client, self.run_id, record.params, record.tags, fresh)
                _log_files(client, self.run_id, dict(record.artifacts))
        except Exception as exc:
            self._fail(exc)

    def finish(self, *, interrupted: bool = False, stopped: bool = False) -> str | None:
        """End the parent run: killed (``interrupted``), failed (the sweep ``stopped`` on an error, or a
        cell failed) or finished; left running while cells of the sweep are still pending or running
        elsewhere (other shards: the last to end ends it)."""
        if self.failed or self.run_id is None or self.store is None:
            return None
        try:
            with quiet_http_retries():
                record = read_sweep(self.sweep_dir) if is_sweep_dir(self.sweep_dir) else None
                if record is not None and record.open_cells and not (interrupted or stopped):
                    return self.run_id
                failed = stopped or (record is not None and record.failed_cells > 0)
                status = "KILLED" if interrupted else ("FAILED" if failed else "FINISHED")
                self.store.client.set_terminated(self.run_id, status)
        except Exception as exc:
            self._fail(exc)
            return None
        return self.run_id

    def _fail(self, exc: BaseException) -> None:
        if self.failed:
            return
        self.failed = True
        detail = error_line(exc, limit=300)
        where = self.store.display_uri if self.store is not None else "the MLflow tracking URI"
        self.warn(
            f"MLflow logging of the sweep to {where} failed ({detail}); its files are written as always: "
            f"log them afterwards with {REPLAY_HINT} {self.sweep_dir}"
        )


PARENT_LOCK_FILE = ".mlflow-parent.lock"
LOCK_WAIT_S = 120.0  # longer than MLflow's bounded retries of one request (quiet_http_retries)


@contextlib.contextmanager
def directory_lock(directory: Path, name: str, *, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold an exclusive lock on ``directory/name`` (processes of any machine that share the directory).

    Waits at most ``wait_s`` seconds for another holder, then goes on without the lock: the worst case
    is then two parent runs, which ``scripts/mlflow_log.py`` on the directory replaces by one.
    """
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / name, "a+b") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    locked = False
                    break
                time.sleep(0.05)
        try:
            yield
        finally:
            if locked:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# -- logging directories after the fact ----------------------------------------------------------
def run_dirs_under(path: Path) -> list[Path]:
    """The run directories at any depth below ``path`` (a symlink such as runs/latest is not followed), by path."""
    found = [p for p in path.rglob("*") if p.is_dir() and not p.is_symlink() and is_run_dir(p)]
    return sorted(found)


def log_directory(path: Path, *, sweep: bool = False, store: MlflowStore | None = None) -> list[tuple[Path, str, bool]]:
    """Log a run directory, or every run directory below ``path``: each its own run, or, for a sweep
    directory (or with ``sweep``), all of them nested under one parent run named after ``path``.

    Returns (run directory, MLflow run id, newly logged) per run. Raises TrackingError on a path that
    holds no runs or on an MLflow failure.
    """
    path = path.resolve()
    if not path.is_dir():
        raise TrackingError(f"{path} is not a directory")
    runs = [path] if is_run_dir(path) else run_dirs_under(path)
    if not runs:
        raise TrackingError(f"{path} holds no run outputs (optimization_results.json or ledger.json)")
    store = store or MlflowStore()
    if runs == [path] or not (sweep or is_sweep_dir(path)):
        logged = []
        for run_dir in runs:
            run_id, new = log_run(store, read_run(run_dir))
            logged.append((run_dir, run_id, new))
        return logged
    failures: list[str] = []
    tracker = SweepTracker(path, store=store, warn=failures.append)
    tracker.start()
    logged = []
    for run_dir in runs:
        if tracker.failed or tracker.run_id is None:
            break
        before = {r.info.run_id for r in store.search(f"tags.`{PARENT_TAG}` = {_quoted(tracker.run_id)}")}
        cell_run_id = tracker.log_cell(run_dir)
        if cell_run_id is not None:
            logged.append((run_dir, cell_run_id, cell_run_id not in before))
    tracker.sweep_finished({})
    tracker.finish()
    if failures:
        raise TrackingError(failures[0])
    return logged
