"""The simulated reflection model: GEPA's prompts answered from the feedback they show."""

from __future__ import annotations

import json

import dspy
from dspy.teleprompt.gepa.instruction_proposal import InstructionProposer

from simulator.generator import read_style
from simulator.hashing import request_digest
from simulator.proposer import _clause_keys_in
from simulator.reflector import complaints_in, reflect_instruction
from simulator.responder import respond

BASE = "You are a helpful assistant. Answer the user's question clearly and accurately."


def feedback(*reasons: str) -> str:
    return json.dumps(
        [
            {"Feedback": f"- coherence: 2/4. The response {reason}, so it earns 2 out of 4 for coherence."}
            for reason in reasons
        ]
    )


def test_a_multi_part_prompt_without_a_list_leads_to_a_clause_asking_for_one():
    shown = feedback("runs several parts together without clear organisation")
    new = reflect_instruction({"current_instruction": BASE, "examples_with_feedback": shown}, b"d" * 32)
    assert new.startswith(BASE)
    assert read_style(new).structured and not read_style(BASE).structured


def test_the_commonest_complaints_are_answered_first_and_known_remedies_not_repeated():
    shown = feedback("is cluttered with filler phrases", "is cluttered with filler phrases", "includes a filler phrase")
    assert complaints_in(shown) == {"filler": 3}
    first = reflect_instruction({"current_instruction": BASE, "examples_with_feedback": shown}, b"a" * 32)
    assert read_style(first).no_filler
    again = reflect_instruction({"current_instruction": first, "examples_with_feedback": shown}, b"a" * 32)
    assert _clause_keys_in(again) > _clause_keys_in(first)  # another clause, not filler once more
    assert again.lower().count("filler") == first.lower().count("filler")


def test_the_same_request_gets_the_same_answer():
    inputs = {"current_instruction": BASE, "examples_with_feedback": feedback("buries the answer in padding")}
    assert reflect_instruction(inputs, b"x" * 32) == reflect_instruction(inputs, b"x" * 32)


def test_dspy_gepa_reflection_request_is_recognised_and_answered_in_its_format():
    """The request DSPy's own instruction proposer sends (JSONAdapter) gets a parsable new instruction."""
    proposer = InstructionProposer()
    examples = [
        {
            "Inputs": {"prompt": "Explain DNS and DHCP, and compare them."},
            "Generated Outputs": {"response": "DNS maps names. DHCP assigns addresses."},
            "Feedback": (
                "The response does not clearly address each part of the request, "
                "so it earns 2 out of 4 for helpfulness."
            ),
        }
    ]
    messages = proposer.adapter.format(
        proposer.propose.signature, demos=[], inputs={"current_instruction": BASE, "examples_with_feedback": examples}
    )
    body = {"model": "gpt-4o", "messages": messages}
    answer = respond(body, request_digest(body, "gpt-4o"))
    assert answer.role == "reflector"
    parsed = proposer.adapter.parse(proposer.propose.signature, answer.content)
    assert read_style(parsed["new_instruction"]).structured
    assert isinstance(dspy.Prediction(**parsed).new_instruction, str)
