"""Sweeps: a grid of runs (``grid.py``), run shard by shard (``runner.py``) behind the sweep command
(``cli.py``), shown while they run (``progress.py``), and their results compared (``stats.py``, ``report.py``).
"""
