"""The simulated assistant: writes a reply to a user prompt under a given instruction.

The reply is assembled from templates around the prompt's key words. What varies with the instruction
is the *shape*: ``read_style`` spots clauses in the instruction (be concise, tailor length to
complexity, use lists for multi-part asks, define technical terms, no filler, plain language, ...) and
``compose_response`` turns them into length, structure, definitions and filler. With no such clauses
(the bare "be helpful" baseline) the reply is padded with pleasantries on simple prompts and
unstructured on multi-part ones, which is what the judge then marks down.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

from simulator.analysis import PromptProfile, content_words, profile_prompt
from simulator.hashing import rng_for
from simulator.vocabulary import (
    CLOSER_FILLERS,
    CODE_WORDS,
    GLOSSARY,
    JARGON_ASIDES,
    OPENER_FILLERS,
    PADDING_SENTENCES,
    WRITING_WORDS,
)

WORDS_PER_SENTENCE = 15


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


STYLE_PATTERNS: dict[str, re.Pattern[str]] = {
    "concise": _rx(r"\bconcise|\bbrief|succinct|\bshort\b|to the point|\bterse|minimal words|economical"),
    "adaptive": _rx(
        r"complexity|\btailor|\badapt|in proportion|proportionate|match(?:ing)? (?:the )?(?:length|depth)|"
        r"depending on (?:the )?(?:question|prompt|request)|calibrat|scale (?:the|your) (?:length|depth)|"
        r"simple questions?.{0,60}\b(?:brief|short)"
    ),
    "structured": _rx(r"structur|bullet|numbered|\blists?\b|headings|step[- ]by[- ]step|organi[sz]e|each part"),
    "define_terms": _rx(
        r"\bdefin(?:e|es|ing|ition)|explain (?:any |all |each )?(?:technical )?(?:terms?|terminology|jargon)|"
        r"gloss"
    ),
    "no_filler": _rx(
        r"filler|pleasantr|fluff|preamble|great question|hope this helps|no (?:greetings|chit-?chat)|"
        r"skip (?:the )?(?:intro|introduction|niceties)|without (?:padding|preamble|introduction)|padding|"
        r"unnecessary (?:phrases|words)"
    ),
    "plain": _rx(
        r"plain(?:,)? (?:and )?(?:\w+ )?(?:language|english|words)|simple (?:language|words)|everyday|"
        r"lay(?:person|man)|accessible|avoid(?:ing)? jargon|jargon-free|non-?experts?"
    ),
    "thorough": _rx(r"thorough|comprehensive|detailed|in[- ]depth|exhaustive|extensive|cover every"),
    "examples": _rx(r"\bexamples?\b|for instance|illustrat"),
    "cautious": _rx(r"high[- ]stakes|double-check|verify|caution|consequences|relying on|\bcritical\b|\blives\b"),
    "playful": _rx(r"creativ|vivid|playful|engaging|\bfun\b|humou?r|storytell|analog|enthusias"),
}


@dataclass(frozen=True)
class Style:
    """The instruction clauses the simulated assistant obeys."""

    concise: bool = False
    adaptive: bool = False
    structured: bool = False
    define_terms: bool = False
    no_filler: bool = False
    plain: bool = False
    thorough: bool = False
    examples: bool = False
    cautious: bool = False
    playful: bool = False


@lru_cache(maxsize=1024)
def read_style(instruction: str) -> Style:
    """Detect the instruction's clauses by keyword; unknown wording simply has no effect."""
    return Style(**{name: bool(pattern.search(instruction)) for name, pattern in STYLE_PATTERNS.items()})


