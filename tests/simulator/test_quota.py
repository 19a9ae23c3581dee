"""The simulator's quota as OpenAI and Azure run theirs: counted with GPT-4o's tokenizer, charged prompt plus
max_tokens at admission over short slices, and reported in ``x-ratelimit-*`` headers on every answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from dspy.adapters.chat_adapter import ChatAdapter

from evaluation.signatures import RUBRICS, HelpSteer2Signature, JudgeSignature
from gateway.tokens import count_prompt_tokens, estimate_prompt_tokens
from gateway.transports.headers import parse_duration, quota_reading, retry_after_from_headers
from simulator import FaultConfig, SimConfig, Simulator
from simulator import tokenizer as sim_tokens
from simulator.faults import format_duration
from simulator.testing import FakeClock

StartSim = Callable[..., Simulator]
SAMPLE = Path(__file__).resolve().parents[2] / "evaluation" / "sample" / "helpsteer2_sample.jsonl"


def post(http: httpx.Client, sim: Simulator, text: str, **params: Any) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **params}
    return http.post(f"{sim.openai_api_base}/chat/completions", json=body, headers={"Authorization": "Bearer k"})


def test_an_unlimited_simulator_reports_no_quota(http: httpx.Client, sim: Simulator) -> None:
    reply = post(http, sim, "hello")
    assert not [name for name in reply.headers if name.lower().startswith("x-ratelimit")]


def test_every_answer_reports_the_quota_as_openai_does(
    http: httpx.Client, start_sim: StartSim, fake_clock: FakeClock
) -> None:
    # 6,000 tokens and 60 requests a minute, enforced over 10 s: buckets of 1,000 tokens and 10 requests.
    sim = start_sim(SimConfig(latency_ms=0, tpm=6000, rpm=60, burst_s=10), clock=fake_clock)
    first = post(http, sim, "hello there", max_tokens=100)
    charge = first.json()["usage"]["prompt_tokens"] + 100
    reading = quota_reading(first.headers)
    assert reading is not None
    assert (reading.limit_tokens, reading.limit_requests) == (6000, 60)
    assert (reading.remaining_tokens, reading.remaining_requests) == (1000 - charge, 9)
    assert reading.reset_tokens_s == pytest.approx(charge / 100, abs=0.001)  # refills 100 tokens a second
    assert reading.reset_requests_s == pytest.approx(1.0)
    assert sim.stats()["tokens"]["quota"] == charge


def test_a_429_reports_the_quota_too_and_the_bucket_holds_only_its_slice(
    http: httpx.Client, start_sim: StartSim, fake_clock: FakeClock
) -> None:
    sim = start_sim(SimConfig(latency_ms=0, tpm=6000, burst_s=10), clock=fake_clock)
    assert post(http, sim, "a", max_tokens=600).status_code == 200
    refused = post(http, sim, "b", max_tokens=600)  # 1,000 a slice, not the minute's 6,000
    assert refused.status_code == 429
    reading = quota_reading(refused.headers)
    assert reading is not None and reading.remaining_tokens is not None and reading.remaining_tokens < 600
    asked = retry_after_from_headers(refused.headers)
    assert asked is not None
    fake_clock.advance(asked)
    assert post(http, sim, "b", max_tokens=600).status_code == 200
    assert sim.stats()["rate_limited"] == 1


@pytest.mark.parametrize(("seconds", "text"), [(0.0204, "21ms"), (1.5, "1.5s"), (59.2501, "59.251s"), (360.0, "6m0s")])
def test_reset_times_are_written_as_openai_writes_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds, abs=0.001)


def test_injected_503s_can_name_their_wait(http: httpx.Client, start_sim: StartSim) -> None:
    sim = start_sim(SimConfig(latency_ms=0, faults=FaultConfig(rate_503=1.0, retry_after_503_s=1.0)))
    reply = post(http, sim, "hello")
    assert reply.status_code == 503 and retry_after_from_headers(reply.headers) == 1.0
    plain = start_sim(SimConfig(latency_ms=0, faults=FaultConfig(rate_503=1.0)))
    assert retry_after_from_headers(post(http, plain, "hello").headers) is None


def _optimizer_requests() -> list[list[dict[str, Any]]]:
    """The messages of the optimizer's generation and judge calls over the shipped sample."""
    adapter = ChatAdapter()
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    found = []
    for row in rows:
        found.append(adapter.format(HelpSteer2Signature, demos=[], inputs={"prompt": row["prompt"]}))
        for rubric in RUBRICS.values():
            inputs = {"prompt": row["prompt"], "response": row["response"], "rubric": rubric}
            found.append(adapter.format(JudgeSignature, demos=[], inputs=inputs))
    return found


def test_the_clients_count_keeps_within_the_quota_the_simulator_counts() -> None:
    requests = _optimizer_requests()
    assert len(requests) > 3000
    under = 0
    for messages in requests:
        charged = sim_tokens.prompt_tokens(messages)
        # Under a quota the gateway counts with the model's tokenizer: exactly what the provider charges.
        assert count_prompt_tokens("gpt-4o", messages) == charged
        # The four-characters-a-token estimate (budget reservations, admissions before the first
        # reading) is close but not an upper bound: punctuation-dense text takes more tokens.
        estimate = estimate_prompt_tokens(messages)
        assert estimate >= 0.9 * charged
        under += estimate < charged
    assert under < len(requests) * 0.05
