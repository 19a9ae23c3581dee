"""Optimize the HelpSteer2 generator's instruction with MIPROv2: ``python scripts/optimize.py --concurrency 16``."""

import os
import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from optimizer.studies import prestart  # the standard library only: cheap to import

# The Optuna storage's helper process loads while this one imports DSPy and LiteLLM (optimizer/studies.py).
prestart(sys.argv[1:])

from optimizer.cli import main  # noqa: E402  (after the helper has started)

if __name__ == "__main__":
    code = main()
    # Every output is written and closed, and the gateway loop stopped, by the time main() returns;
    # skip the interpreter's teardown of DSPy, LiteLLM and their modules (a second or more).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