LEADS: tuple[str, ...] = (
    "In short, {a} comes down to {b} and how it shapes {c}.",
    "The direct answer is that {a} depends mostly on {b}, with {c} as a secondary factor.",
    "Put simply, {a} is about how {b} and {c} work together in practice.",
    "The key point is that {a} is driven by {b}, which in turn affects {c}.",
)
DETAILS: tuple[str, ...] = (
    "A useful way to approach {a} is to start from {b} and check the result against {c}.",
    "In practice, {a} matters because it determines how {b} behaves over time.",
    "It helps to keep {a} separate from {b}, since the two are easy to confuse.",
    "Most of the effect comes from {a}, while {b} plays a smaller supporting role.",
    "When {a} changes, {b} usually changes with it, so watch both together.",
    "A common mistake is to focus on {a} alone and overlook the role of {b}.",
    "For {a}, the safest choice is usually the simplest one that still handles {b}.",
    "{A} is well understood, and the standard approach to {b} works in most cases.",
)
EXPANSIONS: tuple[str, ...] = (
    "To put it another way, {a} and {b} are closely related and worth considering together.",
    "Generally speaking, {a} is something that comes up often when people think about {b}.",
    "Many sources discuss {a} at length, and most agree that {b} is part of the picture.",
)
VERSE: tuple[str, ...] = (
    "Beneath the quiet {a}, the {b} begins to turn,",
    "and every {a} remembers what the {b} has learned.",
    "The {a} keeps its promise to the patient {b},",
    "while {a} and {b} drift gently into one.",
)
ANALOGIES: tuple[str, ...] = (
    "Think of {a} like a busy kitchen: {b} is the recipe and everything else is timing!",
    "Imagine {a} as a river, with {b} deciding where the water flows!",
)


def _fill(template: str, words: list[str], rng: random.Random) -> str:
    pool = words + [w for w in ("the context", "the overall goal") if w not in words][: max(0, 3 - len(words))]
    start = rng.randrange(len(pool))
    a, b, c = (pool[(start + i) % len(pool)] for i in range(3))
    return template.format(a=a, b=b, c=c, A=a[:1].upper() + a[1:])


def _length_factor(profile: PromptProfile, style: Style) -> float:
    """How long the reply runs relative to what the prompt needs."""
    level = profile.level
    if style.adaptive:
        factor = 1.0
        if style.concise and level == 0:
            factor = 0.9
        if style.thorough and level == 2:
            factor = 1.15
        return factor
    if style.concise and style.thorough:
        return 1.0
    if style.concise:
        return (0.8, 0.55, 0.45)[level]
    if style.thorough:
        return (2.3, 1.7, 1.4)[level]
    # The bare baseline: says too much about simple things, a little too little about hard ones.
    return (1.3, 1.15, 0.9)[level]


def _part_words(part: str, profile: PromptProfile) -> list[str]:
    own = content_words(part)[:4]
    return own + [w for w in profile.keywords if w not in own][: max(0, 3 - len(own))]


def _sentences(count: int, words: list[str], rng: random.Random) -> list[str]:
    """One lead sentence and ``count - 1`` detail sentences, without repeating a template."""
    details = rng.sample(DETAILS, min(len(DETAILS), max(0, count - 1)))
    details += [DETAILS[i % len(DETAILS)] for i in range(count - 1 - len(details))]
    templates = [LEADS[rng.randrange(len(LEADS))]] + details
    return [_fill(template, words, rng) for template in templates[:count]]


LANGUAGES = frozenset({"python", "java", "javascript", "typescript", "sql", "rust", "bash", "c++", "go", "ruby"})


def _code_block(profile: PromptProfile) -> str:
    subjects = [w for w in profile.keywords if w.lower() not in LANGUAGES | CODE_WORDS] or ["data"]
    name = re.sub(r"\W", "_", subjects[0]).lower()
    other = re.sub(r"\W", "_", subjects[-1]).lower()
    return (
        "```python\n"
        f"def handle_{name}(items):\n"
        f'    """Process each {other} and return the results in order."""\n'
        "    results = []\n"
        "    for item in items:\n"
        "        results.append(item)\n"
        "    return results\n"
        "```"
    )


ACRONYMS = frozenset({"api", "tcp", "http", "sql", "json", "dna", "gdp"})


def _definitions(profile: PromptProfile) -> list[str]:
    """One "X means ..." sentence per technical term of the prompt (the judge looks for that shape)."""
    out = []
    for term in profile.terms:
        gloss = GLOSSARY.get(term, "the specialised term your question uses for this idea")
        # Terms are stored lower-case; acronyms found outside the glossary ("UDP") are short and space-free.
        is_acronym = term in ACRONYMS or (term not in GLOSSARY and len(term) <= 5 and " " not in term)
        label = term.upper() if is_acronym else term[:1].upper() + term[1:]
        out.append(f"{label} means {gloss}.")
    return out


