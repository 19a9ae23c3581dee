"""One optimization run end to end (``run.py``) and what surrounds it: the CLI, the estimate, artifacts,
the report, apply, the Optuna study storage, judge calibration and the load test; the optimizer itself
(``mipro/``, through ``search.py``; ``gepa/`` beside it; both swap their stand-ins into DSPy with
``swapped_globals.py``), sweeps (``sweep/``) and experiment tracking (``tracking/``).
"""
