"""The simulated model in-process: roles, formats, and how answers follow the instruction."""

from __future__ import annotations

import json
import re
from typing import Literal

import dspy
import pytest
from dspy.adapters.chat_adapter import ChatAdapter
from dspy.adapters.json_adapter import JSONAdapter
from dspy.propose.dataset_summary_generator import DatasetDescriptorWithPriorObservations, ObservationSummarizer
from dspy.propose.grounded_proposer import TIPS, DescribeModule, DescribeProgram, generate_instruction_class

from evaluation.signatures import BASELINE_INSTRUCTION, RUBRICS, HelpSteer2Signature, JudgeSignature
from simulator.analysis import last_user_turn, profile_prompt
from simulator.hashing import request_digest
from simulator.judge import attribute_of
from simulator.proposer import best_previous, tip_kind
from simulator.responder import respond
from simulator.testing import ask, chat_body
from simulator.vocabulary import CLOSER_FILLERS, OPENER_FILLERS

SIMPLE = "What is the capital of Australia?"
MULTI_PART = (
    "Explain overfitting in machine learning. How can I detect it? What techniques prevent it? "
    "And which one should I try first?"
)
TECHNICAL = "Explain how a neural network learns. What is backpropagation, and how does gradient descent fit in?"


def generate(instruction: str, prompt: str) -> str:
    return ask(HelpSteer2Signature.with_instructions(instruction), {"prompt": prompt})["response"]


def has_filler(text: str) -> bool:
    return any(phrase in text for phrase in OPENER_FILLERS + CLOSER_FILLERS)


def test_same_body_same_answer_and_a_different_body_differs() -> None:
    body = chat_body(HelpSteer2Signature, {"prompt": SIMPLE})
    first = respond(body, request_digest(body, "gpt-4o")).content
    again = respond(json.loads(json.dumps(body)), request_digest(body, "gpt-4o")).content
    other_body = chat_body(HelpSteer2Signature, {"prompt": SIMPLE}, temperature=0.7)
    other = respond(other_body, request_digest(other_body, "gpt-4o")).content
    assert first == again
    assert first != other


def test_generator_answer_parses_with_chat_and_json_adapters() -> None:
    body = chat_body(HelpSteer2Signature, {"prompt": SIMPLE})
    answer = respond(body, request_digest(body, "gpt-4o"))
    assert answer.role == "generator"
    assert answer.content.rstrip().endswith("[[ ## completed ## ]]")
    assert "Australia" in ChatAdapter().parse(HelpSteer2Signature, answer.content)["response"]

    json_messages = JSONAdapter().format(HelpSteer2Signature, demos=[], inputs={"prompt": SIMPLE})
    json_body = {"model": "gpt-4o", "messages": json_messages, "response_format": {"type": "json_object"}}
    json_answer = respond(json_body, request_digest(json_body, "gpt-4o"))
    assert set(json.loads(json_answer.content)) == {"response"}
    assert JSONAdapter().parse(HelpSteer2Signature, json_answer.content)["response"]


@pytest.mark.parametrize("attribute", list(RUBRICS))
def test_judge_gives_an_int_and_one_sentence_for_every_attribute(attribute: str) -> None:
    response = generate(BASELINE_INSTRUCTION, MULTI_PART)
    parsed = ask(JudgeSignature, {"prompt": MULTI_PART, "response": response, "rubric": RUBRICS[attribute]})
    assert isinstance(parsed["score"], int) and 0 <= parsed["score"] <= 4
    assert attribute in parsed["justification"]
    assert parsed["justification"].count(".") == 1
    assert attribute_of(RUBRICS[attribute]) == attribute


def test_judge_scores_an_empty_response_zero() -> None:
    parsed = ask(JudgeSignature, {"prompt": SIMPLE, "response": "", "rubric": RUBRICS["helpfulness"]})
    assert parsed["score"] == 0


def test_judge_marks_padding_up_on_verbosity_and_down_on_helpfulness() -> None:
    fitted = (
        "Canberra is the capital of Australia. It was purpose-built as a compromise between Sydney and "
        "Melbourne, the two largest cities, and Parliament first sat there in 1927."
    )
    padded = " ".join([fitted] + ["Great question! There are many different aspects to consider here."] * 12)

    def score(response: str, attribute: str) -> int:
        return ask(JudgeSignature, {"prompt": SIMPLE, "response": response, "rubric": RUBRICS[attribute]})["score"]

    assert score(padded, "verbosity") >= 3
    assert score(fitted, "verbosity") == 2
    assert score(padded, "helpfulness") < score(fitted, "helpfulness")


def test_concision_shortens_simple_answers_and_forbidding_filler_removes_it() -> None:
    baseline = generate(BASELINE_INSTRUCTION, SIMPLE)
    concise = generate("Answer concisely.", SIMPLE)
    no_filler = generate("Answer the question. Avoid filler phrases like 'Great question!'.", SIMPLE)
    assert len(concise.split()) < len(baseline.split())
    assert has_filler(baseline)
    assert not has_filler(no_filler)


def test_structure_clause_lists_the_parts_of_a_multi_part_prompt() -> None:
    structured = generate("Use a numbered list for multi-part questions.", MULTI_PART)
    numbered = re.findall(r"^\d+\. ", structured, flags=re.M)
    assert len(numbered) == len(profile_prompt(MULTI_PART).parts) >= 3


