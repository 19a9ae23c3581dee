"""The simulated prompt model behind MIPROv2's proposer.

``propose_instruction`` recombines a library of instruction clauses. The tip in the request steers how
many clauses and which framing (simple: one or two; description: many; persona: "You are a ...";
high_stakes and creative: their own clause), the request digest picks among them, and the best-scored
previous instruction, when the request lists any, makes its clauses more likely to be kept. Some
combinations read well to the simulated generator (tailored length, lists, definitions, no filler)
and beat the baseline; others (terse-only, exhaustive, creative) do not, so the search has real work.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from simulator.generator import read_style
from simulator.hashing import rng_for


@dataclass(frozen=True)
class Clause:
    """One kind of instruction sentence, its wordings and how often the proposer reaches for it."""

    key: str
    wordings: tuple[str, ...]
    weight: float


CLAUSES: tuple[Clause, ...] = (
    Clause(
        "adaptive",
        (
            (
                "Match the length and depth of your answer to the complexity of the question: a short reply for simple "
                "questions and a fuller one for complex or multi-part requests."
            ),
            (
                "Tailor each response to the complexity of the prompt, keeping simple answers brief and giving "
                "detailed questions a thorough treatment."
            ),
        ),
        0.5,
    ),
    Clause(
        "concise",
        (
            "Keep your answers concise.",
            "Be brief and get to the point.",
            "Prefer short, direct answers.",
        ),
        0.45,
    ),
    Clause(
        "structure",
        (
            "When a request has several parts, answer them in a numbered list.",
            "Use bullet points or numbered steps to organise multi-part answers.",
        ),
        0.5,
    ),
    Clause(
        "define",
        (
            "Define technical terms the first time you use them.",
            "Explain any technical term you mention in a few words.",
        ),
        0.45,
    ),
    Clause(
        "no_filler",
        (
            "Skip filler such as 'Great question!' or 'I hope this helps!'.",
            "Avoid unnecessary filler phrases and pleasantries.",
        ),
        0.5,
    ),
    Clause(
        "plain",
        (
            "Use plain language.",
            "Write in plain, everyday words.",
        ),
        0.4,
    ),
    Clause(
        "accuracy",
        (
            "Make sure every claim you make is accurate.",
            "Double-check facts before stating them.",
        ),
        0.35,
    ),
    Clause(
        "thorough",
        (
            "Give detailed, comprehensive explanations.",
            "Cover the topic in depth so that nothing is left out.",
        ),
        0.3,
    ),
    Clause(
        "examples",
        (
            "Include a concrete example where it helps.",
            "Illustrate key points with an example.",
        ),
        0.25,
    ),
)
CLAUSE_ORDER = ("adaptive", "concise", "thorough", "structure", "define", "plain", "examples", "no_filler", "accuracy")
CORE_WORDINGS = (
    "Answer the user's question clearly and accurately.",
    "Respond to each request directly and accurately.",
    "Give the user a correct, clear answer to what they asked.",
)
ROLE_WORDINGS = (
    "You are a helpful assistant.",
    "You are a knowledgeable and friendly assistant.",
    "You are an expert assistant who writes for a general audience.",
)
PERSONAS = (
    "You are a veteran teacher who explains things patiently to curious learners.",
    "You are a seasoned technical writer known for clear, well-organised answers.",
    "You are a senior consultant whom clients trust for straight answers.",
)
HIGH_STAKES = (
    "The user is relying on your answer for an important decision, so be careful and precise.",
    "Treat every question as high stakes: a wrong or confusing answer could have serious consequences.",
)
CREATIVE = (
    "Use vivid analogies and an engaging, enthusiastic tone.",
    "Make your answers memorable with creative storytelling.",
)
_HISTORY_ENTRY = re.compile(r"(?P<text>.+?)\s*\|\s*Score:\s*(?P<score>-?[0-9.]+)", re.DOTALL)


def tip_kind(tip: str) -> str:
    """Which of MIPROv2's tips a tip text is ("none" when empty or unrecognised)."""
    lowered = tip.lower()
    for kind, needle in (
        ("simple", "clear and concise"),
        ("description", "informative and descriptive"),
        ("high_stakes", "high stakes"),
        ("persona", "persona"),
        ("creative", "creative"),
    ):
        if needle in lowered:
            return kind
    return "none"


def best_previous(history: str) -> str | None:
    """The best-scored instruction in MIPROv2's ``previous_instructions`` text, if there is one."""
    best: tuple[float, str] | None = None
    for block in history.split("\n\n"):
        match = _HISTORY_ENTRY.fullmatch(block.strip())
        if match:
            entry = (float(match.group("score")), match.group("text").strip())
            if best is None or entry[0] > best[0]:
                best = entry
    return best[1] if best else None


def _clause_keys_in(instruction: str) -> set[str]:
    style = read_style(instruction)
    mapping = {
        "adaptive": style.adaptive,
        "concise": style.concise,
        "structure": style.structured,
        "define": style.define_terms,
        "no_filler": style.no_filler,
        "plain": style.plain,
        "thorough": style.thorough,
        "examples": style.examples,
    }
    return {key for key, present in mapping.items() if present}


