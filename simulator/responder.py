"""The simulated model: from one chat request body to the text of its answer.

``respond`` is pure and cheap (well under a millisecond): it parses the request, tells the caller's
role from the requested output fields, and fills every field. Roles:

* generator (``response``)      -> ``generator.compose_response`` under the system instruction
* judge (``score``)             -> ``judge.judge_response`` on the rubric's attribute
* proposer (``proposed_instruction``, dataset ``observations``/``summary``, program/module
  descriptions)                 -> ``proposer``
* reflector (``new_instruction``: GEPA's reflection on feedback) -> ``reflector.reflect_instruction``
* anything else                 -> a short sentence, or a well-typed placeholder, per field
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from simulator.analysis import content_words
from simulator.generator import compose_response
from simulator.judge import judge_response
from simulator.proposer import (
    describe_dataset,
    describe_module,
    describe_program,
    propose_instruction,
    summarize_observations,
)
from simulator.protocol import ChatRequest, FieldSpec, placeholder_value, read_request, render
from simulator.reflector import reflect_instruction

SIM_VERSION = "sim-3"
"""Identity of the simulated model's answers (the landscape): bump it whenever any request body would be
answered differently, so caches keyed on it stop serving stale answers."""


@dataclass(frozen=True)
class Answer:
    """The model's text for one request and the role the simulator recognised."""

    content: str
    role: str


PROPOSER_FIELDS: dict[str, Callable[[dict[str, str], bytes], str]] = {
    "proposed_instruction": propose_instruction,
    "observations": lambda inputs, digest: describe_dataset(inputs, digest, with_prior="prior_observations" in inputs),
    "summary": summarize_observations,
    "program_description": describe_program,
    "module_description": describe_module,
}
"""The MIPROv2 proposer's output fields and who writes each."""


def role_of(request: ChatRequest) -> str:
    """Which caller sent the request, told apart by the fields it asks for."""
    names = request.output_names
    if not names:
        return "chat"
    if "proposed_instruction" in names:
        return "proposer"
    if "new_instruction" in names and "examples_with_feedback" in request.inputs:
        return "reflector"
    if "score" in names and "response" in request.inputs:
        return "judge"
    if "response" in names:
        return "generator"
    if names & PROPOSER_FIELDS.keys():
        return "proposer"
    return "other"


def _generic_text(spec: FieldSpec, request: ChatRequest) -> str:
    words = content_words(" ".join(request.inputs.values()) or request.last_user)[:3]
    about = ", ".join(words) if words else "the given inputs"
    return f"A {spec.name.replace('_', ' ')} based on {about}."


def _known_values(role: str, request: ChatRequest, digest: bytes) -> dict[str, object]:
    inputs = request.inputs
    if role == "generator":
        prompt = inputs.get("prompt") or next(iter(inputs.values()), request.last_user)
        return {"response": compose_response(prompt, request.instruction, digest)}
    if role == "judge":
        score, justification = judge_response(
            inputs.get("prompt", ""),
            inputs.get("response", ""),
            inputs.get("rubric", ""),
            digest,
        )
        return {"score": score, "justification": justification}
    if role == "reflector":
        return {"new_instruction": reflect_instruction(inputs, digest)}
    if role == "proposer":
        return {name: write(inputs, digest) for name, write in PROPOSER_FIELDS.items() if name in request.output_names}
    return {}


def respond(body: Mapping[str, Any], digest: bytes) -> Answer:
    """The answer to a chat completion request body, determined by ``digest`` (the body's identity)."""
    messages = body.get("messages") or []
    request = read_request(messages, body.get("response_format"))
    role = role_of(request)
    if role == "chat":
        return Answer(compose_response(request.last_user, request.instruction, digest), role)

    known = _known_values(role, request, digest)
    values: dict[str, object] = {}
    for spec in request.outputs:
        value = known.get(spec.name)
        if value is None:
            value = placeholder_value(spec, _generic_text(spec, request))
        values[spec.name] = value
    return Answer(render(values, request.json_mode), role)
