"""``scripts/mlflow_log.py``: log finished run directories to MLflow after the fact.

It reads a run directory as ``record.py`` does and writes it as ``mlflow.py`` does; MLflow itself is
imported only once ``require_mlflow`` found it installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.redaction import error_line
from optimizer.tracking.mlflow import MlflowStore, log_directory, quiet_http_retries
from optimizer.tracking.record import TrackingError, require_mlflow


# -- scripts/mlflow_log.py -----------------------------------------------------------------------
def mlflow_log_main(argv: list[str] | None = None) -> int:
    """Log finished run directories to MLflow after the fact (the same content as ``--mlflow``)."""
    parser = argparse.ArgumentParser(
        prog="mlflow_log.py",
        description="Log run directories to MLflow (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME), as --mlflow "
        "would have; a run already there is not logged twice, one whose logging was cut short is completed.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run directories, or directories holding run directories")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="log the runs below each directory as one parent run with a nested run each",
    )
    args = parser.parse_args(argv)
    try:
        require_mlflow("mlflow_log.py")
        with quiet_http_retries():
            store = MlflowStore()
            for path in args.paths:
                for run_dir, run_id, new in log_directory(path, sweep=args.sweep, store=store):
                    what = "logged as" if new else "already in MLflow as"
                    print(f"{run_dir}: {what} run {run_id}")
    except TrackingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # MLflow's own errors (unreachable server, refused request): one line
        detail = error_line(exc, limit=400)
        print(f"error: MLflow logging failed: {detail}", file=sys.stderr)
        return 1
    print(f"MLflow: {store.display_uri}, experiment {store.experiment_id}")
    return 0