def _pick_clauses(rng: random.Random, count: int, favoured: set[str], allowed: set[str]) -> list[str]:
    """Weighted sampling without replacement (Efraimidis-Spirakis keys)."""
    keyed = []
    for clause in CLAUSES:
        if clause.key not in allowed:
            continue
        weight = clause.weight * (3.0 if clause.key in favoured else 1.0)
        keyed.append((rng.random() ** (1.0 / weight), clause.key))
    keyed.sort(reverse=True)
    return [key for _, key in keyed[:count]]


def propose_instruction(inputs: dict[str, str], digest: bytes) -> str:
    """A new generator instruction, steered by the request's tip and instruction history."""
    rng = rng_for(digest, "proposer")
    kind = tip_kind(inputs.get("tip", ""))
    history = inputs.get("previous_instructions", "")
    favoured = _clause_keys_in(best_previous(history) or "") if history else set()
    allowed = {clause.key for clause in CLAUSES}

    if kind == "simple":
        count = rng.randint(1, 2)
        allowed = {"adaptive", "concise", "no_filler", "plain", "structure"}
    elif kind == "description":
        count = rng.randint(4, 6)
    else:
        count = rng.randint(2, 4)
    keys = _pick_clauses(rng, count, favoured, allowed)
    by_key = {clause.key: clause for clause in CLAUSES}

    sentences: list[str] = []
    if kind == "persona":
        sentences.append(rng.choice(PERSONAS))
    elif kind != "simple" and rng.random() < 0.5:
        sentences.append(rng.choice(ROLE_WORDINGS))
    sentences.append(rng.choice(CORE_WORDINGS))
    if kind == "high_stakes":
        sentences.append(rng.choice(HIGH_STAKES))
    for key in sorted(keys, key=CLAUSE_ORDER.index):
        sentences.append(rng.choice(by_key[key].wordings))
    if kind == "creative" and rng.random() < 0.7:
        sentences.append(rng.choice(CREATIVE))
    return " ".join(sentences)


def describe_dataset(inputs: dict[str, str], digest: bytes, *, with_prior: bool) -> str:
    """Observations about a batch of examples, or COMPLETE when prior ones already cover it."""
    rng = rng_for(digest, "observations")
    if with_prior and rng.random() < 0.5:
        return "COMPLETE"
    examples = inputs.get("examples", "")
    notes = [
        (
            "The examples are open-ended requests that users put to a general-purpose assistant, each paired with "
            "a reference response."
        ),
    ]
    if "extra_id_1" in examples:
        notes.append(
            "Some prompts are multi-turn conversations in which earlier user and assistant turns are "
            "marked with <extra_id_1> tags, and only the last user turn needs an answer."
        )
    if re.search(r"\b(code|python|function|script|sql)\b", examples, re.I):
        notes.append("Several prompts ask for working code or help with programming.")
    notes.append(
        rng.choice(
            (
                (
                    "Prompts range from quick factual questions to multi-part technical explanations and writing "
                    "tasks, so the right length and depth of a response varies a great deal."
                ),
                (
                    "The requests mix simple one-line questions with long, detailed asks, and the best responses seem "
                    "to match their length to the question."
                ),
            )
        )
    )
    notes.append(
        rng.choice(
            (
                (
                    "The task appears to be producing helpful, accurate and well-organised replies that human raters "
                    "would score highly."
                ),
                (
                    "This dataset likely supports training or evaluating assistants on helpfulness, correctness, "
                    "coherence, complexity and verbosity."
                ),
            )
        )
    )
    return " ".join(notes)


def summarize_observations(inputs: dict[str, str], digest: bytes) -> str:
    """A two or three sentence summary of dataset observations."""
    rng = rng_for(digest, "summary")
    sentences = [
        (
            "The dataset pairs diverse user prompts, from simple factual questions to multi-part technical and "
            "creative requests, with assistant responses."
        ),
        rng.choice(
            (
                "Good responses adapt their length and structure to the prompt and stay accurate and on topic.",
                "The most useful replies are direct, well organised and as long as the question needs.",
            )
        ),
    ]
    if "multi-turn" in inputs.get("observations", "") or "extra_id_1" in inputs.get("observations", ""):
        sentences.append("Some prompts are multi-turn conversations that need an answer to the latest user turn.")
    return " ".join(sentences)


def describe_program(inputs: dict[str, str], digest: bytes) -> str:
    """What the program under optimization does, for DescribeProgram."""
    rng = rng_for(digest, "program")
    return rng.choice(
        (
            (
                "The program answers open-ended user requests: it passes the user's prompt, which may be a multi-turn "
                "conversation, to a single language-model call that writes the assistant's reply."
            ),
            (
                "This is a single-step question-answering pipeline: one predictor reads the user's prompt and produces "
                "a response intended to be helpful, correct and well organised."
            ),
        )
    )


def describe_module(inputs: dict[str, str], digest: bytes) -> str:
    """The role of one predictor in the program, for DescribeModule."""
    module = inputs.get("module", "the predictor").strip() or "the predictor"
    return (
        f"The module {module} is the whole pipeline's only step: it turns the user's prompt into the final "
        "response, so its instruction decides the reply's tone, length, structure and accuracy."
    )
