"""Every run's MIPROv2 study in Optuna's own storage, where ``optuna.load_study`` and optuna-dashboard find it.

MIPROv2 makes its Optuna study in memory, asks it for each trial's instruction and tells it each
score. The run keeps that study as it is (so what Optuna samples, and what the run finds, cannot
depend on a database) and records a copy of every trial, as it completes, in a study of the same
shape in an Optuna storage: ``--optuna-storage URL``, any SQLAlchemy URL Optuna accepts
(``sqlite:///path.db``, ``postgresql://user@host/db``), by default a SQLite file ``optuna.db`` in the
run's directory (or the sweep's, for all its cells). One study per run, named by its run id; a run
that is started again under the same id (a sweep's unfinished cell) replaces its study.

Each trial holds MIPROv2's parameters and distributions, its score and times, and user attributes:
``evaluation`` ("full": the whole dev set, or "minibatch"), ``examples``, ``instruction_index``,
``instruction``, ``candidate_failures`` and ``judge_failures``, ``reused`` (a repeat of an earlier
evaluation) and ``prefetched``.
The study's user attributes name the run: run id, subset, seed, models, the candidates.

The writing happens in a helper process (``python -m optimizer.studies``, fed JSON lines on its
standard input, the storage's URL first): loading Optuna and SQLAlchemy (about half a second of CPU)
and every write run beside the run, never in its process; the command-line scripts start the
helper first thing (``prestart``), so it is ready long before the run ends and waits for its last
writes. The run waits for the storage at its start only when the user named one, to learn that it
opens (one clear line if it does not); a storage that fails later costs one warning, never the run.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from gateway.redaction import (  # standard library only, like this module
    redact_text,
    redact_url,
    register_url,
    url_secrets,
)

STORAGE_FILE = "optuna.db"
OFF = "none"
READY = "ready"
# What a trial's user attributes copy from the run's record of its evaluation (``TrialRecord``).
RECORD_ATTRS = ("examples", "instruction", "candidate_failures", "judge_failures", "reused", "prefetched")
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


class StudyStorageError(Exception):
    """The Optuna storage the user named cannot be opened (one line, the password never in it)."""


class StudySink(Protocol):
    """Where a run's study goes: ``begin`` once the search's study exists, then ``trial`` per trial."""

    def begin(self, study: str, attrs: Mapping[str, Any]) -> None: ...

    def trial(self, study: str, payload: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class StudyTarget:
    """Where one run records its study: the sink, the study's name (the run id), the storage for the record."""

    sink: StudySink
    name: str
    storage: str  # the storage URL with its password hidden

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "storage": self.storage}


def storage_url(setting: str | None, directory: Path) -> str | None:
    """The storage for ``--optuna-storage setting``: None (the default) is ``directory``'s SQLite file."""
    if setting is None:
        return f"sqlite:///{(directory / STORAGE_FILE).resolve()}"
    if setting.strip().lower() == OFF:
        return None
    return setting


def close_studies(studies: ProcessStudies | None, warn: Callable[..., object]) -> None:
    """Close a run's or a sweep's storage helper; a problem it reports is one ``optuna.storage_failed`` warning."""
    problem = studies.close() if studies is not None else None
    if problem is not None:
        warn("optuna.storage_failed", problem=problem)


def trial_payload(frozen: Any, record: Any | None) -> dict[str, Any]:
    """A completed Optuna trial (and the run's record of its evaluation) as JSON data for the storage."""
    from optuna.distributions import distribution_to_json

    attrs: dict[str, Any] = {}
    if record is not None:
        attrs["evaluation"] = "full" if record.full_eval else "minibatch"
        for name in RECORD_ATTRS:  # whichever the run's record of the evaluation holds
            if hasattr(record, name):
                attrs[name] = getattr(record, name)
    instruction = frozen.params.get("0_predictor_instruction")
    if isinstance(instruction, int):
        attrs["instruction_index"] = instruction
    return {
        "number": frozen.number,
        "state": frozen.state.name,
        "value": frozen.value,
        "params": dict(frozen.params),
        "distributions": {name: distribution_to_json(d) for name, d in frozen.distributions.items()},
        "user_attrs": attrs,
        "datetime_start": frozen.datetime_start.isoformat() if frozen.datetime_start else None,
        "datetime_complete": frozen.datetime_complete.isoformat() if frozen.datetime_complete else None,
    }


