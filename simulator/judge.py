"""The simulated judge: scores a response on one HelpSteer2 attribute from measurable features.

The attribute comes from the rubric's opening ``Attribute: <name>.``. Each attribute is a small
penalty table over ``ResponseFeatures`` (length against need, filler, structure on multi-part prompts,
key-word coverage, definitions, jargon) giving a real-valued score. Complexity and verbosity follow
curves of the length ratio that plateau at the ideal 2 for a response that fits, rising to 3-4 when it
is padded or over-technical and falling to 0-1 when it is too thin.

The real value becomes an integer by hash-driven stochastic rounding (3.25 is a 4 one time in four),
so half-point penalties still move the mean; then, on 3% of calls each way, a one-point nudge stands in
for a real judge's inconsistency. Both draws come from the request digest: the same call always gets
the same score.
"""

from __future__ import annotations

import itertools
import math
import re

from simulator.analysis import PromptProfile, ResponseFeatures, measure_response, profile_prompt
from simulator.hashing import unit_draw

ATTRIBUTE = re.compile(r"Attribute:\s*([A-Za-z]+)", re.IGNORECASE)
KNOWN_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
NOISE_UP = 0.03
NOISE_DOWN = 0.03


def attribute_of(rubric: str) -> str:
    """The attribute a rubric asks about; an unknown or missing one is scored like helpfulness."""
    match = ATTRIBUTE.search(rubric)
    name = match.group(1).lower() if match else "helpfulness"
    return name if name in KNOWN_ATTRIBUTES else "helpfulness"


def _interpolate(x: float, points: tuple[tuple[float, float], ...]) -> float:
    """Piecewise-linear curve through ``points`` (sorted by x), flat beyond both ends."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


# Length ratio -> score; both plateau at the ideal 2 for a response that fits its prompt.
COMPLEXITY_CURVE = ((0.2, 0.0), (0.5, 1.0), (0.75, 2.0), (1.6, 2.0), (2.2, 3.0), (3.0, 4.0))
VERBOSITY_CURVE = ((0.2, 0.0), (0.5, 1.0), (0.8, 2.0), (1.4, 2.0), (2.0, 3.0), (2.8, 4.0))


def _helpfulness(p: PromptProfile, f: ResponseFeatures) -> tuple[float, str]:
    score, reasons = 4.0 - p.difficulty, []
    if f.coverage < 0.5:
        score -= 1 if f.coverage >= 0.25 else 2
        reasons.append("misses much of what the prompt asks about")
    if f.length_ratio < 0.45:
        score -= 1.5
        reasons.append("is too thin to fully answer the request")
    elif f.length_ratio < 0.7:
        score -= 0.5
        reasons.append("leaves parts of the request underdeveloped")
    if f.length_ratio > 2.2:
        score -= 0.75
        reasons.append("buries the answer in padding")
    elif f.length_ratio > 1.6:
        score -= 0.25
        reasons.append("takes longer than needed to get to the point")
    if f.filler >= 2 and p.level == 0:
        score -= 0.25
        reasons.append("wraps a simple answer in filler")
    if p.multi_part and not f.structured:
        score -= 0.5
        reasons.append("does not clearly address each part of the request")
    if p.terms and p.level >= 1 and f.defined < 0.5:
        score -= 0.5
        reasons.append("uses technical terms without explaining them")
    if p.kind == "code" and not f.has_code:
        score -= 1
        reasons.append("gives no code for a coding request")
    return score, reasons[0] if reasons else "directly and fully answers what the user asked"


def _correctness(p: PromptProfile, f: ResponseFeatures) -> tuple[float, str]:
    score, reasons = 4.0 - p.difficulty, []
    if f.coverage < 0.5:
        score -= 1
        reasons.append("drifts away from the prompt's subject")
    if f.length_ratio < 0.5 and p.level >= 1:
        score -= 1
        reasons.append("omits details the answer needs to be complete")
    if f.jargon >= 2:
        score -= 0.5
        reasons.append("adds unsupported technical claims")
    if p.terms and f.defined >= 1.0:
        score += 0.25
    return score, reasons[0] if reasons else "makes accurate claims that stay on the prompt's subject"


def _coherence(p: PromptProfile, f: ResponseFeatures) -> tuple[float, str]:
    score, reasons = 4.0, []
    if f.filler >= 2:
        score -= 0.75
        reasons.append("is cluttered with filler phrases")
    elif f.filler == 1:
        score -= 0.25
        reasons.append("includes a filler phrase")
    if p.multi_part and not f.structured:
        score -= 0.75 if len(p.parts) >= 3 else 0.5
        reasons.append("runs several parts together without clear organisation")
    if f.length_ratio > 2.0:
        score -= 0.5
        reasons.append("rambles beyond what the prompt needs")
    if f.jargon >= 2:
        score -= 0.5
        reasons.append("breaks its flow with dense asides")
    return score, reasons[0] if reasons else "is clear, well organised and easy to follow"


def _complexity(p: PromptProfile, f: ResponseFeatures) -> tuple[float, str]:
    score = _interpolate(f.length_ratio, COMPLEXITY_CURVE)
    if score < 1.5:
        reason = "is simpler than the prompt calls for"
    elif score > 2.5:
        reason = "goes deeper than the prompt calls for"
    else:
        reason = "pitches its depth at what the prompt calls for"
    if p.terms and p.level >= 1 and f.defined < 0.5 and score >= 1:
        score += 0.75
        reason = "leans on technical terms without explaining them"
    if f.jargon >= 2:
        score += 1
        reason = "uses dense specialist jargon"
    return min(score, 4.0), reason


def _verbosity(p: PromptProfile, f: ResponseFeatures) -> tuple[float, str]:
    score = _interpolate((f.words + 6 * f.filler) / p.need_words, VERBOSITY_CURVE)
    if score < 1.5:
        return score, "is shorter than the prompt needs"
    if score > 2.5:
        return score, "is padded and longer than the prompt needs"
    return score, "is about as long as the prompt needs"


_SCORERS = {
    "helpfulness": _helpfulness,
    "correctness": _correctness,
    "coherence": _coherence,
    "complexity": _complexity,
    "verbosity": _verbosity,
}


def judge_response(prompt: str, response: str, rubric: str, digest: bytes) -> tuple[int, str]:
    """Score ``response`` to ``prompt`` on the rubric's attribute; returns (0-4 score, one sentence)."""
    attribute = attribute_of(rubric)
    profile = profile_prompt(prompt)
    features = measure_response(profile, response)
    raw, reason = _SCORERS[attribute](profile, features)
    # Stochastic rounding keeps half-point penalties meaningful on average: E[score] = raw.
    score = max(0, min(4, math.floor(raw + unit_draw(digest, "judge-rounding"))))
    draw = unit_draw(digest, "judge-noise")
    if draw < NOISE_UP:
        score = min(4, score + 1)
    elif draw < NOISE_UP + NOISE_DOWN:
        score = max(0, score - 1)
    if not response.strip():
        score, reason = 0, "is empty"
    return score, f"The response {reason}, so it earns {score} out of 4 for {attribute}."
