"""What a prompt needs and what a response offers, measured from the text alone.

``profile_prompt`` reads a user prompt (possibly a HelpSteer2 multi-turn transcript) and decides,
deterministically, how complex it is, how many parts it has, which technical terms it uses and how
long a well-fitted answer would be. ``measure_response`` reads a response against that profile. The
generator writes to the first and the judge scores with the second, so both sides of the landscape
share one definition of "fits the prompt".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from simulator.vocabulary import (
    CODE_WORDS,
    COMMON_ACRONYMS,
    FILLER_PHRASES,
    GLOSSARY,
    JARGON_WORDS,
    STOP_WORDS,
    TECHNICAL_SUFFIXES,
    WRITING_WORDS,
)

TURN_MARKER = re.compile(r"<extra_id_1>\s*(User|Assistant)\s*", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#'\-]*")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+|\n+")
_LIST_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*\u2022])\s+\S", re.MULTILINE)
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,4}s?\b")
_CONJOINED_ASK = re.compile(r"\b(?:and|also|plus)\s+(?:how|why|what|when|where|which|who|whether|list|give)\b", re.I)
_REQUEST_START = re.compile(
    r"^(?:explain|describe|list|compare|write|give|provide|tell|outline|suggest|summari[sz]e|show|create|"
    r"draft|recommend|name|identify|discuss|analy[sz]e|evaluate|define|calculate|implement|how|what|why|"
    r"when|where|which|who|can|could|should|is|are|do|does)\b",
    re.IGNORECASE,
)
_SHORT_FORMS = re.compile(r"\b(?:haiku|slogan|tweet|limerick|title|tagline|one[- ]liner|motto)\b", re.I)
_GLOSSARY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (term, re.compile(rf"\b{re.escape(term)}\b")) for term in GLOSSARY
)

NEED_WORDS_BY_LEVEL = (35, 95, 170)
WORDS_PER_EXTRA_PART = 25
WORDS_PER_TERM = 10
MAX_KEYWORDS = 6
MAX_TERMS = 3
MAX_DIFFICULTY = 0.6


@dataclass(frozen=True)
class PromptProfile:
    """The measurable needs of one user prompt.

    ``level`` is 0 (simple), 1 (moderate) or 2 (complex). ``need_words`` is the length of a response
    that fits: brief for simple prompts, longer per extra part and per technical term to define.
    ``difficulty`` (0 to ``MAX_DIFFICULTY``, fixed per prompt) is how far even a well-shaped answer
    falls short of a perfect helpfulness and correctness score, so that no instruction scores 1.0.
    """

    text: str
    turns: int
    keywords: tuple[str, ...]
    parts: tuple[str, ...]
    terms: tuple[str, ...]
    kind: str
    level: int
    need_words: int
    difficulty: float

    @property
    def multi_part(self) -> bool:
        """Whether the prompt asks several distinct things."""
        return len(self.parts) >= 2


@dataclass(frozen=True)
class ResponseFeatures:
    """What the judge can measure about a response, relative to its prompt's profile."""

    words: int
    length_ratio: float
    filler: int
    structured: bool
    coverage: float
    defined: float
    jargon: int
    has_code: bool


def last_user_turn(prompt: str) -> tuple[str, int]:
    """The final user turn of a HelpSteer2 transcript and the number of user turns in it."""
    pieces = TURN_MARKER.split(prompt)
    if len(pieces) == 1:
        return prompt.strip(), 1
    # split() yields [first_user_text, role, text, role, text, ...].
    turns = [(role.lower(), text) for role, text in zip(pieces[1::2], pieces[2::2], strict=True)]
    user_texts = [pieces[0]] + [text for role, text in turns if role == "user"]
    user_texts = [text.strip() for text in user_texts if text.strip()]
    if not user_texts:
        return prompt.strip(), 1
    return user_texts[-1], len(user_texts)


def content_words(text: str) -> list[str]:
    """Content words of ``text`` in order of first appearance, without repeats (compared lower-case).

    Words keep their written case ("Paris", "TCP") except a capital that only marks a sentence start.
    """
    seen: dict[str, str] = {}
    for match in _WORD.finditer(text):
        word = match.group(0).strip("'-")
        lowered = word.lower()
        if len(word) < 3 or lowered in STOP_WORDS or lowered in seen:
            continue
        i = match.start() - 1
        while i >= 0 and text[i] in " \t":
            i -= 1
        sentence_start = i < 0 or text[i] in ".?!:\n"
        seen[lowered] = lowered if sentence_start and not word.isupper() else word
    return list(seen.values())


