"""Answer prompts with an optimized program: ``python scripts/apply.py runs/latest --prompt "..."``."""

import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)

from cache import CacheError, CachePolicy
from gateway import errors as gw_errors
from gateway.config import load_env
from gateway.logs import configure_logging
from gateway.runtime import GatewaySettings, Runtime
from gateway.shared.target import add_redis_flag, target_from_flag
from optimizer.answer_limits import APPLY_MAX_TOKENS
from optimizer.apply import ApplyError, answer_all, load_program, read_prompts
from optimizer.artifacts import write_atomically
from optimizer.backend import open_backend
from optimizer.cli import non_negative_float, positive_int


def main(argv: list[str] | None = None) -> int:
    load_env()
    p = argparse.ArgumentParser(prog="apply.py", description="Answer prompts with an optimized generator program.")
    p.add_argument("program", type=Path, help="a run directory or its optimized_program.json")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", help="one prompt to answer")
    source.add_argument("--input", type=Path, help='JSONL of prompts (strings or {"prompt": ...})')
    p.add_argument("--output", type=Path, help="JSONL to write answers to (default: print)")
    p.add_argument(
        "--model", help="LiteLLM model (default: as optimize.py: Azure from the environment, else the simulator)"
    )
    p.add_argument("--api-base")
    p.add_argument("--price-model")
    p.add_argument("--concurrency", type=positive_int, default=16)
    p.add_argument("--cache-dir", type=Path)
    p.add_argument("--replay", action="store_true", help="answer only from the cache")
    add_redis_flag(p)
    p.add_argument("--sim-latency-ms", type=non_negative_float)
    p.add_argument("--log-json", action="store_true")
    args = p.parse_args(argv)
    configure_logging(json_lines=args.log_json)
    try:
        program = load_program(args.program)
        prompts = [args.prompt] if args.prompt is not None else read_prompts(args.input)
        if args.prompt is not None and not args.prompt.strip():
            raise ApplyError("--prompt must not be empty")
        with open_backend(
            args.model, api_base=args.api_base, price_model=args.price_model, sim_latency_ms=args.sim_latency_ms
        ) as backend:
            settings = GatewaySettings(
                concurrency=args.concurrency,
                cache_dir=args.cache_dir,
                policy=CachePolicy.REPLAY if args.replay else CachePolicy.READ_WRITE,
                redis=target_from_flag(args.redis_url),
            )
            with Runtime(settings) as runtime:
                lm = runtime.lm(backend.task, temperature=0.0, max_tokens=APPLY_MAX_TOKENS)
                answers = answer_all(runtime, lm, program, prompts)
    except (ApplyError, CacheError, gw_errors.GatewayError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        text = "".join(
            json.dumps({"prompt": q, "response": a}, ensure_ascii=False) + "\n"
            for q, a in zip(prompts, answers, strict=True)
        )
        try:
            write_atomically(args.output, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"wrote {len(answers)} answers to {args.output}", file=sys.stderr)
    elif args.prompt is not None:
        print(answers[0])
    else:
        for q, a in zip(prompts, answers, strict=True):
            print(json.dumps({"prompt": q, "response": a}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
