"""The simulated reflection model behind GEPA: a new instruction from the judge's feedback it is shown.

GEPA shows its reflection model the current instruction and a few examples, each with the response
and the feedback on it (our judge's five justifications). ``reflect_instruction`` reads the
complaints in those justifications ("does not clearly address each part of the request", "wraps a
simple answer in filler", "uses technical terms without explaining them", ...), takes the most
frequent ones whose remedy the instruction lacks, and adds a clause for each: a multi-part prompt
answered without a list leads to a clause asking for one. Some complaints have more than one remedy,
and the request digest picks: padding may be cured by tailoring length to the question (which the
simulated judge rewards) or by "be concise" (which thins complex answers), a thin answer by
tailoring or by "be thorough" (which pads simple ones). So reflection climbs a designed landscape,
with wrong turns a search has to recover from; the gain it finds is a property of the simulator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simulator.hashing import rng_for
from simulator.proposer import CLAUSES, _clause_keys_in


@dataclass(frozen=True)
class Complaint:
    """A kind of criticism in the judge's justifications and the clauses that would answer it."""

    key: str
    pattern: re.Pattern[str]
    remedies: tuple[str, ...]  # clause keys of simulator/proposer.py; the digest picks one


COMPLAINTS: tuple[Complaint, ...] = (
    Complaint(
        "parts",
        re.compile(r"does not clearly address each part|runs several parts together", re.I),
        ("structure",),
    ),
    Complaint("filler", re.compile(r"filler", re.I), ("no_filler",)),
    Complaint(
        "terms",
        re.compile(r"technical terms without explaining", re.I),
        ("define", "define", "plain"),
    ),
    Complaint(
        "padding",
        re.compile(r"padding|padded|rambles|longer than needed|goes deeper than", re.I),
        ("adaptive", "concise"),
    ),
    Complaint(
        "thin",
        re.compile(
            r"too thin|underdeveloped|shorter than the prompt needs|simpler than the prompt|omits details", re.I
        ),
        ("adaptive", "thorough"),
    ),
    Complaint("jargon", re.compile(r"specialist jargon|unsupported technical claims|dense asides", re.I), ("plain",)),
)
MAX_NEW_CLAUSES = 2
_SENTENCE = re.compile(r"The response ([^.]*?), so it earns (\d) out of 4", re.I)


def complaints_in(feedback: str) -> dict[str, int]:
    """How many justifications make each complaint (justifications that give full marks make none)."""
    counts: dict[str, int] = {}
    for match in _SENTENCE.finditer(feedback):
        reason = match.group(1)
        for complaint in COMPLAINTS:
            if complaint.pattern.search(reason):
                counts[complaint.key] = counts.get(complaint.key, 0) + 1
    return counts


def reflect_instruction(inputs: dict[str, str], digest: bytes) -> str:
    """The current instruction with a clause added for each of the (up to two) commonest unanswered complaints."""
    rng = rng_for(digest, "reflector")
    current = inputs.get("current_instruction", "").strip()
    present = _clause_keys_in(current)
    counts = complaints_in(inputs.get("examples_with_feedback", ""))
    by_key = {clause.key: clause for clause in CLAUSES}
    order = [c.key for c in COMPLAINTS]
    ranked = sorted(counts, key=lambda key: (-counts[key], order.index(key)))
    added: list[str] = []
    for key in ranked:
        complaint = COMPLAINTS[order.index(key)]
        if any(remedy in present for remedy in complaint.remedies):
            continue  # the instruction already answers it (or has taken a turn on it)
        remedy = rng.choice(complaint.remedies)
        if remedy in present or remedy in added:
            continue
        added.append(remedy)
        if len(added) == MAX_NEW_CLAUSES:
            break
    if not added:
        # Nothing left to fix from this feedback: try one clause the instruction does not have yet.
        missing = [clause.key for clause in CLAUSES if clause.key not in present]
        if missing:
            added.append(rng.choice(missing))
    sentences = [current] if current else []
    sentences += [rng.choice(by_key[key].wordings) for key in added]
    return " ".join(sentences) or "Answer the user's question clearly and accurately."
