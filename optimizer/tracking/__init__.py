"""Experiment tracking: what a run puts in a tracker, read from its run directory (``record.py``), and
the MLflow store it is written to (``mlflow.py``, which alone imports MLflow, and only when asked).
"""
