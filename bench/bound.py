"""The ideal wall time of a run: what no scheduler could beat at a given concurrency and latency.

The run is cut into segments, each a group of phases that were open at the same time (from the
ledger's ``started_s``/``ended_s``; a phase alone is its own segment). Per segment the bound is the
larger of two floors, and the run's bound is their sum:

* the critical path: calls that must follow one another. An evaluation is a generation and then
  its judges, two calls deep, so each round of evaluations that sent live calls costs ``2 × L``;
  bootstrapping walks its examples one after another (a generation, then the judges), ``2 × L``
  per example; proposing asks one question after another, ``L`` per call. MIPROv2's steps
  (bootstrap, propose, search, final and test evaluation) follow one another, so a segment holding
  several of them adds their chains; the baseline's evaluations run beside them.
* the throughput floor: ``live calls × L / C``, all slots busy all the time.

``L`` is the mean latency of the calls: the simulator's own figure for the requests the run sent
where the bench has it, else the log-normal's mean (median × exp(σ²/2)). Cached calls count as
free, so any time a phase spends on them counts against efficiency. Efficiency is ``bound / wall``.

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
PROPOSAL_CALLS = 3  # per candidate: describe the program, describe the module, propose


@dataclass(frozen=True)
class PhaseBound:
    phase: str
    live_calls: int
    critical_s: float
    throughput_s: float

    @property
    def bound_s(self) -> float:
        return max(self.critical_s, self.throughput_s)


def _chain_s(phase: str, live: int, *, num_candidates: int, search_rounds: int | None, L: float) -> float:
    """The calls of one of our phases that must follow one another, in seconds."""
    if live == 0:
        return 0.0
    if phase == "bootstrap":
        # The demo sets are bootstrapped at once: the longest set is no shorter than the average.
        sets = max(1, num_candidates - 1)  # zero-shot: the first set is the empty one, no calls
        steps = live / CALLS_PER_EXAMPLE
        return -(-steps // sets) * 2 * L
    if phase == "propose":
        # The dataset summary's calls one after another, then one candidate's three (all at once).
        return max(1, live - PROPOSAL_CALLS * (num_candidates - 1)) * L
    if phase == "search":
        # Rounds of evaluations one after another (the trials evaluated ahead count as one round).
        return max(1, search_rounds or 1) * 2 * L
    return 2 * L  # one evaluation, or several at once


def segments(phases: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Phases grouped by overlapping time spans, in order of start; a phase without a span stands alone."""
    spanned = sorted(
        (float(p["started_s"]), float(p["ended_s"]), name)
        for name, p in phases.items()
        if "started_s" in p and "ended_s" in p
    )
    groups: list[list[str]] = []
    group_end = float("-inf")
    for started, ended, name in spanned:
        if groups and started < group_end:
            groups[-1].append(name)
            group_end = max(group_end, ended)
        else:
            groups.append([name])
            group_end = ended
    groups += [[name] for name, p in phases.items() if "started_s" not in p or "ended_s" not in p]
    return groups


def search_rounds(trials: list[Mapping[str, Any]]) -> int:
    """Rounds of search evaluations that sent calls: one for the trials evaluated ahead, one per other new trial."""
    ahead = any(t.get("prefetched") for t in trials)
    alone = sum(1 for t in trials if not t.get("reused") and not t.get("prefetched"))
    return int(ahead) + alone


def run_bound(
    ledger: Mapping[str, Any],
    *,
    num_candidates: int,
    mean_latency_s: float,
    concurrency: int,
    search_rounds: int | None = None,
) -> list[PhaseBound]:
    """The bound of every segment of one of our runs, from its ``ledger.json`` (and its trials' rounds)."""
    phases = ledger["phases"]
    live = {name: int(totals["live_calls"]) for name, totals in phases.items()}
    L = mean_latency_s
    bounds = []
    for group in segments(phases):
        calls = sum(live[name] for name in group)
        chains = {
            name: _chain_s(name, live[name], num_candidates=num_candidates, search_rounds=search_rounds, L=L)
            for name in group
        }
        beside = chains.pop("baseline_eval", 0.0)
        bounds.append(PhaseBound("+".join(group), calls, max(beside, sum(chains.values())), calls * L / concurrency))
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
