"""Reproduce the figures of RELIABILITY.md: ``python scripts/reliability_report.py [--fast] [--json]``.

The campaigns (fault storms, kill -9 runs) are described in ``bench/reliability.py``.
"""

import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from bench.reliability import main

if __name__ == "__main__":
    sys.exit(main())