def test_definition_clause_defines_the_prompts_technical_terms() -> None:
    plain = generate(BASELINE_INSTRUCTION, TECHNICAL)
    defined = generate("Define technical terms immediately.", TECHNICAL)
    assert "Backpropagation means" in defined and "Backpropagation means" not in plain


def test_adaptive_length_is_brief_for_simple_and_thorough_for_complex_prompts() -> None:
    adaptive = "Tailor the length of your answer to the complexity of the question."
    short, long = generate(adaptive, SIMPLE), generate(adaptive, MULTI_PART)
    assert len(short.split()) * 4 < len(long.split())
    for prompt, answer in ((SIMPLE, short), (MULTI_PART, long)):
        need = profile_prompt(prompt).need_words
        assert 0.7 * need <= len(answer.split()) <= 1.4 * need


def test_multi_turn_prompts_are_answered_from_the_last_user_turn() -> None:
    prompt = (
        "Tell me about the Roman Empire.\n<extra_id_1>Assistant\nIt ruled the Mediterranean.\n"
        "<extra_id_1>User\nWhy did the aqueducts matter?"
    )
    assert last_user_turn(prompt) == ("Why did the aqueducts matter?", 2)
    assert "aqueducts" in generate(BASELINE_INSTRUCTION, prompt)


def test_unknown_signatures_get_well_typed_values() -> None:
    class Classify(dspy.Signature):
        """Classify the text."""

        text: str = dspy.InputField()
        label: Literal["spam", "ham"] = dspy.OutputField()
        confidence: float = dspy.OutputField()
        tags: list[str] = dspy.OutputField()
        flagged: bool = dspy.OutputField()
        count: int = dspy.OutputField()

    parsed = ask(Classify, {"text": "Buy cheap watches now"})
    assert parsed["label"] == "spam"
    assert isinstance(parsed["confidence"], float) and isinstance(parsed["flagged"], bool)
    assert isinstance(parsed["count"], int) and isinstance(parsed["tags"], list)


def test_plain_chat_without_dspy_markers_gets_plain_text() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "How do tides work?"}]}
    answer = respond(body, request_digest(body, "gpt-4o"))
    assert answer.role == "chat"
    assert "[[ ##" not in answer.content and "tides" in answer.content


# -- MIPROv2 proposer ---------------------------------------------------------------------------

PROPOSER = generate_instruction_class(
    use_dataset_summary=True, program_aware=True, use_task_demos=True, use_instruct_history=True, use_tip=True
).signature


def propose(tip_key: str, demo: str = "No task demos provided.", history: str = "") -> str:
    inputs = {
        "dataset_description": "Open-ended user prompts.",
        "program_code": "class Generator(dspy.Module): ...",
        "program_description": "Answers a prompt.",
        "module": "Predict(prompt) -> response",
        "module_description": "The only step.",
        "task_demos": demo,
        "previous_instructions": history,
        "basic_instruction": BASELINE_INSTRUCTION,
        "tip": TIPS[tip_key],
    }
    return ask(PROPOSER, inputs)["proposed_instruction"]


def test_tip_texts_are_recognised() -> None:
    assert {key: tip_kind(text) for key, text in TIPS.items()} == {key: key for key in TIPS}


def test_proposals_follow_their_tips() -> None:
    for i in range(6):
        demo = f"Example {i}"
        assert propose("persona", demo).startswith("You are a")
        assert len(re.findall(r"[.!?](?:\s|$)", propose("simple", demo))) <= 3
        assert re.search(r"high stakes|relying on", propose("high_stakes", demo))
    descriptive = [propose("description", f"Example {i}") for i in range(6)]
    simple = [propose("simple", f"Example {i}") for i in range(6)]
    assert sum(map(len, descriptive)) > 2 * sum(map(len, simple))
    assert len(set(descriptive)) == 6


def test_history_steers_proposals_toward_the_best_previous_instruction() -> None:
    best = "Answer clearly. Define technical terms the first time you use them."
    history = f"Answer clearly. Use vivid analogies. | Score: 61.0\n\n{best} | Score: 88.5\n\n"
    assert best_previous(history) == best
    with_history = [propose("none", f"Example {i}", history) for i in range(12)]
    without = [propose("none", f"Example {i}") for i in range(12)]

    def defining(texts: list[str]) -> int:
        return sum("technical term" in text for text in texts)

    assert defining(with_history) > defining(without)


def test_dataset_and_program_descriptions_are_sensible_text() -> None:
    examples = "[Example({'prompt': 'Hi<extra_id_1>Assistant'}), Example({'prompt': 'Write python code'})]"
    prior = [
        ask(DatasetDescriptorWithPriorObservations, {"examples": examples + str(i), "prior_observations": "x"})
        for i in range(10)
    ]
    kinds = {"COMPLETE" if p["observations"] == "COMPLETE" else "text" for p in prior}
    assert kinds == {"COMPLETE", "text"}
    assert "multi-turn" in next(p["observations"] for p in prior if p["observations"] != "COMPLETE")
    summary = ask(ObservationSummarizer, {"observations": "multi-turn prompts"})["summary"]
    assert 2 <= summary.count(".") <= 3
    program = ask(DescribeProgram, {"program_code": "...", "program_example": "..."})["program_description"]
    module = ask(
        DescribeModule,
        {
            "program_code": "...",
            "program_example": "...",
            "program_description": program,
            "module": "Predict(prompt) -> response",
        },
    )["module_description"]
    assert "prompt" in program and "Predict(prompt) -> response" in module
