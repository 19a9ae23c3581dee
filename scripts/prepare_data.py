"""Prepare HelpSteer2 train/dev/test splits and a manifest.

    python scripts/prepare_data.py --dataset nvidia/HelpSteer2 --out runs/data
    python scripts/prepare_data.py --dataset my_rows.csv --out runs/data --seed 7 --skip-bad-rows
    python scripts/prepare_data.py --subset high --out runs/data-high     # helpfulness 4 instead of 2-3

Writes train.jsonl, dev.jsonl, test.jsonl and manifest.json into --out and prints the
row count after every pipeline step. A problem with the data or the options ends with
one "error: ..." line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from evaluation.data import DEFAULT_DATASET, DataError, read_rows, split_rows, write_splits
from optimizer.cli import add_subset_flag
from optimizer.cli import non_negative_int as non_negative


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Prepare HelpSteer2 train/dev/test splits.")
    parser.add_argument(
        "--dataset",
        default=DEFAULT_DATASET,
        help=f"Hugging Face name or a .json/.jsonl/.csv/.parquet file (default: {DEFAULT_DATASET})",
    )
    parser.add_argument("--out", required=True, type=Path, help="directory for the split files and manifest.json")
    add_subset_flag(parser)
    parser.add_argument("--seed", type=int, default=42, help="sampling seed (default: 42; 0 is a valid seed)")
    parser.add_argument("--train-size", type=non_negative, default=160)
    parser.add_argument("--dev-size", type=non_negative, default=40)
    parser.add_argument("--test-size", type=non_negative, default=100)
    parser.add_argument("--skip-bad-rows", action="store_true", help="skip and count invalid rows instead of stopping")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        loaded = read_rows(args.dataset, skip_bad_rows=args.skip_bad_rows, note=print)
        splits = split_rows(loaded, args)
        written = write_splits(splits, args.out)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. --out points somewhere unwritable
        print(f"error: cannot write to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2

    print(f"source: {splits.source}")
    if loaded.skipped:
        print(f"bad rows skipped: {loaded.skipped} (first: {loaded.skipped_rows[0]})")
    width = max(len(step) for step, _ in splits.counts)
    for step, count in splits.counts:
        print(f"  {step:<{width}}  {count:>7,}")
    print(f"wrote {', '.join(path.name for path in written.values())} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
