"""DSPy signatures for the generator and the 5-attribute judge, and the attribute rubrics.

The judge is called once per attribute. Its ``rubric`` input always opens with
``Attribute: <name>.`` so that any reader of the prompt (a human, the embedded
simulator) can tell which attribute is being scored.
"""

from __future__ import annotations

import dspy

BASELINE_INSTRUCTION = "You are a helpful assistant. Answer the user's question clearly and accurately."

ATTRIBUTES: tuple[str, ...] = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")

SCORES: tuple[int, ...] = (0, 1, 2, 3, 4)

# Values an output field may take, by field name, for structured outputs (evaluation/structured.py):
# the judge's score is one of SCORES. They stay out of the fields' annotations, which DSPy writes into
# every prompt: with them there, every cached judge answer would be asked again.
OUTPUT_CHOICES: dict[str, tuple[int, ...]] = {"score": SCORES}

RUBRICS: dict[str, str] = {
    "helpfulness": (
        "Attribute: helpfulness. How well the response answers what the user actually asked. "
        "4 = fully answers every part of the request directly; 3 = answers the main request with small gaps; "
        "2 = partially answers or buries the answer in padding; 1 = mostly misses the request; "
        "0 = does not answer or refuses without reason."
    ),
    "correctness": (
        "Attribute: correctness. Factual accuracy and completeness of the claims in the response. "
        "4 = every claim is accurate and relevant to the prompt's subject; 3 = accurate with minor omissions; "
        "2 = some unsupported or off-topic claims; 1 = several errors; 0 = wrong or fabricated."
    ),
    "coherence": (
        "Attribute: coherence. Clarity, logical order and consistency of the response. "
        "4 = clear, well organised, easy to follow, no filler; 3 = mostly clear; "
        "2 = some rambling or disorganised passages; 1 = hard to follow; 0 = incoherent."
    ),
    "complexity": (
        "Attribute: complexity. The intellectual depth and vocabulary the response requires of its reader. "
        "0 = basic, anyone could write it; 1 = simple; 2 = ideal: the depth the prompt calls for, with technical "
        "terms explained; 3 = more specialised than needed; 4 = expert-only, dense jargon. Score 2 is ideal."
    ),
    "verbosity": (
        "Attribute: verbosity. The length of the response relative to what the prompt needs. "
        "0 = far too terse to be useful; 1 = somewhat short; 2 = ideal: as long as the prompt needs and no longer; "
        "3 = somewhat padded or long-winded; 4 = far too long. Score 2 is ideal."
    ),
}


class HelpSteer2Signature(dspy.Signature):
    """You are a helpful assistant. Answer the user's question clearly and accurately."""

    prompt: str = dspy.InputField(desc="The user's request, possibly a multi-turn conversation.")
    response: str = dspy.OutputField(desc="The assistant's reply to the user.")


class JudgeSignature(dspy.Signature):
    """Score the assistant's response on a single attribute, following the rubric exactly."""

    prompt: str = dspy.InputField(desc="The user's request.")
    response: str = dspy.InputField(desc="The assistant's response to evaluate.")
    rubric: str = dspy.InputField(desc="The attribute being scored and what each score from 0 to 4 means.")
    score: int = dspy.OutputField(desc="An integer score from 0 to 4.")
    justification: str = dspy.OutputField(desc="One sentence explaining the score.")


class Generator(dspy.Module):
    """The program MIPROv2 optimizes: one ``dspy.Predict`` from prompt to response."""

    def __init__(self) -> None:
        super().__init__()
        self.generate = dspy.Predict(HelpSteer2Signature)

    def forward(self, prompt: str) -> dspy.Prediction:
        return self.generate(prompt=prompt)

    async def aforward(self, prompt: str) -> dspy.Prediction:
        return await self.generate.acall(prompt=prompt)


def instruction_of(program: dspy.Module) -> str:
    """The instruction currently set on a generator program's single predictor."""
    (predictor,) = program.predictors()
    instructions: str = predictor.signature.instructions
    return instructions
