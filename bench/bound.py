"""The ideal wall time of a run: what no scheduler could beat at a given concurrency and latency.

Per ledger phase (or per group of phases that run at the same time) the bound is the larger of two
floors, and the run's bound is their sum:

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


# Our runner evaluates the baseline (dev and test) while MIPROv2 bootstraps and proposes.
OVERLAPPING = ("baseline_eval", "bootstrap", "propose")
PROPOSAL_CALLS = 3  # per candidate: describe the program, describe the module, propose


def run_bound(ledger: Mapping[str, Any], *, dev_size: int, test_size: int, num_candidates: int,
              mean_latency_s: float, concurrency: int) -> list[PhaseBound]:
    """The bound of every segment of one of our runs, from its ``ledger.json``.

    Phases that run at the same time form one segment: its throughput floor counts all their live
    calls, its critical path is the longest of their chains. MIPROv2's demo sets are bootstrapped at
    once, so the bootstrap chain is at least its examples shared evenly over the sets (the longest
    set is no shorter than the average); the proposal chain is the dataset summary's calls, one after
    another, then one candidate's three calls (the candidates run at once).
    """
    phases = ledger["phases"]
    live = {name: int(totals["live_calls"]) for name, totals in phases.items()}
    bounds = []
    if any(name in live for name in OVERLAPPING):
        L = mean_latency_s  # noqa: N806
        baseline_chain = 2 * L if live.get("baseline_eval", 0) else 0.0
        sets = max(1, num_candidates - 1)  # zero-shot: the first set is the empty one, no calls
        steps = live.get("bootstrap", 0) / CALLS_PER_EXAMPLE
        bootstrap_chain = -(-steps // sets) * 2 * L if steps else 0.0
        proposals = live.get("propose", 0)
        propose_chain = (max(1, proposals - PROPOSAL_CALLS * (num_candidates - 1)) * L) if proposals else 0.0
        calls = sum(live.get(name, 0) for name in OVERLAPPING)
        bounds.append(PhaseBound("+".join(OVERLAPPING), calls, max(baseline_chain, bootstrap_chain + propose_chain),
                                 calls * L / concurrency))
    for phase, calls in live.items():
        if phase in OVERLAPPING:
            continue
        examples = test_size if phase == "test_eval" else dev_size
        bounds.append(phase_bound(phase, calls, examples=examples, mean_latency_s=mean_latency_s,
                                  concurrency=concurrency))
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
