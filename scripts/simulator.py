"""Run the embedded LLM simulator as a standalone server until Ctrl-C: ``python scripts/simulator.py --port 8000``.

The flags are described in ``simulator/cli.py``.
"""

import sys
from pathlib import Path

# This file is named like the package it serves; put the repository root ahead of this folder so that
# "import simulator" finds the package rather than this script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from simulator.cli import main  # noqa: E402  (after the path set-up above)

if __name__ == "__main__":
    sys.exit(main())
