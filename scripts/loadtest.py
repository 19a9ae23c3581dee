"""Measure what a model endpoint sustains through the gateway: ``python scripts/loadtest.py --requests 200``.

The flags, the report and the exit status are described in ``optimizer/loadtest.py``.
"""

import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from optimizer.loadtest import main

if __name__ == "__main__":
    sys.exit(main())
