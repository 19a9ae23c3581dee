"""Reading DSPy-formatted chat requests and writing replies in the format the adapter expects.

DSPy's ChatAdapter lists the output fields and their types in the system message ("Your output fields
are: 1. `score` (int): ..."), puts the task instruction after "your objective is:", and sends the
inputs in the last user message as ``[[ ## name ## ]]`` sections. Its JSONAdapter uses the same input
layout but asks for a JSON object (and may set ``response_format``). Requests that follow neither
layout are treated as plain chat.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_OUTPUT_SECTION = re.compile(r"Your output fields are:\s*\n(.*?)(?:\n\S[^\n]*structured in the following way|\Z)", re.S)
_FIELD_LINE = re.compile(r"^\s*\d+\.\s+`(\w+)`(?:\s+\((.*?)\))?(?::|$)", re.M)
_OBJECTIVE = re.compile(r"your objective is:\s*(.*)\Z", re.S | re.I)
_HEADER_LINE = re.compile(r"^\[\[ ## (\w+) ## \]\][ \t]*", re.M)
_RESPOND_TAIL = re.compile(r"\n\s*Respond with (?:the corresponding output fields|a JSON object)[^\n]*\s*\Z")
_LITERAL = re.compile(r"Literal\[(.*)\]", re.S)


@dataclass(frozen=True)
class FieldSpec:
    """One requested output field: its name and the type DSPy declared for it."""

    name: str
    type_name: str = "str"


@dataclass(frozen=True)
class ChatRequest:
    """What a chat request asks for, as far as the simulator cares."""

    instruction: str
    inputs: dict[str, str]
    outputs: tuple[FieldSpec, ...]
    json_mode: bool
    last_user: str

    @property
    def output_names(self) -> frozenset[str]:
        """The names of the requested output fields."""
        return frozenset(spec.name for spec in self.outputs)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of one chat message, whether its content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def read_request(messages: Sequence[Mapping[str, Any]], response_format: object = None) -> ChatRequest:
    """Parse a request's messages into instruction, inputs, requested outputs and answer mode."""
    system = "\n".join(message_text(m) for m in messages if m.get("role") in ("system", "developer"))
    user_turns = [message_text(m) for m in messages if m.get("role") == "user"]
    last_user = user_turns[-1] if user_turns else ""

    outputs: tuple[FieldSpec, ...] = ()
    section = _OUTPUT_SECTION.search(system)
    if section:
        outputs = tuple(
            FieldSpec(name, (type_name or "str").strip()) for name, type_name in _FIELD_LINE.findall(section.group(1))
        )
    objective = _OBJECTIVE.search(system)
    instruction = "\n".join(line.strip() for line in objective.group(1).splitlines()).strip() if objective else system

    inputs: dict[str, str] = {}
    body = _RESPOND_TAIL.sub("", last_user)
    headers = list(_HEADER_LINE.finditer(body))
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(body)
        inputs[header.group(1)] = body[header.end() : end].strip()

    json_mode = bool(response_format) or "Outputs will be a JSON object" in system
    return ChatRequest(
        instruction=instruction, inputs=inputs, outputs=outputs, json_mode=json_mode, last_user=last_user
    )


def placeholder_value(spec: FieldSpec, text: str) -> object:
    """A well-typed value for an output field the simulator has no special knowledge of."""
    type_name = spec.type_name.replace(" ", "")
    literal = _LITERAL.search(type_name)
    if literal:
        first = literal.group(1).split(",")[0].strip("'\"")
        return first
    if type_name.startswith("int"):
        return 1
    if type_name.startswith("float"):
        return 0.5
    if type_name.startswith("bool"):
        return True
    if type_name.startswith(("list", "tuple")):
        return [text]
    if type_name.startswith("dict"):
        return {}
    return text


def _chat_value(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def render(values: Mapping[str, object], json_mode: bool) -> str:
    """Write the answer the way the requesting adapter will parse it."""
    if json_mode:
        return json.dumps(dict(values), ensure_ascii=False)
    sections = [f"[[ ## {name} ## ]]\n{_chat_value(value)}" for name, value in values.items()]
    return "\n\n".join(sections + ["[[ ## completed ## ]]"])
