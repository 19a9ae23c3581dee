"""The flags that choose the optimizer and set GEPA's budget and reflection role (scripts/optimize.py, sweeps)."""

from __future__ import annotations

import argparse
from typing import Any

from optimizer.gepa.config import AUTO_LEVELS, REFLECTION_MAX_TOKENS, GEPAConfig

OPTIMIZERS = ("mipro", "gepa")


def add_gepa_flags(parser: argparse.ArgumentParser, positive_int: Any, *, with_optimizer: bool = True) -> None:
    """``--optimizer`` (unless a caller has its own), GEPA's budget and its reflection model."""
    if with_optimizer:
        parser.add_argument("--optimizer", choices=OPTIMIZERS, default="mipro", help="MIPROv2 (default) or DSPy's GEPA")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        "--gepa-auto", choices=AUTO_LEVELS, help="GEPA's budget as DSPy sizes it from the dev set (default: light)"
    )
    budget.add_argument(
        "--gepa-max-metric-calls", type=positive_int, help="GEPA's budget: examples evaluated by candidates, at most"
    )
    parser.add_argument(
        "--reflection-model", help="model GEPA reflects and rewrites the instruction with (default: --prompt-model)"
    )
    parser.add_argument(
        "--reflection-max-tokens",
        type=positive_int,
        default=REFLECTION_MAX_TOKENS,
        help=f"max_tokens of each reflection call ({REFLECTION_MAX_TOKENS})",
    )


def gepa_config(args: argparse.Namespace, seed: int) -> GEPAConfig:
    """GEPA's settings from the flags of ``add_gepa_flags``."""
    calls = args.gepa_max_metric_calls
    return GEPAConfig(
        auto=None if calls is not None else (args.gepa_auto or "light"),
        max_metric_calls=calls,
        reflection_max_tokens=args.reflection_max_tokens,
        seed=seed,
    )


def gepa_flags_given(args: argparse.Namespace) -> list[str]:
    """The GEPA flags set on a command that does not run GEPA (a mistake worth one line)."""
    given = []
    if args.gepa_auto is not None:
        given.append("--gepa-auto")
    if args.gepa_max_metric_calls is not None:
        given.append("--gepa-max-metric-calls")
    if args.reflection_model is not None:
        given.append("--reflection-model")
    return given
