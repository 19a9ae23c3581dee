"""Lets the scripts run from a checkout without installation (``python scripts/x.py``)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The checkout goes first even when PYTHONPATH names it too: after scripts/ (the script's own folder,
# first on the path), the package ``simulator`` would be shadowed by scripts/simulator.py.
if ROOT in sys.path:
    sys.path.remove(ROOT)
sys.path.insert(0, ROOT)
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# DSPy's bootstrapping draws tqdm bars that would interleave with our progress lines; tqdm reads this
# variable when it is first imported, so it is set before anything imports DSPy.
os.environ.setdefault("TQDM_DISABLE", "1")
