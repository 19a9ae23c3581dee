"""The evaluation engine over the gateway: fan-out, failures, and identical results at any concurrency."""

import asyncio

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
GOOD_ANSWER = "[[ ## response ## ]]\nAn answer.\n\n[[ ## completed ## ]]"


def scripted_llm(bad_attribute=None, bad_prompt="", bad_reply="no markers here", score=3, bad_generation=""):
    def answer(call):
        system = str(call.messages[0]["content"])
        user = str(call.messages[-1]["content"])
        if "`score`" in system:
            if bad_attribute and f"Attribute: {bad_attribute}." in user and bad_prompt in user:
                return chat_response(bad_reply)
            if "[[judge-filter]]" in user:
                return errors.ContentFiltered("content_filter")
            return chat_response(
                f"[[ ## score ## ]]\n{score}\n\n[[ ## justification ## ]]\nFine.\n\n[[ ## completed ## ]]"
            )
        if "[[content-filter]]" in user:
            return errors.ContentFiltered("content_filter")
        if bad_generation and bad_generation in user:
            return chat_response("I would rather not use your format.")
        if "[[judge-filter]]" in user:
            return chat_response("[[ ## response ## ]]\nAn answer [[judge-filter]].\n\n[[ ## completed ## ]]")
        return chat_response(GOOD_ANSWER)

    return answer


def evaluate_scripted(tmp_path, answer, prompts, *, transport=None, **evaluator_kwargs):
    transport = transport or ScriptedTransport(fallback=answer)
    endpoint = Endpoint(model="openai/gpt-4o", identity="scripted|1", price_model="gpt-4o")
    with Runtime(GatewaySettings(policy=CachePolicy.OFF), transport=transport) as rt:
        evaluator = Evaluator(rt.lm(endpoint, temperature=0.0), rt.lm(endpoint, temperature=0.0), **evaluator_kwargs)
        return rt.loop.run(evaluator.evaluate(Generator(), prompts)), transport


ALL_THREES = 0.66  # every attribute 3: 0.80 * 3/4 + 0.10 * 0.3 + 0.10 * 0.3


def test_unparsable_judge_output_is_a_judge_failure_left_out_of_the_mean(tmp_path):
    prompts = [f"question number {i}" for i in range(20)]
    answer = scripted_llm(bad_attribute="coherence", bad_prompt="question number 7")
    result, transport = evaluate_scripted(tmp_path, answer, prompts)
    assert [e.index for e in result.judge_failures] == [7] and result.candidate_failures == []
    failure = result.judge_failures[0]
    assert "coherence" in failure.failure and "unparsable" in failure.failure and failure.composite is None
    assert len(result.counted) == 19
    assert result.mean == pytest.approx(ALL_THREES)
    # the failing judge call was asked again as a fresh sample before giving up
    coherence_calls = [
        c
        for c in transport.sent
        if "Attribute: coherence." in str(c.messages[-1]["content"])
        and "question number 7" in str(c.messages[-1]["content"])
    ]
    assert len({c.rollout_id for c in coherence_calls}) == 2


def test_an_unparsable_generation_is_the_candidates_failure_and_counts_as_zero(tmp_path):
    prompts = [f"question number {i}" for i in range(20)]
    result, transport = evaluate_scripted(tmp_path, scripted_llm(bad_generation="question number 3"), prompts)
    assert [e.index for e in result.candidate_failures] == [3] and result.judge_failures == []
    failure = result.candidate_failures[0]
    assert failure.failure.startswith("generation: AdapterParseError") and failure.composite == 0.0
    assert len(result.counted) == 20
    assert result.mean == pytest.approx(ALL_THREES * 19 / 20)  # not ALL_THREES: the failure is scored 0
    # DSPy's adapters asked again in JSON mode before giving up; the judge never saw the example.
    generations = [c for c in transport.sent if "question number 3" in str(c.messages[-1]["content"])]
    assert len(generations) == 2 and all("`score`" not in str(c.messages[0]["content"]) for c in generations)


def test_candidate_failures_never_stop_the_evaluation(tmp_path):
    prompts = [f"q{i}" for i in range(10)]
    result, _ = evaluate_scripted(tmp_path, scripted_llm(bad_generation="q"), prompts)
    assert len(result.candidate_failures) == 10 and result.mean == 0.0 and result.percent == 0.0


def test_out_of_range_score_is_a_judge_failure_not_a_score(tmp_path):
    result, _ = evaluate_scripted(tmp_path, scripted_llm(score=7), ["a", "b"], max_failure_share=1.0)
    assert len(result.judge_failures) == 2 and "outside 0–4" in result.judge_failures[0].failure
    assert result.mean == 0.0 and result.per_attribute == {}


def test_a_filtered_generation_counts_as_zero_a_filtered_judge_call_is_left_out(tmp_path):
    prompts = ["fine one", "refused [[content-filter]] prompt", "judge refuses [[judge-filter]]"]
    prompts += [f"more {i}" for i in range(17)]
    result, _ = evaluate_scripted(tmp_path, scripted_llm(), prompts)
    assert [e.index for e in result.candidate_failures] == [1]
    assert "ContentFiltered" in result.candidate_failures[0].failure
    assert [e.index for e in result.judge_failures] == [2]
    assert "ContentFiltered" in result.judge_failures[0].failure
    assert result.mean == pytest.approx(ALL_THREES * 18 / 19)


def test_too_many_judge_failures_stop_the_evaluation(tmp_path):
    prompts = [f"q{i}" for i in range(10)]
    answer = scripted_llm(bad_attribute="helpfulness", bad_prompt="q")  # every example's judge fails
    expected = r"judge model 'openai/gpt-4o' .* while judging \(on 10 of 10 examples.*--judge-model"
    with pytest.raises(TooManyFailures, match=expected):
        evaluate_scripted(tmp_path, answer, prompts)


def test_a_transient_failure_stops_the_evaluation_instead_of_changing_a_score(tmp_path):
    def answer(call):
        if "q3" in str(call.messages[-1]["content"]):
            return errors.Unavailable("HTTP 503: overloaded")
        return scripted_llm()(call)

    with pytest.raises(errors.Unavailable, match="503"):
        evaluate_scripted(tmp_path, answer, [f"q{i}" for i in range(10)], max_failure_share=1.0)


class _SlowFirstAttributes(ScriptedTransport):
    """Answers judge calls of earlier attributes later, so failures finish in reverse attribute order."""

    async def send(self, call):
        text = str(call.messages[-1]["content"])
        for rank, attribute in enumerate(("helpfulness", "correctness", "coherence", "complexity", "verbosity")):
            if f"Attribute: {attribute}." in text:
                await asyncio.sleep(0.02 * (5 - rank))
        return await super().send(call)


def test_an_examples_judge_failure_is_reported_in_attribute_order_not_finishing_order(tmp_path):
    def answer(call):
        text = str(call.messages[-1]["content"])
        if "`score`" in str(call.messages[0]["content"]) and "Attribute: complexity." not in text:
            return chat_response("no markers")
        return scripted_llm()(call)

    result, _ = evaluate_scripted(
        tmp_path, answer, ["q"], transport=_SlowFirstAttributes(fallback=answer), max_failure_share=1.0
    )
    assert result.judge_failures[0].failure.startswith("judge: helpfulness: unparsable")