def technical_terms(text: str) -> list[str]:
    """Technical terms in ``text``: glossary entries, specialist suffixes and uncommon acronyms."""
    lowered = text.lower()
    found: dict[str, int] = {}
    for term, pattern in _GLOSSARY_PATTERNS:
        match = pattern.search(lowered)
        if match:
            found.setdefault(term, match.start())
    for match in _WORD.finditer(text):
        word = match.group(0).lower()
        if len(word) >= 8 and word.endswith(TECHNICAL_SUFFIXES) and word not in STOP_WORDS:
            found.setdefault(word, match.start())
    for match in _ACRONYM.finditer(text):
        acronym = match.group(0).rstrip("s")
        if acronym not in COMMON_ACRONYMS and len(acronym) >= 2:
            found.setdefault(acronym.lower(), match.start())
    # Multi-word glossary entries swallow the single words inside them ("neural network" vs "network").
    terms = sorted(found, key=found.__getitem__)
    return [t for t in terms if not any(t != other and t in other.split() for other in terms)]


def _split_parts(text: str) -> list[str]:
    list_items = [m.group(0) for m in _LIST_LINE.finditer(text)]
    if len(list_items) >= 2:
        return [line.strip() for line in text.splitlines() if _LIST_LINE.match(line)]
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    parts: list[str] = []
    for sentence in sentences:
        if sentence.endswith("?") or _REQUEST_START.match(sentence):
            parts.append(sentence)
            for extra in _CONJOINED_ASK.finditer(sentence):
                parts.append(sentence[extra.start() :])
    return parts or [text]


def _kind(words: set[str], text: str) -> str:
    if words & CODE_WORDS or "```" in text:
        return "code"
    if words & WRITING_WORDS and re.search(r"\b(?:write|draft|compose|create|rewrite)\b", text, re.I):
        return "writing"
    if re.search(r"\b(?:should i|recommend|advice|tips|help me|how (?:can|do) i)\b", text, re.I):
        return "advice"
    if re.match(r"^(?:who|when|where|what is|what's|what are|how many|how much|which|is|are|does|did)\b", text, re.I):
        return "fact"
    return "explain"


@lru_cache(maxsize=8192)
def profile_prompt(prompt: str) -> PromptProfile:
    """Profile a user prompt; cached because the judge sees each prompt five times."""
    text, turns = last_user_turn(prompt)
    terms = technical_terms(text)[:MAX_TERMS]
    # Multi-word terms stay whole ("machine learning"), ahead of the single words inside them.
    phrases = [t for t in terms if " " in t]
    keywords = phrases + [w for w in content_words(text) if not any(w.lower() in p.split() for p in phrases)]
    if len(keywords) < 3 and turns > 1:
        known = {w.lower() for w in keywords}
        keywords += [w for w in content_words(TURN_MARKER.sub(" ", prompt)) if w.lower() not in known]
    keywords = keywords[:MAX_KEYWORDS] or ["topic"]
    parts = _split_parts(text)[:6]
    lowered_words = {m.group(0).lower() for m in _WORD.finditer(text)}
    kind = _kind(lowered_words, text)
    n_words = len(text.split())

    weight = 0
    weight += (n_words > 25) + (n_words > 60)
    weight += (len(parts) >= 2) + (len(parts) >= 3)
    weight += min(len(terms), 2)
    weight += kind == "code"
    weight += kind in ("explain", "advice") and n_words > 12
    if kind == "writing":
        # A haiku or slogan is short whatever the prompt says; an email or story needs some room.
        weight = 0 if _SHORT_FORMS.search(text) else max(weight, 2)
    level = 0 if weight <= 1 else 1 if weight <= 3 else 2

    need = NEED_WORDS_BY_LEVEL[level]
    if level > 0:
        need += WORDS_PER_EXTRA_PART * (len(parts) - 1)
    need += WORDS_PER_TERM * len(terms)
    if kind == "code":
        need += 30
    draw = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") / 2**32
    return PromptProfile(
        text=text,
        turns=turns,
        keywords=tuple(keywords),
        parts=tuple(parts),
        terms=tuple(terms),
        kind=kind,
        level=level,
        need_words=need,
        difficulty=round(draw * MAX_DIFFICULTY, 3),
    )


def is_defined(term: str, lowered_response: str) -> bool:
    """Whether the response gives ``term`` a definition ("X means ...", "X refers to ...", "X (...")."""
    pattern = rf"\b{re.escape(term)}\b\W{{0,3}}(?:means|refers to|is short for|\()"
    return re.search(pattern, lowered_response) is not None


def measure_response(profile: PromptProfile, response: str) -> ResponseFeatures:
    """Measure a response against what its prompt needs."""
    lowered = response.lower()
    words = len(response.split())
    filler = sum(lowered.count(phrase) for phrase in FILLER_PHRASES)
    structured = len(_LIST_LINE.findall(response)) >= 2
    coverage = sum(1 for kw in profile.keywords if kw.lower() in lowered) / len(profile.keywords)
    if profile.terms:
        defined = sum(1 for term in profile.terms if is_defined(term, lowered)) / len(profile.terms)
    else:
        defined = 1.0
    jargon = sum(1 for word in JARGON_WORDS if word in lowered)
    return ResponseFeatures(
        words=words,
        length_ratio=words / profile.need_words,
        filler=filler,
        structured=structured,
        coverage=coverage,
        defined=defined,
        jargon=jargon,
        has_code="```" in response,
    )
