"""Many optimizations as one job: ``python scripts/sweep.py --seeds 1,2,3 --subsets middle,high --out DIR``.

``python scripts/sweep.py report DIR`` gathers a sweep directory's results (see optimizer/sweep/runner.py).
"""

import os
import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from optimizer.studies import prestart  # the standard library only: cheap to import

# The Optuna storage's helper process loads while this one imports DSPy and LiteLLM (optimizer/studies.py).
prestart(sys.argv[1:])

from optimizer.sweep.cli import main  # noqa: E402  (after the helper has started)

if __name__ == "__main__":
    code = main()
    # Every output is written and the gateway loop stopped by the time main() returns; skip the
    # interpreter's teardown of DSPy, LiteLLM and their modules.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
