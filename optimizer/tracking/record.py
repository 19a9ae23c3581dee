"""What a run puts in an experiment tracker, read from its run directory alone.

A tracker gets the same content whether a run is logged as it finishes or long afterwards
(``scripts/mlflow_log.py RUN_DIR``): both read the finished directory through ``read_run``. Nothing
here imports MLflow; ``optimizer/tracking/mlflow.py`` writes a ``RunRecord`` to an MLflow store.

Names follow MLflow's DSPy autologging where it has one: each trial's score is a point of the metric
``eval_full`` (or ``eval_minibatch``) at step = trial number, a trial's own run carries its score as
``eval``, and the optimized program is also logged as ``best_model.json``. Every parameter and tag
passes through the log redaction, so no known secret leaves the machine through the tracker.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.redaction import known_secrets, redact

RESULTS = "optimization_results.json"
PROGRAM = "optimized_program.json"
# The run directory's files, in the order they are logged; optional ones are logged when present.
RUN_FILES = (PROGRAM, RESULTS, "ledger.json", "evaluations.json", "report.html")
# MLflow's DSPy autologging stores the compiled program as best_model.json: DSPy users look there.
ALIASES = {PROGRAM: "best_model.json"}
TRIAL_PROGRAM = "model.json"  # autologging's name for the program of one evaluation's run

# MLflow's limits (mlflow/utils/validation.py); a longer value is cut, with a marker saying so.
MAX_PARAM_CHARS = 6000
MAX_TAG_CHARS = 8000
CUT_MARK = " [...cut]"
INSTALL_HINT = "pip install -e '.[mlflow]'"

PHASES = ("baseline_eval", "bootstrap", "propose", "search", "final_eval", "test_eval")
_KEY_CHARS = re.compile(r"[^\w./ -]")  # what MLflow accepts in a key (it also allows ':')


class TrackingError(Exception):
    """Tracking cannot go ahead for a reason the user can act on (one line)."""


def mlflow_available() -> bool:
    """Whether MLflow can be imported here, without importing it."""
    try:
        return importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):
        return False


def require_mlflow(flag: str = "--mlflow") -> None:
    """Stop with one line when ``flag`` asks for MLflow and it is not installed."""
    if not mlflow_available():
        raise TrackingError(f"{flag} needs MLflow, which is not installed: {INSTALL_HINT}")


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    step: int = 0


@dataclass(frozen=True)
class TrialRecord:
    """One search trial: its own nested run."""

    number: int
    name: str
    params: dict[str, str]
    metrics: tuple[Metric, ...]
    tags: dict[str, str]
    program: dict[str, Any] | None  # the trial's program state (autologging's model.json), when derivable


@dataclass(frozen=True)
class RunRecord:
    """Everything one run puts in the tracker, derived from its directory's files."""

    name: str
    fingerprint: str  # of the files' contents: the same directory content is logged once
    finished: bool  # optimization_results.json exists: the run completed
    params: dict[str, str]
    metrics: tuple[Metric, ...]
    tags: dict[str, str]
    artifacts: tuple[tuple[str, Path], ...]  # (artifact name, file)
    trials: tuple[TrialRecord, ...]
    start_ms: int | None
    end_ms: int | None


# -- reading a run directory ---------------------------------------------------------------------
def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a run's outputs (finished or stopped early: ledger.json is always written)."""
    return (path / RESULTS).is_file() or (path / "ledger.json").is_file()


def read_run(run_dir: Path) -> RunRecord:
    """The tracker content of ``run_dir``; raises TrackingError for a directory that is not a run's."""
    run_dir = run_dir.resolve()  # runs/latest: the run's own name
    if not run_dir.is_dir():
        raise TrackingError(f"{run_dir} is not a directory")
    if not is_run_dir(run_dir):
        raise TrackingError(f"{run_dir} holds no run outputs ({RESULTS} or ledger.json)")
    results = _load_json(run_dir / RESULTS)
    ledger = _load_json(run_dir / "ledger.json")
    present = [name for name in RUN_FILES if (run_dir / name).is_file()]
    artifacts: list[tuple[str, Path]] = []
    for name in present:
        artifacts.append((name, run_dir / name))
        if name in ALIASES:
            artifacts.append((ALIASES[name], run_dir / name))
    program = _load_json(run_dir / PROGRAM)
    secrets = known_secrets()
    params = _clean(_run_params(results), MAX_PARAM_CHARS, secrets)
    tags = _clean(_run_tags(run_dir.name, results), MAX_TAG_CHARS, secrets)
    metrics = tuple(_trial_metrics(results)) + tuple(_score_metrics(results)) + tuple(_ledger_metrics(ledger))
    trials = tuple(_trials(results, program, secrets))
    return RunRecord(
        name=run_dir.name,
        fingerprint=_fingerprint(run_dir, present),
        finished=results is not None,
        params=params,
        metrics=metrics,
        tags=tags,
        artifacts=tuple(artifacts),
        trials=trials,
        start_ms=_start_ms(run_dir.name, ledger, [run_dir / n for n in present]),
        end_ms=_end_ms([run_dir / n for n in present]),
    )


