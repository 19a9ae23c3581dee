"""Print a run's cost ledger, or a budget shared by workers.

python scripts/ledger.py runs/latest [--json]
python scripts/ledger.py --redis-url URL --budget-name NAME [--json] [--set-cap USD]
"""

import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from gateway import errors as gw_errors
from gateway.ledger import format_ledger
from gateway.shared.target import add_redis_flag, target_from_flag


def show_shared_budget(args: argparse.Namespace) -> int:
    from gateway.budget.redis import budget_status, format_budget

    try:
        target = target_from_flag(args.redis_url)
        if target is None:
            raise gw_errors.ConfigurationError("--budget-name needs --redis-url (or HSOPT_REDIS_URL)")
        state = budget_status(target, args.budget_name, new_cap_usd=args.set_cap)
    except gw_errors.GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if state is None:
        print(f"error: no budget named {args.budget_name!r} on {target.display}", file=sys.stderr)
        return 2
    print(json.dumps(state, indent=2, sort_keys=True) if args.json else format_budget(state))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ledger.py", description="Show the per-phase token and cost ledger of a run, or a shared budget."
    )
    parser.add_argument("run_dir", type=Path, nargs="?", help="a run directory (or its ledger.json)")
    parser.add_argument("--json", action="store_true", help="print the ledger as JSON")
    add_redis_flag(parser)
    parser.add_argument("--budget-name", metavar="NAME", help="show this shared budget (with --redis-url)")
    parser.add_argument("--set-cap", type=float, metavar="USD", help="change the shared budget's cap first")
    args = parser.parse_args(argv)
    if args.set_cap is not None and args.budget_name is None:
        parser.error("--set-cap needs --budget-name NAME")
    if args.budget_name is not None:
        if args.set_cap is not None and not args.set_cap > 0:
            parser.error("--set-cap must be a positive number of USD")
        return show_shared_budget(args)
    if args.run_dir is None:
        parser.error("give a run directory, or --budget-name NAME with --redis-url")
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
