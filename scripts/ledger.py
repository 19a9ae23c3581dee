"""Print a run's cost ledger: ``python scripts/ledger.py runs/latest [--json]``."""

import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from gateway.ledger import format_ledger


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledger.py", description="Show the per-phase token and cost ledger of a run.")
    parser.add_argument("run_dir", type=Path, help="a run directory (or its ledger.json)")
    parser.add_argument("--json", action="store_true", help="print the ledger as JSON")
    args = parser.parse_args(argv)
    path = args.run_dir if args.run_dir.suffix == ".json" else args.run_dir / "ledger.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        table = format_ledger(data)
    except FileNotFoundError:
        print(f"error: no ledger at {path}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError) as exc:
        print(f"error: {path} is not a ledger ({exc})", file=sys.stderr)
        return 2
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