# -- writing (in the helper process) -----------------------------------------------------------------
class StorageWriter:
    """Writes studies into one Optuna storage (this is what the helper process runs)."""

    def __init__(self, url: str) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self.storage = optuna.storages.RDBStorage(url)
        self._ids: dict[str, int] = {}

    def begin(self, study: str, attrs: Mapping[str, Any]) -> None:
        optuna = self._optuna
        with contextlib.suppress(KeyError):  # the run's earlier attempt: its study is replaced
            optuna.delete_study(study_name=study, storage=self.storage)
        study_id = self.storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], study)
        for key, value in attrs.items():
            self.storage.set_study_user_attr(study_id, key, value)
        self._ids[study] = study_id

    def trial(self, study: str, payload: Mapping[str, Any]) -> None:
        import datetime

        from optuna.distributions import json_to_distribution

        optuna = self._optuna
        frozen = optuna.trial.create_trial(
            state=optuna.trial.TrialState[payload["state"]],
            value=payload["value"],
            params=dict(payload["params"]),
            distributions={k: json_to_distribution(v) for k, v in payload["distributions"].items()},
            user_attrs=dict(payload["user_attrs"]),
        )
        for name in ("datetime_start", "datetime_complete"):
            if payload.get(name):
                setattr(frozen, name, datetime.datetime.fromisoformat(payload[name]))
        self.storage.create_new_trial(self._ids[study], template_trial=frozen)


def serve(lines: IO[str], out: IO[str], err: IO[str]) -> int:
    """The helper process: load Optuna, open the storage its first message names, say so, then write
    each study and trial it is sent (JSON lines). It can start before the run knows its storage."""
    import optuna  # noqa: F401  (loaded while the run starts up, before the storage is named)
    from optuna.storages import _rdb  # noqa: F401  (SQLAlchemy and the storage's models, likewise)

    first = lines.readline()
    if not first.strip():
        return 0  # the run never asked for a storage
    opening = json.loads(first)
    url = str(opening.get("url"))
    writer: StorageWriter | None = None
    if not opening.get("lazy"):
        try:
            writer = StorageWriter(url)
        except Exception as exc:  # any failure to open the storage is reported, in one line, to the run
            out.write(f"error: cannot open the Optuna storage {redact_url(url)}: {_first_line(exc, url)}\n")
            out.flush()
            return 1
        out.write(READY + "\n")
        out.flush()
    failed = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
            # A lazy storage (the default file in the run directory) is made with the first study,
            # so that a run which stops before its search leaves no storage behind.
            writer = writer or StorageWriter(url)
            if message["op"] == "begin":
                writer.begin(message["study"], message["attrs"])
            else:
                writer.trial(message["study"], message["trial"])
        except Exception as exc:  # one lost trial must not lose the ones after it
            failed += 1
            err.write(f"optuna storage: a write failed: {_first_line(exc, url)}\n")
            err.flush()
    return 1 if failed else 0


def _first_line(exc: BaseException, url: str) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return redact_text(text, sorted(url_secrets(url), key=len, reverse=True))


# -- the run's side ---------------------------------------------------------------------------------
_prestarted: subprocess.Popen[str] | None = None


def _spawn() -> subprocess.Popen[str]:
    path = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "optimizer.studies"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        # cwd stays the run's: a relative sqlite:/// path means the same file to both.
        env={**os.environ, "PYTHONPATH": path},
    )


