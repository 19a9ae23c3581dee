"""Structured outputs: every DSPy step's answer constrained to a JSON schema derived from its signature.

One function, ``response_format_for``, turns a signature's output fields into the schema, in the nested
form that OpenAI, Azure, vLLM, llama.cpp and Ollama all enforce::

    {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": true}}

(llama.cpp accepts the flat ``{"type": "json_schema", "schema": ...}`` too, and ignores it.) The answer
is parsed by DSPy's own ``JSONAdapter``. Ours, ``StructuredJSONAdapter``, differs from it in one
decision only: DSPy picks JSON's mode from LiteLLM's capability table (``lm.supports_response_schema``),
so a self-hosted ``openai/<name>`` gets the loose ``{"type": "json_object"}`` even where its server
enforces schemas, and a known model gets a Pydantic class whose conversion leaves ``enum``s out. Here
the run has asked the server (``gateway/structured_probe.py``) and sends the schema whenever it is on.

``RoleAdapter`` is the adapter a run installs when some role uses structured outputs: each call goes to
``StructuredJSONAdapter`` when its LM's endpoint is one of them, else to a stock ``ChatAdapter``,
which sends exactly what DSPy sends without us. A run where no role uses them installs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic
from dspy.adapters.chat_adapter import ChatAdapter
from dspy.adapters.json_adapter import JSONAdapter

from evaluation.signatures import OUTPUT_CHOICES

STRUCTURED_MODES: tuple[str, ...] = ("auto", "on", "off")


def response_format_for(signature: Any) -> dict[str, Any]:
    """The nested ``json_schema`` response format for a DSPy signature's output fields (strict).

    Every output field is a required property of its annotation's JSON type; a field named in
    ``OUTPUT_CHOICES`` (the judge's score) is an ``enum`` of its allowed values. No other property is allowed.
    """
    properties: dict[str, Any] = {}
    for name, field in signature.output_fields.items():
        choices = OUTPUT_CHOICES.get(name)
        if choices is not None and field.annotation is int:
            properties[name] = {"type": "integer", "enum": list(choices)}
        else:
            properties[name] = _strict(pydantic.TypeAdapter(field.annotation).json_schema())
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {
        "type": "json_schema",
        "json_schema": {"name": _schema_name(signature), "schema": schema, "strict": True},
    }


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema as strict structured outputs want it: no titles; objects closed and complete."""
    schema = {k: v for k, v in schema.items() if k != "title"}
    if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        schema["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        schema["required"] = list(schema["properties"])
        schema["additionalProperties"] = False
    if isinstance(schema.get("items"), dict):
        schema["items"] = _strict(schema["items"])
    return schema


def _schema_name(signature: Any) -> str:
    """A schema name as OpenAI accepts it (letters, digits, ``_`` and ``-``, at most 64)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", getattr(signature, "__name__", "") or "outputs")
    return name[:64] or "outputs"


class StructuredJSONAdapter(JSONAdapter):  # type: ignore[misc]  # DSPy is untyped
    """DSPy's JSONAdapter, always sending the signature's schema (``response_format_for``)."""

    def __init__(self) -> None:
        super().__init__(use_native_function_calling=False)

    def _prepare_response_format(self, lm: Any, lm_kwargs: dict[str, Any], signature: Any) -> None:
        lm_kwargs["response_format"] = response_format_for(signature)


def endpoint_of(lm: Any) -> tuple[str, str] | None:
    """The (endpoint identity, model) of a gateway-backed ``dspy.LM`` (copies share its engine)."""
    endpoint = getattr(getattr(lm, "_engine_spec", None), "endpoint", None)
    if endpoint is None:
        return None
    return str(endpoint.identity), str(endpoint.model)


class RoleAdapter:
    """Per LM: structured outputs where its endpoint enforces them, else DSPy's stock ChatAdapter."""

    def __init__(self, structured: Iterable[tuple[str, str]]) -> None:
        self.structured = frozenset(structured)
        self._json = StructuredJSONAdapter()

    def _for(self, lm: Any) -> Any:
        return self._json if endpoint_of(lm) in self.structured else ChatAdapter()

    def __call__(self, lm: Any, lm_kwargs: dict[str, Any], signature: Any, demos: Any, inputs: Any) -> Any:
        return self._for(lm)(lm, lm_kwargs=lm_kwargs, signature=signature, demos=demos, inputs=inputs)

    async def acall(self, lm: Any, lm_kwargs: dict[str, Any], signature: Any, demos: Any, inputs: Any) -> Any:
        return await self._for(lm).acall(lm, lm_kwargs=lm_kwargs, signature=signature, demos=demos, inputs=inputs)

    def __getattr__(self, name: str) -> Any:
        # Anything else DSPy asks of an adapter (formatting for a trace, say) is the stock adapter's.
        return getattr(ChatAdapter(), name)


def adapter_settings(structured: Iterable[tuple[str, str]]) -> Mapping[str, Any]:
    """``dspy.context`` settings for a run: a ``RoleAdapter`` when some endpoint uses structured outputs,
    else nothing (the run's requests are then exactly stock DSPy's)."""
    chosen = frozenset(structured)
    return {"adapter": RoleAdapter(chosen)} if chosen else {}
