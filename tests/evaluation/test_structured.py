"""Structured outputs: the schema derived from a signature, and the adapter that sends it for the LMs
whose server enforces schemas while every other LM's request stays exactly stock DSPy's."""

from __future__ import annotations

import json
from pathlib import Path

import dspy
import pytest

from cache import CachePolicy
from evaluation.signatures import HelpSteer2Signature, JudgeSignature
from evaluation.structured import RoleAdapter, adapter_settings, response_format_for
from gateway.runtime import GatewaySettings, Runtime
from gateway.testing import ScriptedTransport, chat_response
from gateway.types import Endpoint

JUDGE_ANSWER = json.dumps({"score": 3, "justification": "Clear and correct."})


def test_the_judge_schema_is_nested_strict_and_its_score_an_enum() -> None:
    assert response_format_for(JudgeSignature) == {
        "type": "json_schema",
        "json_schema": {
            "name": "JudgeSignature",
            "schema": {
                "type": "object",
                "properties": {
                    "score": {"type": "integer", "enum": [0, 1, 2, 3, 4]},
                    "justification": {"type": "string"},
                },
                "required": ["score", "justification"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }


def test_the_generator_schema_follows_an_optimized_signature() -> None:
    signature = HelpSteer2Signature.with_instructions("Answer in one paragraph.")
    schema = response_format_for(signature)["json_schema"]["schema"]
    assert schema["properties"] == {"response": {"type": "string"}} and schema["required"] == ["response"]


def test_no_structured_endpoint_installs_no_adapter() -> None:
    assert adapter_settings([]) == {}
    assert isinstance(adapter_settings([("id", "m")])["adapter"], RoleAdapter)


@pytest.fixture
def runtime(tmp_path: Path):
    transport = ScriptedTransport(fallback=lambda call: chat_response(JUDGE_ANSWER))
    with Runtime(GatewaySettings(cache_dir=tmp_path / "cache", policy=CachePolicy.OFF), transport) as rt:
        yield rt, transport


def judge(lm: dspy.LM, adapter: object | None) -> dspy.Prediction:
    settings = {"adapter": adapter} if adapter is not None else {}
    with dspy.context(lm=lm, **settings):
        return dspy.Predict(JudgeSignature)(prompt="Hi?", response="Hello.", rubric="Attribute: helpfulness.")


def test_structured_lms_send_the_schema_and_parse_with_dspy(runtime) -> None:
    rt, transport = runtime
    local = Endpoint(
        model="openai/small", identity="llama.cpp|sha256:aa", api_base="http://127.0.0.1:1/v1", api_key="k"
    )
    other = Endpoint(model="openai/other", identity="openai|default||openai/other", api_key="k")
    adapter = RoleAdapter([(local.identity, local.model)])

    out = judge(rt.lm(local, temperature=0.0), adapter)
    assert out.score == 3 and out.justification == "Clear and correct."
    sent = transport.sent[-1]
    assert sent.params["response_format"] == response_format_for(JudgeSignature)
    assert "JSON" in str(sent.messages[-1]["content"])  # DSPy's JSONAdapter prompt

    # Another endpoint under the same adapter sends what stock DSPy sends, byte for byte.
    transport.fallback = lambda call: chat_response(
        "[[ ## score ## ]]\n2\n\n[[ ## justification ## ]]\nFine.\n\n[[ ## completed ## ]]"
    )
    judge(rt.lm(other, temperature=0.0), adapter)
    routed = transport.sent[-1]
    judge(rt.lm(other, temperature=0.0), None)  # stock DSPy, no adapter of ours
    stock = transport.sent[-1]
    assert routed.messages == stock.messages and routed.params == stock.params
    assert "response_format" not in routed.params