def prestart(argv: list[str]) -> None:
    """Start the storage helper now, before the command line imports DSPy and the rest, so that it has
    loaded Optuna and SQLAlchemy (about a second) by the time the run ends and waits for its last writes.

    Not for a command line (``argv``) that will store no trial (help, a dry run, ``--optuna-storage
    none``). A helper that is never given a storage exits when this process does.
    """
    global _prestarted
    storage = [b for a, b in itertools.pairwise(argv) if a == "--optuna-storage"]
    storage += [a.split("=", 1)[1] for a in argv if a.startswith("--optuna-storage=")]
    idle = {"-h", "--help", "--dry-run"} & set(argv) or argv[:1] == ["report"]
    if idle or (storage and storage[-1].strip().lower() == OFF):
        return
    if _prestarted is None:
        _prestarted = _spawn()


class ProcessStudies:
    """A ``StudySink`` that hands every study and trial to a helper process writing them to ``url``.

    ``wait_ready``: wait (at most ``timeout_s``) until the helper has opened the storage and raise
    ``StudyStorageError`` if it cannot; otherwise go on at once. The URL reaches the helper on its
    standard input, never on a command line that other users of the machine could read.
    """

    def __init__(self, url: str, *, wait_ready: bool, timeout_s: float = 60.0) -> None:
        global _prestarted
        self.url = url
        register_url(url)  # its password, in the user-info or the query string
        process, _prestarted = _prestarted, None
        if process is None or process.poll() is not None:
            process = _spawn()
        self._process = process
        self._lazy = not wait_ready
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._problem: str | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read_status, name="optuna-storage-status", daemon=True)
        self._reader.start()
        # A thread feeds the pipe, so a slow storage can fill the pipe without ever blocking a trial.
        self._writer = threading.Thread(target=self._feed, name="optuna-storage", daemon=True)
        self._writer.start()
        # Without waiting, the helper makes the storage only when the first study arrives.
        self._send({"op": "open", "url": url, "lazy": self._lazy})
        if wait_ready:
            if not self._ready.wait(timeout_s) and self._problem is None:
                self._problem = f"the Optuna storage {redact_url(url)} did not open within {timeout_s:g} s"
            if self._problem is not None:
                self.close(timeout_s=5)
                raise StudyStorageError(self._problem)

    def _read_status(self) -> None:
        assert self._process.stdout is not None
        first = self._process.stdout.readline().strip()
        if first and first != READY:
            self._problem = first.removeprefix("error: ")
        elif not first and not self._lazy:
            self._problem = "the Optuna storage helper stopped before it opened the storage"
        self._ready.set()

    def _feed(self) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        while True:
            line = self._queue.get()
            if line is None:
                break
            try:
                stdin.write(line)
                stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                break  # the helper is gone; close() reports why
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            stdin.close()

    def _send(self, message: Mapping[str, Any]) -> None:
        self._queue.put(json.dumps(message, separators=(",", ":"), default=str) + "\n")

    def begin(self, study: str, attrs: Mapping[str, Any]) -> None:
        self._send({"op": "begin", "study": study, "attrs": dict(attrs)})

    def trial(self, study: str, payload: Mapping[str, Any]) -> None:
        self._send({"op": "trial", "study": study, "trial": dict(payload)})

    def close(self, timeout_s: float = 60.0) -> str | None:
        """Wait for every study and trial to be written; a problem as one line (None when all went well)."""
        self._queue.put(None)
        self._writer.join(timeout_s)
        try:
            code = self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            return f"the Optuna storage {redact_url(self.url)} did not finish writing within {timeout_s:g} s"
        self._reader.join(1)
        errors = self._process.stderr.read().strip() if self._process.stderr else ""
        if self._problem is not None:
            return f"trials were not stored: {self._problem}"
        if code != 0:
            detail = errors.splitlines()[-1] if errors else f"exit status {code}"
            return f"some trials were not stored in {redact_url(self.url)}: {detail}"
        return None


def main() -> None:
    code = serve(sys.stdin, sys.stdout, sys.stderr)
    # Every write is committed; skip the interpreter's teardown of Optuna and SQLAlchemy (a few tenths
    # of a second the run would otherwise wait for).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
