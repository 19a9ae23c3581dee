"""Measure the judge against the dataset's human labels: ``python scripts/calibrate_judge.py --dataset D --n 100``.

The flags and the report are described in ``optimizer/calibrate_judge.py``.
"""

import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from optimizer.calibrate_judge import main

if __name__ == "__main__":
    sys.exit(main())
