"""Benchmark against the seed's stock-DSPy setup and the ideal bound: ``python scripts/bench.py [--quick]``."""

import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from bench.run_bench import main

if __name__ == "__main__":
    sys.exit(main())
