"""Print a run's cost ledger, or a budget shared by workers.

python scripts/ledger.py runs/latest [--json]
python scripts/ledger.py --redis-url URL --budget-name NAME [--json] [--set-cap USD]
python scripts/ledger.py --redis-url URL --budget-name NAME --set-cap USD --recreate-spent USD

``--recreate-spent`` re-creates a shared budget the server lost (a restart without persistence, a
flush, a deletion, eviction) with what was already spent under it: workers that spent under a budget
refuse to start it again from $0 and print this command with the amount they saw spent.
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
    from cache.disk import default_cache_dir
    from gateway.budget.notes import BudgetNotes
    from gateway.budget.redis import budget_status, format_budget

    try:
        target = target_from_flag(args.redis_url)
        if target is None:
            raise gw_errors.ConfigurationError("--budget-name needs --redis-url (or HSOPT_REDIS_URL)")
        notes = BudgetNotes(args.cache_dir or default_cache_dir())
        state = budget_status(
            target, args.budget_name, new_cap_usd=args.set_cap, recreate_spent_usd=args.recreate_spent, notes=notes
        )
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
    parser.add_argument(
        "--recreate-spent",
        type=float,
        metavar="USD",
        help="re-create a lost shared budget with this much already spent (with --set-cap, its cap)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="where this machine's budget notes are (default $HSOPT_CACHE_DIR or .cache/llm)"
    )
    args = parser.parse_args(argv)
    if (args.set_cap is not None or args.recreate_spent is not None) and args.budget_name is None:
        parser.error("--set-cap and --recreate-spent need --budget-name NAME")
    if args.budget_name is not None:
        if args.set_cap is not None and not args.set_cap > 0:
            parser.error("--set-cap must be a positive number of USD")
        if args.recreate_spent is not None and args.set_cap is None:
            parser.error("--recreate-spent needs --set-cap USD (the cap of the re-created budget)")
        if args.recreate_spent is not None and not args.recreate_spent >= 0:
            parser.error("--recreate-spent must be a number of USD, 0 or more")
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
