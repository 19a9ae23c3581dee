"""Run the embedded LLM simulator as a standalone server until Ctrl-C.

    python scripts/simulator.py --port 8000 --latency-ms 20 --rate-429 0.05

Point OpenAI clients at http://127.0.0.1:PORT/v1 (any non-empty key, or the one given with --api-key)
and Azure clients at http://127.0.0.1:PORT with any api-version. Statistics: GET /_sim/stats.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import NoReturn

from simulator import SIM_VERSION, FaultConfig, SimConfig, Simulator


class _OneLineErrors(argparse.ArgumentParser):
    """An argument parser whose mistakes end as one line, without the full usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(description="Serve the deterministic LLM simulator on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    parser.add_argument("--api-key", help="accept only this key (default: any non-empty key)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="median latency in ms; 0 for none")
    parser.add_argument("--latency-sigma", type=float, default=0.5, help="log-normal spread; 0 for fixed latency")
    parser.add_argument("--fixed-latency", action="store_true", help="same as --latency-sigma 0")
    parser.add_argument("--seed", type=int, default=0, help="varies latency and fault draws (never answers)")
    parser.add_argument("--rpm", type=int, default=0, help="requests per minute limit; 0 for none")
    parser.add_argument("--tpm", type=int, default=0, help="tokens per minute limit; 0 for none")
    parser.add_argument(
        "--azure-served-model",
        default="gpt-4o-2024-08-06",
        help="the model the Azure route's answers name, as Azure names a deployment's model (gpt-4o-2024-08-06)",
    )
    parser.add_argument(
        "--unparsable-model",
        action="append",
        default=[],
        metavar="NAME",
        help="a model (as requests name it) whose every answer no DSPy adapter can parse; repeatable",
    )
    parser.add_argument(
        "--unpaid-model",
        action="append",
        default=[],
        metavar="NAME",
        help="a model (as requests name it) whose account has no credit: every request is refused with "
        "429 insufficient_quota, as OpenAI does; repeatable",
    )
    parser.add_argument(
        "--quota-headers-for",
        type=int,
        default=0,
        metavar="N",
        help="after N requests, answer without x-ratelimit-* headers (the quota still holds), as behind a "
        "proxy that strips them; 0: never",
    )
    parser.add_argument(
        "--schemas",
        choices=("enforce", "ignore", "reject"),
        default="enforce",
        help="a request's JSON schema (response_format, nested form): constrain the answer to it (enforce, as "
        "real servers do), answer as if none were sent (ignore), or refuse it with a 400 (reject)",
    )
    parser.add_argument(
        "--burst-s",
        type=float,
        default=10.0,
        help="seconds of quota a limit's bucket holds (Azure enforces over 1-10 s slices; 10)",
    )
    faults = parser.add_argument_group("faults (probabilities between 0 and 1; all off by default)")
    for kind in ("429", "500", "503", "timeout", "drop", "malformed", "content-filter"):
        faults.add_argument(f"--rate-{kind}", type=float, default=0.0, metavar="P")
    faults.add_argument("--retry-after", type=float, default=1.0, metavar="S", help="Retry-After of injected 429s")
    faults.add_argument(
        "--retry-after-503", type=float, metavar="S", help="send this Retry-After with injected 503s (default: none)"
    )
    faults.add_argument("--hang-s", type=float, default=30.0, metavar="S", help="how long a timeout fault hangs")
    faults.add_argument("--content-filter-mode", choices=("400", "finish_reason"), default="400")
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Build the simulator settings from parsed flags; raises ValueError on a bad value."""
    faults = FaultConfig(
        rate_429=args.rate_429,
        retry_after_s=args.retry_after,
        rate_500=args.rate_500,
        rate_503=args.rate_503,
        retry_after_503_s=args.retry_after_503,
        rate_timeout=args.rate_timeout,
        hang_s=args.hang_s,
        rate_drop=args.rate_drop,
        rate_malformed=args.rate_malformed,
        rate_content_filter=args.rate_content_filter,
        content_filter_mode=args.content_filter_mode,
    )
    return SimConfig(
        port=args.port,
        api_key=args.api_key,
        latency_ms=args.latency_ms,
        latency_sigma=0.0 if args.fixed_latency else args.latency_sigma,
        seed=args.seed,
        rpm=args.rpm,
        tpm=args.tpm,
        azure_served_model=args.azure_served_model,
        unparsable_models=tuple(args.unparsable_model),
        unpaid_models=tuple(args.unpaid_model),
        quota_headers_for=args.quota_headers_for,
        burst_s=args.burst_s,
        schemas=args.schemas,
        faults=faults,
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        sim = Simulator(config).start()
    except OSError as exc:
        print(f"simulator: cannot listen on 127.0.0.1:{config.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(
        f"LLM simulator {SIM_VERSION} listening on {sim.base_url} (OpenAI base {sim.openai_api_base}); Ctrl-C to stop",
        flush=True,
    )
    stop.wait()
    sim.stop()
    print("simulator stopped", flush=True)
    return 0
