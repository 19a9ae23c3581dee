"""Optimize the HelpSteer2 generator's instruction with MIPROv2: ``python scripts/optimize.py --concurrency 16``."""

import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from optimizer.cli import main

if __name__ == "__main__":
    sys.exit(main())
