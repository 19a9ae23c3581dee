"""A run whose quota readings stop: it must finish.

``python -m bench.readings_stop [--quota-tpm 120000] [--headers-for 40] [--timeout-s 900]``

One ``scripts/optimize.py`` run (the small configuration of the tests, seed 42) against a standalone
simulator that enforces a tokens-per-minute quota and reports it in ``x-ratelimit-*`` headers on its
first ``--headers-for`` answers only, as if a proxy started stripping them (answers that time out
carry none either). The run is given no ``--tpm``: it paces by the headers while they come, then by
what it last read as that reading ages, then, past the reading's reset, not at all (the quota's 429s
and their Retry-After are then the retry loop's). Printed: whether the run finished, its exit status
and wall time, the requests the simulator received and how many it answered 429.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.reliability import OptimizeProcess, optimize_env  # noqa: E402  (after the path set-up above)
from bench.simctl import SimSettings, SimulatorProcess  # noqa: E402  (after the path set-up above)
from optimizer.testing import small_flags  # noqa: E402  (after the path set-up above)

SIM_KEY = "sim-key"


def readings_stop(workdir: Path, *, quota_tpm: int, headers_for: int, timeout_s: float) -> dict[str, Any]:
    """Run once against a simulator whose quota headers stop after ``headers_for`` requests; its figures."""
    settings = SimSettings(latency_ms=100.0, tpm=quota_tpm, quota_headers_for=headers_for)
    with SimulatorProcess(settings, workdir / "sim.log") as sim:
        args = [*small_flags(), "--seed", "42", "--model", "openai/gpt-4o", "--api-base", sim.openai_api_base]
        args += ["--cache-dir", str(workdir / "cache"), "--out", str(workdir / "run"), "--quiet"]
        started = time.monotonic()
        run = OptimizeProcess(args, env=optimize_env(OPENAI_API_KEY=SIM_KEY), cwd=workdir)
        try:
            status: int | None = run.finish(timeout=timeout_s)
        except Exception:  # subprocess.TimeoutExpired: the run stalled
            run.kill()
            status = None
        wall = time.monotonic() - started
        stats = sim.stats()
    last = run.stderr.strip().splitlines()[-1:] if run.stderr.strip() else []
    return {
        "quota_tpm": quota_tpm,
        "headers_for": headers_for,
        "finished": status is not None,
        "returncode": status,
        "wall_s": round(wall, 1),
        "timeout_s": timeout_s,
        "requests": int(stats["requests"]),
        "answered_429": int(stats["rate_limited"]),
        "statuses": stats["statuses"],
        "last_line": last[0] if last else "",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.readings_stop", description=__doc__.split("\n\n")[0])
    p.add_argument("--quota-tpm", type=int, default=120_000, help="the simulator's TPM quota (120,000)")
    p.add_argument("--headers-for", type=int, default=40, help="requests answered with quota headers (40)")
    p.add_argument("--timeout-s", type=float, default=900.0, help="a run still going after this has stalled (900)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="readings-stop-") as tmp:
        figures = readings_stop(
            Path(tmp), quota_tpm=args.quota_tpm, headers_for=args.headers_for, timeout_s=args.timeout_s
        )
    print(json.dumps(figures, indent=2))
    return 0 if figures["finished"] and figures["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
