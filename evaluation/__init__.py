"""Scoring a program: the data pipeline and shipped sample (``data.py``), signatures and rubrics, the
composite metric, the evaluation engine (``engine.py``), paired-bootstrap statistics and the release
gate (``stats.py``) and judge calibration.
"""
