"""Structured outputs as real servers treat them: which ``response_format`` carries an enforced schema,
and an answer forced to fit it.

Servers that constrain decoding to a JSON schema (OpenAI and Azure strict structured outputs, vLLM's
guided decoding, llama.cpp's and Ollama's grammars) all read the nested form
``{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": true}}``; llama.cpp
also reads a schema beside ``{"type": "json_object"}``. The flat form ``{"type": "json_schema",
"schema": {...}}`` is accepted by llama.cpp and ignored (a 200 with unconstrained text): the simulator
does the same, so a client that sends it is caught in tests rather than on a real server.

Fitting is what a grammar does to a model's answer: the text is always a JSON object with exactly the
schema's properties, in its order, each of its type and, for an ``enum``, one of its values. The
simulator's own answer supplies the values where it has one that fits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

SchemaMode = Literal["enforce", "ignore", "reject"]
SCHEMA_MODES: tuple[str, ...] = ("enforce", "ignore", "reject")


def enforced_schema(response_format: object) -> dict[str, Any] | None:
    """The JSON schema a server that enforces schemas would constrain the answer to; None: none.

    Only the nested ``json_schema`` form and ``json_object`` with a ``schema`` carry one; the flat form
    and a bare ``json_object`` do not.
    """
    if not isinstance(response_format, Mapping):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        nested = response_format.get("json_schema")
        schema = nested.get("schema") if isinstance(nested, Mapping) else None
    elif kind == "json_object":
        schema = response_format.get("schema")
    else:
        return None
    return dict(schema) if isinstance(schema, Mapping) else None


def fit_to_schema(values: Mapping[str, object], schema: Mapping[str, Any], filler: str) -> str:
    """The JSON text of an object that satisfies ``schema``, taking each property from ``values`` where
    it fits and else the first value the schema allows (``filler`` for free text)."""
    return json.dumps(_fit(dict(values), schema, filler), ensure_ascii=False)


def _fit(value: object, schema: Mapping[str, Any], filler: str) -> object:
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        if value in enum and type(value) is type(enum[enum.index(value)]):
            return value
        return _nearest(value, enum)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        given = value if isinstance(value, Mapping) else {}
        properties = schema.get("properties") or {}
        return {name: _fit(given.get(name), sub, filler) for name, sub in properties.items()}
    if kind == "array":
        found = schema.get("items")
        items: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        given_items = value if isinstance(value, list) else []
        return [_fit(item, items, filler) for item in given_items]
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else _int_of(value, schema)
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
    if kind == "boolean":
        return value if isinstance(value, bool) else False
    if kind == "null":
        return None
    return value if isinstance(value, str) else (filler if value is None else str(value))


def _nearest(value: object, allowed: list[Any]) -> object:
    """The allowed value closest to a numeric ``value``, else the first allowed value."""
    numbers = [a for a in allowed if isinstance(a, int | float) and not isinstance(a, bool)]
    if isinstance(value, int | float) and not isinstance(value, bool) and numbers:
        return min(numbers, key=lambda a: (abs(a - value), a))
    return allowed[0]


def _int_of(value: object, schema: Mapping[str, Any]) -> int:
    low = schema.get("minimum")
    return int(low) if isinstance(low, int | float) else 0