def _load_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrackingError(f"cannot read {path}: {exc}") from None


def _fingerprint(run_dir: Path, names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0" + hashlib.sha256((run_dir / name).read_bytes()).digest())
    return digest.hexdigest()[:32]


# -- parameters ----------------------------------------------------------------------------------
def _run_params(results: dict[str, Any] | None) -> dict[str, Any]:
    if not results:
        return {}
    params: dict[str, Any] = {}
    params.update(_flatten(results.get("config") or {}, "config"))
    params.update(_flatten(results.get("models") or {}, "models"))
    params.update(_flatten(results.get("versions") or {}, "versions"))
    fingerprint = results.get("dataset_fingerprint") or {}
    params["dataset.source"] = fingerprint.get("source")
    params["dataset.input_sha256"] = fingerprint.get("input_sha256")
    for split, entry in sorted((fingerprint.get("splits") or {}).items()):
        params[f"dataset.{split}.rows"] = entry.get("rows")
        params[f"dataset.{split}.sha256"] = entry.get("sha256")
    params.update(_flatten(fingerprint.get("counts") or {}, "dataset.count"))
    params["seed"] = results.get("seed")
    params["backend"] = results.get("backend")
    # The compile arguments DSPy's autologging records, under its names, for runs compared side by side.
    search = (results.get("config") or {}).get("search") or {}
    for key in ("num_trials", "num_candidates", "minibatch", "minibatch_size"):
        if key in search:
            params[key] = search[key]
    params["baseline_instruction"] = (results.get("original_signature") or {}).get("instructions")
    params["optimized_instruction"] = (results.get("optimized_signature") or {}).get("instructions")
    return params


def _flatten(data: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in sorted(data.items()):
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)  # as MLflow's own log_param does: True, None, 0.5


def _clean(values: Mapping[str, Any], limit: int, secrets: list[str]) -> dict[str, str]:
    """Keys MLflow accepts, values as text, redacted, and cut to MLflow's length limit."""
    cleaned: dict[str, str] = {}
    for key, value in values.items():
        text = redact(_text(value), secrets)
        if len(text) > limit:
            text = text[: limit - len(CUT_MARK)] + CUT_MARK
        cleaned[_KEY_CHARS.sub("_", key)[:250]] = text
    return cleaned


# -- tags ----------------------------------------------------------------------------------------
def _run_tags(name: str, results: dict[str, Any] | None) -> dict[str, Any]:
    tags: dict[str, Any] = {"hsopt.run_id": name, "hsopt.status": "finished" if results else "stopped"}
    if not results:
        tags["mlflow.note.content"] = (
            "This run stopped before it finished (budget, replay miss, failures or an interrupt): "
            "its ledger shows what it spent. Rerunning the same command resumes it from the cache."
        )
        return tags
    backend = results.get("backend")
    tags["backend"] = backend
    tags["simulated"] = "true" if backend == "simulator" else "false"
    gate = (results.get("test") or {}).get("gate") or {}
    if gate.get("verdict"):
        tags["gate"] = gate["verdict"]
    tags["mlflow.note.content"] = _description(results)
    return tags


def _description(results: dict[str, Any]) -> str:
    """The run's description in the MLflow UI (Markdown): the winner, its scores and the gate's reasons."""
    lines = []
    if results.get("backend") == "simulator":
        lines += ["**Simulated backend**: scores show the optimizer working, not a real model's quality.", ""]
    dev, test = results.get("dev") or {}, results.get("test") or {}
    if dev:
        lines.append(f"- dev: {_score(dev.get('baseline'))} -> {_score(dev.get('optimized'))} ({_change(dev)})")
    if test:
        lines.append(f"- test: {_score(test.get('baseline'))} -> {_score(test.get('optimized'))} ({_change(test)})")
        interval = (test.get("ci95") or {}).get("improvement") or {}
        if interval.get("low") is not None:
            lines.append(f"- test improvement 95% CI: [{interval['low']:+.2f}, {interval['high']:+.2f}] points")
        gate = test.get("gate") or {}
        if gate.get("verdict"):
            lines.append(f"- release gate: **{gate['verdict']}**")
            lines += [f"  - {reason}" for reason in gate.get("reasons") or []]
    winner = (results.get("optimized_signature") or {}).get("instructions")
    if winner is not None:
        lines += ["", "Winning instruction:", "", "> " + winner.replace("\n", "\n> ")]
    return "\n".join(lines)


def _score(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "n/a"


def _change(report: dict[str, Any]) -> str:
    value = report.get("improvement")
    return f"{value:+.2f}" if isinstance(value, (int, float)) else "n/a"


# -- metrics -------------------------------------------------------------------------------------
def _trial_metrics(results: dict[str, Any] | None) -> Iterator[Metric]:
    for trial in (results or {}).get("trials") or []:
        if trial.get("score") is not None:
            key = "eval_full" if trial.get("full_eval", True) else "eval_minibatch"
            yield Metric(key, float(trial["score"]), int(trial["trial"]))


def _score_metrics(results: dict[str, Any] | None) -> Iterator[Metric]:
    if not results:
        return
    for split in ("dev", "test"):
        report = results.get(split) or {}
        for key in ("baseline", "optimized", "improvement"):
            if isinstance(report.get(key), (int, float)):
                yield Metric(f"{split}/{key}", float(report[key]))
        for attribute, pair in sorted((report.get("per_attribute") or {}).items()):
            for program in ("baseline", "optimized"):
                if isinstance(pair.get(program), (int, float)):
                    yield Metric(f"{split}/{attribute}/{program}", float(pair[program]))
        for program, failed in sorted((report.get("failed") or {}).items()):
            # A count, or (newer runs) counts by kind: the program's own failures and the judge's.
            kinds = failed if isinstance(failed, dict) else {}
            total = sum(v for v in kinds.values() if isinstance(v, (int, float))) if kinds else failed
            if isinstance(total, (int, float)):
                yield Metric(f"{split}/failed_{program}", float(total))
            for kind, count in sorted(kinds.items()):
                if isinstance(count, (int, float)):
                    yield Metric(f"{split}/failed_{program}_{kind}", float(count))
    interval = (((results.get("test") or {}).get("ci95")) or {}).get("improvement") or {}
    for bound in ("low", "high"):
        if isinstance(interval.get(bound), (int, float)):
            yield Metric(f"test/improvement_ci95_{bound}", float(interval[bound]))
    gate = ((results.get("test") or {}).get("gate") or {}).get("verdict")
    if gate:
        yield Metric("test/gate_promote", 1.0 if gate == "promote" else 0.0)


def _ledger_metrics(ledger: dict[str, Any] | None) -> Iterator[Metric]:
    if not ledger:
        return
    rows = dict(ledger.get("phases") or {})
    if ledger.get("total"):
        rows["total"] = ledger["total"]
    for phase, row in rows.items():
        if row.get("cost_known", True) and isinstance(row.get("cost_usd"), (int, float)):
            yield Metric(f"cost_usd/{phase}", float(row["cost_usd"]))
        for field in ("live_calls", "cached_calls", "prompt_tokens", "completion_tokens", "retries", "errors"):
            if isinstance(row.get(field), (int, float)):
                yield Metric(f"{field}/{phase}", float(row[field]))
        if isinstance(row.get("wall_s"), (int, float)):
            yield Metric(f"wall_s/{phase}", float(row["wall_s"]))


# -- trials --------------------------------------------------------------------------------------
def _trials(results: dict[str, Any] | None, program: Any, secrets: list[str]) -> Iterator[TrialRecord]:
    if not results:
        return
    trials = results.get("trials") or []
    candidates = results.get("candidates") or []
    width = max(2, len(str(len(trials))))
    for trial in trials:
        number = int(trial["trial"])
        index = trial.get("instruction_index")
        instruction = candidates[index] if isinstance(index, int) and 0 <= index < len(candidates) else None
        kind = "eval_full" if trial.get("full_eval", True) else "eval_minibatch"
        params = {
            "trial": number,
            "instruction_index": index,
            "instruction": instruction,
            "examples": trial.get("examples"),
        }
        tags = {
            "hsopt.trial": number,
            "eval_kind": kind,
            "reused": trial.get("reused", False),
            "prefetched": trial.get("prefetched", False),
            "mlflow.note.content": instruction if instruction is not None else "",
        }
        metrics: list[Metric] = []
        if trial.get("score") is not None:
            metrics.append(Metric("eval", float(trial["score"])))
        for key in ("failures", "candidate_failures", "judge_failures"):
            if isinstance(trial.get(key), (int, float)):
                metrics.append(Metric(key, float(trial[key])))
        yield TrialRecord(
            number=number,
            name=f"trial_{number:0{width}d}",
            params=_clean(params, MAX_PARAM_CHARS, secrets),
            metrics=tuple(metrics),
            tags=_clean(tags, MAX_TAG_CHARS, secrets),
            program=_with_instruction(program, instruction),
        )


def _with_instruction(program: Any, instruction: str | None) -> dict[str, Any] | None:
    """The optimized program's state with ``instruction`` in place of its own: the trial's program.

    Exact for this optimizer's zero-shot search, where a trial differs from the winner by its
    instruction alone; None when the state is not one predictor without demos.
    """
    if instruction is None or not isinstance(program, dict):
        return None
    predictors = {k: v for k, v in program.items() if isinstance(v, dict) and "signature" in v}
    if len(predictors) != 1:
        return None
    ((name, state),) = predictors.items()
    if state.get("demos"):
        return None
    signature = dict(state["signature"], instructions=instruction)
    return {**program, name: {**state, "signature": signature}}


# -- times ---------------------------------------------------------------------------------------
def _start_ms(name: str, ledger: dict[str, Any] | None, files: list[Path]) -> int | None:
    """When the run started: its id's UTC timestamp, else its last file less the ledger's wall time."""
    try:
        stamp = datetime.datetime.strptime(name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=datetime.UTC)
        return int(stamp.timestamp() * 1000)
    except ValueError:
        pass
    end = _end_ms(files)
    wall = ((ledger or {}).get("total") or {}).get("wall_s")
    if end is None:
        return None
    return end - int(1000 * wall) if isinstance(wall, (int, float)) else end


def _end_ms(files: list[Path]) -> int | None:
    stamps = [f.stat().st_mtime for f in files if f.is_file()]
    return int(max(stamps) * 1000) if stamps else None


# -- a sweep's parent run -------------------------------------------------------------------------
SWEEP_GRID = "sweep.json"
SWEEP_RESULTS = "sweep_results.json"
SWEEP_FILES = (SWEEP_GRID, SWEEP_RESULTS, "sweep_report.html")


@dataclass(frozen=True)
class SweepRecord:
    """A sweep's own run (its cells are nested runs, each a ``RunRecord``), from the sweep directory."""

    name: str
    params: dict[str, str]
    metrics: tuple[Metric, ...]
    tags: dict[str, str]
    artifacts: tuple[tuple[str, Path], ...]
    failed_cells: int
    open_cells: int = 0  # pending or running when the results were gathered (another shard's, say)


def is_sweep_dir(path: Path) -> bool:
    return (path / SWEEP_GRID).is_file()


def read_sweep(sweep_dir: Path) -> SweepRecord:
    """The parent run of a sweep: its grid as params, its results across seeds as metrics."""
    sweep_dir = sweep_dir.resolve()
    grid = _load_json(sweep_dir / SWEEP_GRID) or {}
    results = _load_json(sweep_dir / SWEEP_RESULTS) or {}
    params: dict[str, Any] = {f"axis.{k}": ",".join(map(str, v)) for k, v in sorted((grid.get("axes") or {}).items())}
    params["options"] = " ".join(grid.get("options") or [])
    params["cells"] = len(grid.get("cells") or [])
    metrics: list[Metric] = []
    for group in results.get("groups") or []:
        label = ",".join(f"{k}={v}" for k, v in sorted((group.get("values") or {}).items())) or "all"
        spread = group.get("test_improvement") or {}
        if isinstance(spread.get("mean"), (int, float)):
            metrics.append(Metric(f"{label}/test_improvement_mean", float(spread["mean"])))
        if spread.get("ci95"):
            metrics.append(Metric(f"{label}/test_improvement_ci95_low", float(spread["ci95"][0])))
            metrics.append(Metric(f"{label}/test_improvement_ci95_high", float(spread["ci95"][1])))
        if isinstance(group.get("promote_rate"), (int, float)):
            metrics.append(Metric(f"{label}/promote_rate", float(group["promote_rate"])))
    status = (results.get("sweep") or {}).get("status") or {}
    for state, count in sorted(status.items()):
        metrics.append(Metric(f"cells/{state}", float(count)))
    total = (results.get("cost") or {}).get("total") or {}
    if total.get("cost_known", True) and isinstance(total.get("cost_usd"), (int, float)):
        metrics.append(Metric("cost_usd/total", float(total["cost_usd"])))
    for key in ("live_calls", "cached_calls"):
        if isinstance(total.get(key), (int, float)):
            metrics.append(Metric(f"{key}/total", float(total[key])))
    secrets = known_secrets()
    return SweepRecord(
        name=sweep_dir.name,
        params=_clean(params, MAX_PARAM_CHARS, secrets),
        metrics=tuple(Metric(_KEY_CHARS.sub("_", m.key)[:250], m.value, m.step) for m in metrics),
        tags=_clean({"hsopt.sweep": sweep_dir.name}, MAX_TAG_CHARS, secrets),
        artifacts=tuple((name, sweep_dir / name) for name in SWEEP_FILES if (sweep_dir / name).is_file()),
        failed_cells=int(status.get("failed", 0)),
        open_cells=int(status.get("pending", 0)) + int(status.get("running", 0)),
    )
