"""The ideal wall time of a run: what no scheduler could beat at a given concurrency and latency.

Per ledger phase the bound is the larger of two floors, and the run's bound is their sum:

* the critical path: calls that must follow one another. An evaluation is a generation and then
  its judges, two calls deep, so each evaluation that sent live calls costs ``2 × L``; bootstrapping
  walks its examples one after another (a generation, then the judges), ``2 × L`` per example;
  proposing asks one question after another, ``L`` per call;
* the throughput floor: ``live calls × L / C``, all slots busy all the time.

``L`` is the simulator's mean latency (log-normal: median × exp(σ²/2)). Cached calls count as free,
so any time a phase spends on them counts against efficiency. Efficiency is ``bound / wall``.

``anchor_bound`` applies the same rule to the seed's structure: ``Evaluate`` with two threads, each
running an example's generation and five judge calls one after another, and MIPROv2's bootstrap and
proposal one call at a time. The ratio of the two bounds is the speed-up a perfect client could
show with the same phase structure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CALLS_PER_EXAMPLE = 6  # one generation and five judge calls
EVALUATION_PHASES = ("baseline_eval", "search", "final_eval", "test_eval")


@dataclass(frozen=True)
class PhaseBound:
    phase: str
    live_calls: int
    critical_s: float
    throughput_s: float

    @property
    def bound_s(self) -> float:
        return max(self.critical_s, self.throughput_s)


def phase_bound(phase: str, live_calls: int, *, examples: int, mean_latency_s: float,
                concurrency: int) -> PhaseBound:
    """The bound of one phase; ``examples`` is the size of the set the phase evaluates (dev or test)."""
    throughput = live_calls * mean_latency_s / concurrency
    if live_calls == 0:
        critical = 0.0
    elif phase in EVALUATION_PHASES:
        # Evaluations that sent live calls (a judge's retry may add a call or two, never an evaluation).
        evaluations = max(1, live_calls // (CALLS_PER_EXAMPLE * max(1, examples)))
        critical = evaluations * 2 * mean_latency_s
    elif phase == "bootstrap":
        steps = max(1, round(live_calls / CALLS_PER_EXAMPLE))
        critical = steps * 2 * mean_latency_s
    elif phase == "propose":
        critical = live_calls * mean_latency_s
    else:
        critical = 0.0
    return PhaseBound(phase, live_calls, critical, throughput)


def run_bound(ledger: Mapping[str, Any], *, dev_size: int, test_size: int, mean_latency_s: float,
              concurrency: int) -> list[PhaseBound]:
    """The bound of every phase in a run's ``ledger.json``."""
    bounds = []
    for phase, totals in ledger["phases"].items():
        examples = test_size if phase == "test_eval" else dev_size
        bounds.append(phase_bound(phase, int(totals["live_calls"]), examples=examples,
                                  mean_latency_s=mean_latency_s, concurrency=concurrency))
    return bounds


def anchor_bound(phases: Mapping[str, Mapping[str, Any]], *, mean_latency_s: float, threads: int = 2) -> float:
    """The seed setup's floor from its per-phase server requests: evaluations ``threads`` wide, the rest serial."""
    total = 0.0
    for phase, figures in phases.items():
        calls = int(figures["server_requests"])
        if phase in EVALUATION_PHASES:
            total += calls * mean_latency_s / threads
        else:
            total += calls * mean_latency_s
    return total
