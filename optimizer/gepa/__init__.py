"""GEPA, DSPy's reflective optimizer (``dspy.GEPA``), wired to our evaluation engine and gateway.

``entry.py`` is the run's ``InstructionSearch``; ``adapter.py`` puts our adapter in the place DSPy's
GEPA builds its own (evaluations on the engine, reflection as its own ledger phase); ``feedback.py``
is the feedback metric (the judge's five scores and justifications, asked once per example and
program); ``config.py`` holds GEPA's settings and budget arithmetic, ``estimate.py`` its pre-run
estimate, ``flags.py`` its command-line flags and ``report.py`` its section of ``report.html``.
"""
