"""Build the synthetic HelpSteer2-style sample shipped with the project.

    python evaluation/sample/build_sample.py            # rewrite helpsteer2_sample.jsonl
    python evaluation/sample/build_sample.py --check    # exit 1 if the shipped file is stale
    python evaluation/sample/build_sample.py --out PATH

The output is byte-identical on every run: the text comes from sample_content.py, every
choice comes from one random.Random with a fixed seed consumed in a fixed order, and rows
are written as JSON with a fixed key order and "\\n" line endings. Scores follow the rule
in score_response() and DATA_CARD.md; they are not human labels.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run as a script from anywhere: the checkout's root goes on the path for the text bank beside this file.
if str(HERE.parents[1]) not in sys.path:
    sys.path.insert(0, str(HERE.parents[1]))

from evaluation.sample.sample_content import (  # noqa: E402  (after the path set-up above)
    ADVERSARIAL_PROMPTS,
    CODING_TASKS,
    CONCEPTS,
    EMAILS,
    EXPLANATIONS,
    LOOKALIKES,
    QUICK_FACTS,
    REFUSALS,
    WRITING_TASKS,
    CodingTask,
    Concept,
    Email,
    Fact,
    WritingTask,
)

DEFAULT_OUT = HERE / "helpsteer2_sample.jsonl"
GENERATOR_SEED = 20240611
OUT_OF_BAND_ONLY_RATE = 0.07  # prompts whose only responses score 0, 1 or 4
SECOND_RESPONSE_RATE = 0.4  # HelpSteer2 usually has two responses per prompt
PADDED_RATE = 0.3  # level-2 responses wrapped in filler
NEAR_DUPLICATE_EVERY = 30  # every Nth in-band prompt gets a whitespace/case variant
HIGH_LEVEL = 4  # the high subset (helpfulness 4): every prompt with a level-4 answer gets one

TURN_ASSISTANT = "\n<extra_id_1>Assistant\n"
TURN_USER = "\n<extra_id_1>User\n"

# helpfulness, correctness, coherence, complexity, verbosity for each quality level.
LEVEL_SCORES: dict[int, tuple[int, int, int, int, int]] = {
    0: (0, 1, 2, 0, 0),  # a non-answer or an off-topic answer
    1: (1, 2, 3, 1, 1),  # vague, generic, no real content
    2: (2, 3, 3, 1, 1),  # correct but thin: misses part of the request
    3: (3, 3, 4, 2, 2),  # answers the request with small gaps
    4: (4, 4, 4, 2, 2),  # complete, well organised
}

LEVEL_ZERO = (
    "I'm sorry, but I can't help with that request.",
    "Could you clarify what you mean? I'm not sure I understand the question.",
    (
        "Here's a recipe for banana bread instead: mash three ripe bananas, mix in flour, sugar, melted butter and an "
        "egg, and bake for about an hour."
    ),
)
PAD_OPENINGS = ("Great question! ", "Sure, I'd be happy to help with that. ", "Absolutely! ")
PAD_CLOSING = "\n\nI hope this helps! Let me know if you have any other questions."


@dataclass(frozen=True)
class Item:
    """One prompt and a way to write a response to it at a given quality level."""

    prompt: str
    render: Callable[[int], str]
    levels: tuple[int, ...] = (0, 1, 2, 3, 4)
    technical: bool = False
    keep_in_band: bool = False  # look-alikes must reach the filter, so never out-of-band only


def score_response(level: int, *, technical: bool, padded: bool) -> dict[str, int]:
    """The scoring rule: a base row per level, then two adjustments (see DATA_CARD.md)."""
    helpfulness, correctness, coherence, complexity, verbosity = LEVEL_SCORES[level]
    if technical and level >= 2:
        complexity += 1
    if padded:
        verbosity, coherence = 3, coherence - 1
    return {
        "helpfulness": helpfulness,
        "correctness": correctness,
        "coherence": coherence,
        "complexity": complexity,
        "verbosity": verbosity,
    }


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head + "." if dot else text


# --------------------------------------------------------------------------- concepts

# {is}, {it} and {does} agree with the concept's name ("Bloom filters are ...").
QUICK_FORMS = (
    "What {is} {name}?",
    "Can you briefly explain what {name} {is}?",
    "In one or two sentences, what {is} {name}?",
    "quick question - what {is} {name}?",
)
BEGINNER_FORMS = (
    "I'm new to {domain}. Can you explain {name} in plain language, without assuming much background?",
    "Explain {name} like I'm a junior developer in my first week.",
    "I keep hearing about {name} at work but I'm too embarrassed to ask. What {is} {it} and why {does} {it} matter?",
)
DESIGN_FORMS = (
    (
        "We're building {scenario}. Could you walk me through {name}: (1) how it works, (2) when it's the right tool, "
        "and (3) one mistake teams often make with it?"
    ),
    (
        "Context: we're working on {scenario}. Our tech lead suggested {name}. Please explain 1) how it works, 2) when "
        "we should use it, 3) common pitfalls. Keep it practical."
    ),
    (
        "I'm preparing for a system design interview. For {name}, explain how it works, when you'd use it, and a "
        "common mistake. Use {scenario} as the running example."
    ),
)
WIKI_FORMS = (
    "Write a short paragraph for our internal engineering wiki introducing {name} to new hires.",
    "Draft a concise explanation of {name} that I can paste into our team's onboarding doc.",
)
FOLLOW_UPS = (
    "Can you give me a concrete example of how it's used in practice?",
    "ok but what does that look like in a real system?",
    "Thanks. Could you show a real-world example?",
)


PLURAL_CONCEPTS = frozenset(
    {
        "vector clocks",
        "idempotency keys",
        "gossip protocols",
        "B-tree indexes",
        "transaction isolation levels",
        "read replicas",
        "LSM trees",
        "embeddings",
        "precision and recall",
        "content delivery networks (CDNs)",
        "feature flags",
        "Bloom filters",
    }
)


def generic_vague(topic: str, be: str = "is") -> str:
    return (
        f"{cap(topic)} {be} a broad topic, and the details depend on your system and requirements. "
        "It's worth reading the documentation of the tools you use and experimenting to see what works best."
    )


def concept_items(concept: Concept, index: int) -> list[Item]:
    c = concept
    plural = c.name in PLURAL_CONCEPTS
    be = "are" if plural else "is"
    fill = {
        "name": c.name,
        "domain": c.domain,
        "scenario": c.scenario,
        "is": be,
        "it": "they" if plural else "it",
        "does": "do" if plural else "does",
    }

    def quick(level: int) -> str:
        return {
            0: LEVEL_ZERO[index % len(LEVEL_ZERO)],
            1: generic_vague(c.name, be),
            2: first_sentence(c.definition),
            3: f"{c.definition} For example: {c.example}",
            4: f"{c.definition}\n\nExample: {c.example}\n\nA common mistake is {c.pitfall}",
        }[level]

    def beginner(level: int) -> str:
        return {
            0: LEVEL_ZERO[(index + 1) % len(LEVEL_ZERO)],
            1: generic_vague(c.name, be),
            2: c.definition,
            3: f"In plain terms: {c.definition}\n\nA concrete case: {c.example}",
            4: f"In plain terms: {c.definition}\n\nA concrete case: {c.example}\n\n"
            f"It's most useful when {c.use_when} A common beginner mistake is {c.pitfall}",
        }[level]

    def design(level: int) -> str:
        how = f"1. How it works: {c.definition}"
        when = f"2. When to use it: it fits when {c.use_when}"
        mistake = f"3. Common mistake: {cap(c.pitfall)}"
        return {
            0: LEVEL_ZERO[(index + 2) % len(LEVEL_ZERO)],
            1: generic_vague(c.name, be),
            2: f"{how}\n{when}",
            3: f"{how}\n{when}\n{mistake}",
            4: f"For {c.scenario}, {c.name} is worth a close look.\n\n{how} {c.example}\n\n{when}\n\n{mistake}",
        }[level]

    def wiki(level: int) -> str:
        return {
            0: LEVEL_ZERO[index % len(LEVEL_ZERO)],
            1: generic_vague(c.name, be),
            2: f"{cap(c.name)} {be} an important idea in {c.domain}. {first_sentence(c.definition)}",
            3: f"{c.definition} Reach for it when {c.use_when}",
            4: f"{c.definition} Reach for it when {c.use_when} {c.example} One thing to avoid: {c.pitfall}",
        }[level]

    def follow_up(level: int) -> str:
        return {
            0: LEVEL_ZERO[(index + 1) % len(LEVEL_ZERO)],
            1: "Sure. There are many examples, and it depends on the system you're looking at.",
            2: f"Sure. It's used in many {c.domain} systems. {first_sentence(c.definition)}",
            3: f"Sure. {c.example}",
            4: f"Sure. {c.example} One caveat from practice: {c.pitfall}",
        }[level]

    items = [
        Item(QUICK_FORMS[index % len(QUICK_FORMS)].format(**fill), quick, technical=True),
        Item(BEGINNER_FORMS[index % len(BEGINNER_FORMS)].format(**fill), beginner, technical=True),
        Item(DESIGN_FORMS[index % len(DESIGN_FORMS)].format(**fill), design, technical=True),
        Item(WIKI_FORMS[index % len(WIKI_FORMS)].format(**fill), wiki, technical=True),
    ]
    if index % 2 == 0:
        opening = f"What {be} {c.name}?"
        prompt = f"{opening}{TURN_ASSISTANT}{c.definition}{TURN_USER}{FOLLOW_UPS[index // 2 % len(FOLLOW_UPS)]}"
        items.append(Item(prompt, follow_up, technical=True))
    return items


# --------------------------------------------------------------------------- other kinds

FACT_VAGUE = (
    "That's a good question. The answer depends on a few factors, so it's best to check a reliable "
    "reference such as an encyclopedia or an expert source."
)


def fact_item(fact: Fact, index: int, *, keep_in_band: bool = False) -> Item:
    def render(level: int) -> str:
        return {
            0: LEVEL_ZERO[index % len(LEVEL_ZERO)],
            1: FACT_VAGUE,
            2: fact.answer,
            3: f"{fact.answer} {fact.detail}",
            4: f"Short answer: {fact.answer}\n\nMore detail: {fact.detail}",
        }[level]

    return Item(fact.question, render, keep_in_band=keep_in_band)


def coding_item(task: CodingTask, index: int) -> Item:
    block = f"```{task.language}\n{task.code}\n```"

    def render(level: int) -> str:
        return {
            0: LEVEL_ZERO[index % len(LEVEL_ZERO)],
            1: (
                f"You can do this in a few lines of {task.language}. Check the documentation for the functions you "
                "need and test with a few examples."
            ),
            2: block,
            3: f"{block}\n\n{task.explanation}",
            4: f"Here's one way to do it:\n\n{block}\n\n{task.explanation}\n\n{task.note}",
        }[level]

    return Item(task.prompt, render, technical=True)


def email_items(email: Email, index: int) -> list[Item]:
    items = []
    for tone in ("formal", "friendly"):
        if tone == "formal":
            prompt = f"Write a formal email to {email.recipient} {email.purpose}."
            greeting = "Dear all," if email.first_name == "everyone" else f"Dear {email.first_name},"
            closing = "Kind regards,\n[Your name]"
        else:
            prompt = f"Can you draft a friendly, casual email to {email.recipient} {email.purpose}?"
            greeting = "Hi everyone," if email.first_name == "everyone" else f"Hi {email.first_name},"
            closing = "Thanks so much!\n[Your name]"

        def render(level: int, greeting: str = greeting, closing: str = closing) -> str:
            letter = f"{greeting}\n\n{email.body}\n\n{closing}"
            return {
                0: LEVEL_ZERO[index % len(LEVEL_ZERO)],
                1: f"{greeting}\n\nI wanted to reach out about this. Let me know your thoughts.\n\n{closing}",
                2: email.body,
                3: letter,
                4: f"Subject: {email.subject}\n\n{letter}",
            }[level]

        items.append(Item(prompt, render))
    return items


def writing_item(task: WritingTask, index: int) -> Item:
    def render(level: int) -> str:
        return {
            0: LEVEL_ZERO[index % len(LEVEL_ZERO)],
            1: "Here's a draft: I wanted to share something with you. Please let me know what you think!",
            2: task.short,
            3: task.full,
        }[level]

    return Item(task.prompt, render, levels=(0, 1, 2, 3))


# --------------------------------------------------------------------------- assembly


def all_items() -> list[Item]:
    items: list[Item] = []
    for index, concept in enumerate(CONCEPTS):
        items.extend(concept_items(concept, index))
    items.extend(fact_item(fact, index) for index, fact in enumerate(QUICK_FACTS + EXPLANATIONS))
    items.extend(fact_item(fact, index, keep_in_band=True) for index, fact in enumerate(LOOKALIKES))
    items.extend(coding_item(task, index) for index, task in enumerate(CODING_TASKS))
    for index, email in enumerate(EMAILS):
        items.extend(email_items(email, index))
    items.extend(writing_item(task, index) for index, task in enumerate(WRITING_TASKS))
    prompts = [item.prompt for item in items]
    if len(set(prompts)) != len(prompts):
        raise SystemExit("build_sample: two items share a prompt; make the templates distinct")
    return items


def near_duplicate(prompt: str, variant: int) -> str:
    """The same prompt as a person might retype it: other case or stray whitespace."""
    if variant % 3 == 0:
        return prompt.lower()
    if variant % 3 == 1:
        return prompt.replace(" ", "  ", 2) + "\n"
    return "  " + prompt


def response_row(prompt: str, text: str, level: int, *, technical: bool, padded: bool = False) -> dict[str, object]:
    return {"prompt": prompt, "response": text, **score_response(level, technical=technical, padded=padded)}


def build_rows() -> list[dict[str, object]]:
    """Every row of the sample, in output order."""
    rng = random.Random(GENERATOR_SEED)
    groups: list[list[dict[str, object]]] = []
    in_band_prompts = 0

    def render(item: Item, level: int, prompt: str | None = None) -> dict[str, object]:
        text = item.render(level)
        padded = level == 2 and rng.random() < PADDED_RATE
        if padded:
            text = rng.choice(PAD_OPENINGS) + text + PAD_CLOSING
        return response_row(prompt or item.prompt, text, level, technical=item.technical, padded=padded)

    for item in all_items():
        out_of_band = [level for level in item.levels if level not in (2, 3)]
        if not item.keep_in_band and rng.random() < OUT_OF_BAND_ONLY_RATE:
            levels = [rng.choice(out_of_band)]
        else:
            levels = [rng.choice((2, 3))]
            in_band_prompts += 1
        if rng.random() < SECOND_RESPONSE_RATE:
            levels.append(rng.choice([level for level in item.levels if level != levels[0]]))
        rng.shuffle(levels)
        group = [render(item, level) for level in levels]
        band = [level for level in levels if level in (2, 3)]
        if band and not item.keep_in_band and in_band_prompts % NEAR_DUPLICATE_EVERY == 0:
            variant = near_duplicate(item.prompt, in_band_prompts // NEAR_DUPLICATE_EVERY)
            group.append(render(item, 5 - band[0], variant))  # the other in-band level
        if HIGH_LEVEL in item.levels and HIGH_LEVEL not in levels:
            # The high subset needs a level-4 answer to every prompt that can have one; rendering
            # level 4 draws nothing from rng, so the rows above stay exactly as they were.
            group.append(render(item, HIGH_LEVEL))
        groups.append(group)

    for index, prompt in enumerate(ADVERSARIAL_PROMPTS):
        level = 1 if index % 6 == 5 else rng.choice((2, 3))
        group = [response_row(prompt, REFUSALS[index % len(REFUSALS)], level, technical=False)]
        if index % 2 == 0:  # a well-rated refusal, for the adversarial filter of the high subset to remove
            refusal = REFUSALS[(index + 1) % len(REFUSALS)]
            group.append(response_row(prompt, refusal, HIGH_LEVEL, technical=False))
        groups.append(group)

    rng.shuffle(groups)
    return [row for group in groups for row in group]


def render_jsonl(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSONL sample")
    parser.add_argument("--check", action="store_true", help="only compare with --out; exit 1 if it differs")
    args = parser.parse_args(argv)
    payload = render_jsonl(build_rows())
    if args.check:
        current = args.out.read_bytes() if args.out.exists() else b""
        if current != payload:
            print(f"{args.out} is stale; rerun build_sample.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.write_bytes(payload)
    rows = payload.count(b"\n")
    print(f"wrote {rows} rows, {len(payload):,} bytes to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
