"""The evaluation engine over the gateway: fan-out, failures, and identical results at any concurrency."""

import pytest

from cache import CachePolicy
from evaluation.engine import Evaluator, TooManyFailures
from evaluation.signatures import Generator
from gateway import errors
from gateway.config import simulator_endpoint
from gateway.runtime import GatewaySettings, Runtime
from gateway.testing import ScriptedTransport, chat_response
from gateway.types import Endpoint
from simulator import SIM_VERSION, SimConfig, Simulator

PROMPTS = [
    "What is the capital of Australia?",
    "Explain how TCP congestion control works and why slow start exists.",
    "Write a haiku about autumn rain.",
    "How do I reverse a list in Python? Also, what is the time complexity?",
    "Compare B-trees and LSM-trees for write-heavy workloads, and say when each wins.",
    "Give me three tips for a job interview.",
    "What does a Kubernetes liveness probe do?",
    "Summarise the causes of the French Revolution in a paragraph.",
]


def evaluate_on_simulator(tmp_path, concurrency, prompts=PROMPTS, latency_ms=2.0, examples_in_flight=None):
    with Simulator(SimConfig(latency_ms=latency_ms, latency_sigma=0.0)) as sim:
        endpoint = simulator_endpoint(sim.openai_api_base, SIM_VERSION)
        cache_dir = tmp_path / f"cache-{concurrency}-{examples_in_flight}"
        with Runtime(GatewaySettings(concurrency=concurrency, cache_dir=cache_dir)) as rt:
            evaluator = Evaluator(
                rt.lm(endpoint, temperature=0.0, max_tokens=512),
                rt.lm(endpoint, temperature=0.0, max_tokens=256),
                examples_in_flight=examples_in_flight,
            )
            result = rt.loop.run(evaluator.evaluate(Generator(), prompts))
        return result, sim.stats()


def test_results_identical_at_concurrency_1_and_32(tmp_path):
    one, _ = evaluate_on_simulator(tmp_path, 1)
    many, stats = evaluate_on_simulator(tmp_path, 32)
    assert stats["max_in_flight"] > 5  # examples really overlapped
    assert [e.composite for e in one.examples] == [e.composite for e in many.examples]
    assert [e.judged for e in one.examples] == [e.judged for e in many.examples]
    assert one.per_attribute == many.per_attribute and one.mean == many.mean
    assert not one.failures and 0.0 < one.mean < 1.0


def test_examples_in_flight_bounds_the_examples_started_not_the_results(tmp_path):
    many, _ = evaluate_on_simulator(tmp_path, 32)
    one_at_a_time, stats = evaluate_on_simulator(tmp_path, 32, latency_ms=20.0, examples_in_flight=1)
    assert stats["requests"] == 6 * len(PROMPTS) and stats["max_in_flight"] == 5  # one example's judges
    _, two = evaluate_on_simulator(tmp_path, 32, latency_ms=20.0, examples_in_flight=2)
    assert 5 < two["max_in_flight"] <= 10
    assert [e.judged for e in one_at_a_time.examples] == [e.judged for e in many.examples]
    with pytest.raises(ValueError, match="examples_in_flight"):
        Evaluator(None, None, examples_in_flight=0)  # type: ignore[arg-type]  # a bad value on purpose


def test_five_judges_of_one_example_are_in_flight_together(tmp_path):
    _, stats = evaluate_on_simulator(tmp_path, 16, prompts=PROMPTS[:1], latency_ms=60.0)
    assert stats["requests"] == 6
    assert stats["max_in_flight"] == 5


# -- failures, with a scripted LLM ---------------------------------------------------------------
def scripted_llm(bad_attribute=None, bad_prompt="", bad_reply="no markers here", score=3):
    def answer(call):
        system = str(call.messages[0]["content"])
        user = str(call.messages[-1]["content"])
        if "`score`" in system:
            if bad_attribute and f"Attribute: {bad_attribute}." in user and bad_prompt in user:
                return chat_response(bad_reply)
            return chat_response(
                f"[[ ## score ## ]]\n{score}\n\n[[ ## justification ## ]]\nFine.\n\n[[ ## completed ## ]]"
            )
        if "[[content-filter]]" in user:
            return errors.ContentFiltered("content_filter")
        return chat_response("[[ ## response ## ]]\nAn answer.\n\n[[ ## completed ## ]]")

    return answer


def evaluate_scripted(tmp_path, answer, prompts, **evaluator_kwargs):
    transport = ScriptedTransport(fallback=answer)
    endpoint = Endpoint(model="openai/gpt-4o", identity="scripted|1", price_model="gpt-4o")
    with Runtime(GatewaySettings(policy=CachePolicy.OFF), transport=transport) as rt:
        evaluator = Evaluator(rt.lm(endpoint, temperature=0.0), rt.lm(endpoint, temperature=0.0), **evaluator_kwargs)
        return rt.loop.run(evaluator.evaluate(Generator(), prompts)), transport


def test_unparsable_judge_output_fails_the_example_and_is_left_out_of_the_mean(tmp_path):
    prompts = [f"question number {i}" for i in range(20)]
    answer = scripted_llm(bad_attribute="coherence", bad_prompt="question number 7")
    result, transport = evaluate_scripted(tmp_path, answer, prompts)
    assert [e.index for e in result.failures] == [7]
    assert "coherence" in result.failures[0].failure and "unparsable" in result.failures[0].failure
    assert len(result.scored) == 19
    # every scored example has all five scores 3: 0.80 * 3/4 + 0.10 * 0.3 + 0.10 * 0.3
    assert result.mean == pytest.approx(0.66)
    # the failing judge call was asked again as a fresh sample before giving up
    coherence_calls = [
        c
        for c in transport.sent
        if "Attribute: coherence." in str(c.messages[-1]["content"])
        and "question number 7" in str(c.messages[-1]["content"])
    ]
    assert len({c.rollout_id for c in coherence_calls}) == 2


def test_out_of_range_score_is_a_failure_not_a_score(tmp_path):
    result, _ = evaluate_scripted(tmp_path, scripted_llm(score=7), ["a", "b"], max_failure_share=1.0)
    assert len(result.failures) == 2 and "outside 0–4" in result.failures[0].failure
    assert result.mean == 0.0 and result.per_attribute == {}


def test_content_filter_marks_the_example_failed_with_its_reason(tmp_path):
    prompts = ["fine one", "refused [[content-filter]] prompt"] + [f"more {i}" for i in range(18)]
    result, _ = evaluate_scripted(tmp_path, scripted_llm(), prompts)
    assert [e.index for e in result.failures] == [1]
    assert "ContentFiltered" in result.failures[0].failure


def test_too_many_failures_stop_the_evaluation(tmp_path):
    prompts = [f"q{i}" for i in range(10)]
    answer = scripted_llm(bad_attribute="helpfulness", bad_prompt="q")  # every example fails
    with pytest.raises(TooManyFailures, match="10 of 10"):
        evaluate_scripted(tmp_path, answer, prompts)
