"""Log finished runs to MLflow after the fact: ``python scripts/mlflow_log.py runs/latest``."""

import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from optimizer.tracking.cli import mlflow_log_main

if __name__ == "__main__":
    sys.exit(mlflow_log_main())
