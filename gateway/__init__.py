"""Everything about one LLM call: the async core, its seams (``transports/``, ``limits/``, ``budget/``,
``leases/``, and the cache store of ``cache``), retries, pacing, pricing, the ledger, the DSPy engine,
and ``runtime.py``, which assembles a process's gateway; ``shared/`` holds the Redis plumbing.
"""