def compose_response(prompt: str, instruction: str, digest: bytes) -> str:
    """Write the reply to ``prompt`` that an assistant following ``instruction`` would give."""
    profile = profile_prompt(prompt)
    style = read_style(instruction)
    rng = rng_for(digest, "generator")
    keywords = list(profile.keywords)

    target_words = profile.need_words * _length_factor(profile, style)
    definitions = _definitions(profile) if style.define_terms else []
    target_words -= sum(len(d.split()) for d in definitions)
    if profile.kind == "code":
        target_words -= 25
    n_sentences = max(1, round(target_words / WORDS_PER_SENTENCE))

    chatty = not style.no_filler
    baseline_like = chatty and not (style.concise or style.adaptive)
    opener_odds = (0.8, 0.5, 0.4)[profile.level] if baseline_like else 0.3 if chatty else 0.0
    closer_odds = (0.7, 0.4, 0.3)[profile.level] if baseline_like else 0.25 if chatty else 0.0
    padding_odds = 0.4 if baseline_like and profile.level == 0 else 0.0

    blocks: list[str] = []
    intro: list[str] = []
    if style.playful and chatty:
        intro.append("Ooh, what a fun one to think about!")
    elif rng.random() < opener_odds:
        intro.append(OPENER_FILLERS[rng.randrange(len(OPENER_FILLERS))])
    if rng.random() < padding_odds:
        intro.append(PADDING_SENTENCES[rng.randrange(len(PADDING_SENTENCES))])

    lists_parts = profile.multi_part and (style.structured or (baseline_like and rng.random() < 0.3))
    if profile.kind == "writing":
        subjects = [w for w in keywords if w.lower() not in WRITING_WORDS] or keywords
        images = (subjects * 3)[: max(3, len(subjects))]  # verse repeats its images rather than say "the context"
        lines = [_fill(VERSE[i % len(VERSE)], images, rng) for i in range(max(2, n_sentences * 2))]
        blocks.append(" ".join(intro + [f"Here is a short piece about {' and '.join(subjects[:2])}:"]))
        blocks.append("\n".join(lines))
    elif profile.multi_part:
        per_part = max(1, round(n_sentences / len(profile.parts)))
        answers = [" ".join(_sentences(per_part, _part_words(p, profile), rng)) for p in profile.parts]
        if lists_parts:
            head = intro + ([f"Here is each part of your question about {keywords[0]} in turn."] if intro else [])
            if head:
                blocks.append(" ".join(head))
            blocks.append("\n".join(f"{i}. {answer}" for i, answer in enumerate(answers, start=1)))
        else:
            blocks.append(" ".join(intro + answers))
    else:
        body = _sentences(n_sentences, keywords, rng)
        if style.structured and profile.level == 2 and len(body) >= 3:
            blocks.append(" ".join(intro + body[:1]))
            blocks.append("\n".join(f"- {sentence}" for sentence in body[1:]))
        else:
            blocks.append(" ".join(intro + body))

    if definitions:
        # "Define technical terms immediately": right after an opening paragraph, or before a bare list.
        opens_with_list = bool(blocks) and blocks[0][:2] in ("1.", "- ")
        blocks.insert(0 if opens_with_list else 1, " ".join(definitions))
    if profile.kind == "code":
        blocks.insert(1, _code_block(profile))

    extras: list[str] = []
    if style.examples:
        extras.append(f"For example, if {keywords[0]} doubles, expect {keywords[-1]} to shift noticeably as well.")
    if style.thorough and not style.adaptive:
        extras.append(_fill(EXPANSIONS[rng.randrange(len(EXPANSIONS))], keywords, rng))
    if style.playful:
        extras.append(_fill(ANALOGIES[rng.randrange(len(ANALOGIES))], keywords, rng))
    if style.cautious:
        extras.append(f"Please double-check the specifics of {keywords[0]} against an authoritative source.")
    jargon_odds = 0.0 if (style.plain or style.define_terms) else 0.7 if style.thorough else 0.35
    if profile.terms and profile.level >= 1 and rng.random() < jargon_odds:
        extras.append(JARGON_ASIDES[rng.randrange(len(JARGON_ASIDES))])
    if rng.random() < closer_odds:
        extras.append(CLOSER_FILLERS[rng.randrange(len(CLOSER_FILLERS))])
    if extras:
        blocks.append(" ".join(extras))
    return "\n\n".join(block for block in blocks if block)
