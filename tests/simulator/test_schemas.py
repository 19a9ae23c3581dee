"""The simulator treats JSON schemas as real servers do: the nested form is enforced (even a model too
weak for DSPy's formats answers within it), the flat form is accepted and ignored as llama.cpp does, and
it can be told to ignore or to reject every schema."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from simulator import SimConfig, Simulator
from simulator.schema import enforced_schema, fit_to_schema

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"score": {"type": "integer", "enum": [0, 1, 2, 3, 4]}, "justification": {"type": "string"}},
    "required": ["score", "justification"],
    "additionalProperties": False,
}
NESTED = {"type": "json_schema", "json_schema": {"name": "judge", "schema": SCHEMA, "strict": True}}
FLAT = {"type": "json_schema", "schema": SCHEMA}


def test_which_response_formats_carry_an_enforced_schema() -> None:
    assert enforced_schema(NESTED) == SCHEMA
    assert enforced_schema({"type": "json_object", "schema": SCHEMA}) == SCHEMA
    assert enforced_schema(FLAT) is None  # accepted and ignored, as llama.cpp does
    assert enforced_schema({"type": "json_object"}) is None
    assert enforced_schema(None) is None and enforced_schema("json") is None


def test_fitting_keeps_what_fits_and_forces_the_rest() -> None:
    fitted = json.loads(fit_to_schema({"score": 7, "extra": 1}, SCHEMA, "free text"))
    assert fitted == {"score": 4, "justification": "free text"}  # nearest allowed score; no extra property
    assert json.loads(fit_to_schema({"score": 2, "justification": "ok"}, SCHEMA, "x")) == {
        "score": 2,
        "justification": "ok",
    }


def ask(sim: Simulator, model: str, response_format: object) -> httpx.Response:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Rate this answer."}]}
    if response_format is not None:
        body["response_format"] = response_format
    return httpx.post(f"{sim.openai_api_base}/chat/completions", json=body, headers={"Authorization": "Bearer k"})


@pytest.mark.parametrize("schemas", ["enforce", "ignore", "reject"])
def test_a_weak_model_under_each_schema_mode(schemas: str) -> None:
    with Simulator(SimConfig(latency_ms=0.0, unparsable_models=("weak",), schemas=schemas)) as sim:  # type: ignore[arg-type]  # the mode under test
        nested = ask(sim, "weak", NESTED)
        flat = ask(sim, "weak", FLAT)
        plain = ask(sim, "weak", None)
    free_text = plain.json()["choices"][0]["message"]["content"]
    with pytest.raises(ValueError):
        json.loads(free_text)
    assert flat.status_code == 200 and flat.json()["choices"][0]["message"]["content"] == free_text
    if schemas == "enforce":
        answer = json.loads(nested.json()["choices"][0]["message"]["content"])
        assert list(answer) == ["score", "justification"] and answer["score"] in range(5)
    elif schemas == "ignore":
        assert nested.status_code == 200 and nested.json()["choices"][0]["message"]["content"] == free_text
    else:
        assert nested.status_code == 400 and nested.json()["error"]["code"] == "unsupported_response_format"


def test_bad_schema_mode_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="schemas must be one of enforce, ignore, reject"):
        SimConfig(schemas="maybe")  # type: ignore[arg-type]  # the bad value under test
