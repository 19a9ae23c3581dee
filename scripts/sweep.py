"""Many optimizations as one job: ``python scripts/sweep.py --seeds 1,2,3 --subsets middle,high --out DIR``.

``python scripts/sweep.py report DIR`` gathers a sweep directory's results (see optimizer/sweep.py).
"""

import os
import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from optimizer.sweep_cli import main

if __name__ == "__main__":
    code = main()
    # Every output is written and the gateway loop stopped by the time main() returns; skip the
    # interpreter's teardown of DSPy, LiteLLM and their modules.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
