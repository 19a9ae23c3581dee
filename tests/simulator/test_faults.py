"""Injected faults, rate limits and latency: each produced on demand, counted, and reproducible."""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Callable
from typing import Any

import dspy
import httpx
import pytest
from dspy.utils.exceptions import AdapterParseError

from evaluation.signatures import HelpSteer2Signature
from simulator import CONTENT_FILTER_MARKER, FaultConfig, SimConfig, Simulator
from simulator.faults import AdmissionLimiter, FaultPlan
from simulator.testing import FakeClock

StartSim = Callable[..., Simulator]


def body_for(prompt: str, **params: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}], **params}


def post(http: httpx.Client, sim: Simulator, body: dict[str, Any], timeout: float = 10) -> httpx.Response:
    return http.post(
        f"{sim.openai_api_base}/chat/completions", json=body, timeout=timeout, headers={"Authorization": "Bearer k"}
    )


def faulty(start_sim: StartSim, **faults: Any) -> Simulator:
    return start_sim(SimConfig(latency_ms=0, faults=FaultConfig(**faults)))


# -- each fault kind at rate 1.0 ----------------------------------------------------------------


def test_injected_429_carries_both_retry_headers(http: httpx.Client, start_sim: StartSim) -> None:
    sim = faulty(start_sim, rate_429=1.0, retry_after_s=1.5)
    reply = post(http, sim, body_for("hi"))
    assert reply.status_code == 429
    assert reply.headers["Retry-After"] == "2" and reply.headers["retry-after-ms"] == "1500"
    assert sim.stats()["injected"] == {"429": 1}
    assert sim.stats()["rate_limited"] == 0  # the limiter did not refuse it; the fault plan did


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503)])
def test_injected_server_errors(http: httpx.Client, start_sim: StartSim, kind: str, status: int) -> None:
    sim = faulty(start_sim, **{f"rate_{kind}": 1.0})
    assert [post(http, sim, body_for("hi")).status_code for _ in range(3)] == [status] * 3
    assert sim.stats()["injected"] == {kind: 3}
    assert sim.stats()["statuses"] == {str(status): 3}


def test_timeout_hangs_past_the_client_timeout(http: httpx.Client, start_sim: StartSim) -> None:
    sim = faulty(start_sim, rate_timeout=1.0, hang_s=30)
    with pytest.raises(httpx.ReadTimeout):
        post(http, sim, body_for("hi"), timeout=0.2)
    assert sim.stats()["injected"] == {"timeout": 1}
    sim.stop()  # must not wait out the 30 s hang


def test_timeout_that_outlasts_its_hang_ends_as_504(http: httpx.Client, start_sim: StartSim) -> None:
    sim = faulty(start_sim, rate_timeout=1.0, hang_s=0.05)
    assert post(http, sim, body_for("hi")).status_code == 504


def test_drop_closes_the_connection_without_a_response(http: httpx.Client, start_sim: StartSim) -> None:
    sim = faulty(start_sim, rate_drop=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        post(http, sim, body_for("hi"))
    assert sim.stats()["injected"] == {"drop": 1}
    assert sim.stats()["statuses"] == {"no_response": 1}


def test_malformed_output_defeats_both_dspy_adapters(start_sim: StartSim) -> None:
    sim = faulty(start_sim, rate_malformed=1.0)
    lm = dspy.LM("openai/gpt-4o", api_base=sim.openai_api_base, api_key="k", cache=False, num_retries=0)
    with dspy.context(lm=lm), pytest.raises(AdapterParseError):
        dspy.Predict(HelpSteer2Signature)(prompt="What is the capital of France?")
    assert sim.stats()["injected"] == {"malformed": 2}  # the ChatAdapter call and its JSONAdapter fallback


def test_content_filter_marker_is_always_refused_azure_style(http: httpx.Client, sim: Simulator) -> None:
    body = body_for(f"Tell me a story {CONTENT_FILTER_MARKER}")
    replies = [post(http, sim, body) for _ in range(3)]
    assert [r.status_code for r in replies] == [400] * 3
    error = replies[0].json()["error"]
    assert error["code"] == "content_filter"
    assert error["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert sim.stats()["injected"] == {"content_filter": 3}
    assert post(http, sim, body_for("Tell me a story")).status_code == 200


def test_content_filter_finish_reason_mode(http: httpx.Client, start_sim: StartSim) -> None:
    sim = faulty(start_sim, rate_content_filter=1.0, content_filter_mode="finish_reason")
    choice = post(http, sim, body_for("anything at all")).json()["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] is None


def test_content_filter_refusals_are_permanent_per_body(http: httpx.Client, start_sim: StartSim) -> None:
    sim = faulty(start_sim, rate_content_filter=0.5)
    outcomes = {i: {post(http, sim, body_for(f"prompt {i}")).status_code for _ in range(3)} for i in range(12)}
    assert all(len(statuses) == 1 for statuses in outcomes.values())
    assert {next(iter(s)) for s in outcomes.values()} == {200, 400}


# -- transient faults are reproducible and retryable --------------------------------------------


def status_sequences(http: httpx.Client, sim: Simulator, count: int) -> list[list[int]]:
    sequences = []
    for i in range(count):
        statuses: list[int] = []
        while not statuses or statuses[-1] != 200:
            statuses.append(post(http, sim, body_for(f"question {i}")).status_code)
            assert len(statuses) < 30
        sequences.append(statuses)
    return sequences


def test_retried_bodies_succeed_in_a_reproducible_pattern(http: httpx.Client, start_sim: StartSim) -> None:
    config = SimConfig(latency_ms=0, faults=FaultConfig(rate_500=0.3, rate_503=0.2))
    sim = start_sim(config)
    first = status_sequences(http, sim, 40)
    assert status_sequences(http, start_sim(config), 40) == first
    sim.reset_attempts()
    assert status_sequences(http, sim, 40) == first
    failed_first_try = sum(seq[0] != 200 for seq in first)
    assert 10 <= failed_first_try <= 30  # about half of 40
    assert any(len(seq) >= 3 for seq in first)
    reseeded = status_sequences(http, start_sim(SimConfig(latency_ms=0, seed=7, faults=config.faults)), 40)
    assert reseeded != first


def test_seed_changes_faults_but_never_answers(http: httpx.Client, start_sim: StartSim) -> None:
    a, b = start_sim(SimConfig(latency_ms=0)), start_sim(SimConfig(latency_ms=0, seed=99))
    body = body_for("Why is the sky blue?")
    assert post(http, a, body).json() == post(http, b, body).json()


# -- rate limits (fake clock: no waiting) -------------------------------------------------------


def test_rpm_limit_returns_the_real_wait(http: httpx.Client, start_sim: StartSim, fake_clock: FakeClock) -> None:
    sim = start_sim(SimConfig(latency_ms=0, rpm=2, burst_s=60), clock=fake_clock)
    assert [post(http, sim, body_for(f"q{i}")).status_code for i in range(2)] == [200, 200]
    refused = post(http, sim, body_for("q2"))
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30" and refused.headers["retry-after-ms"] == "30000"
    fake_clock.advance(29.9)
    almost = post(http, sim, body_for("q2"))
    assert almost.status_code == 429 and almost.headers["retry-after-ms"] == "100"
    fake_clock.advance(0.1)
    assert post(http, sim, body_for("q2")).status_code == 200
    assert sim.stats()["rate_limited"] == 2


def test_tpm_limit_charges_prompt_plus_max_tokens(
    http: httpx.Client, start_sim: StartSim, fake_clock: FakeClock
) -> None:
    sim = start_sim(SimConfig(latency_ms=0, tpm=1000, burst_s=60), clock=fake_clock)
    first = post(http, sim, body_for("q0", max_tokens=300))
    cost = first.json()["usage"]["prompt_tokens"] + 300
    assert [post(http, sim, body_for(f"q{i}", max_tokens=300)).status_code for i in (1, 2)] == [200, 200]
    refused = post(http, sim, body_for("q3", max_tokens=300))
    wait = (cost - (1000 - 3 * cost)) / (1000 / 60)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after-ms"]) == math.ceil(wait * 1000)
    assert int(refused.headers["Retry-After"]) == math.ceil(wait)
    fake_clock.advance(wait)
    assert post(http, sim, body_for("q3", max_tokens=300)).status_code == 200


def test_tpm_uses_the_default_max_tokens_and_caps_oversized_requests(fake_clock: FakeClock) -> None:
    limiter = AdmissionLimiter(rpm=0, tpm=1000, clock=fake_clock)
    assert limiter.admit(5000)[0] == 0.0  # costs a whole minute's allowance, not more
    assert limiter.admit(10)[0] == pytest.approx(0.6)
    fake_clock.advance(60)
    assert limiter.admit(5000)[0] == 0.0
    assert not AdmissionLimiter(0, 0, fake_clock).active


# -- latency ------------------------------------------------------------------------------------


def digests(count: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(count)]


def test_latency_is_log_normal_around_the_median_and_deterministic() -> None:
    plan = FaultPlan(SimConfig(latency_ms=20, latency_sigma=0.5))
    samples = [plan.latency(d, 0) for d in digests(4000)]
    assert statistics.median(samples) == pytest.approx(0.020, rel=0.05)
    assert statistics.stdev(math.log(s) for s in samples) == pytest.approx(0.5, rel=0.05)
    assert [plan.latency(d, 0) for d in digests(5)] == samples[:5]
    assert plan.latency(digests(1)[0], 1) != samples[0]  # a retry draws a new latency


def test_fixed_and_zero_latency() -> None:
    assert {FaultPlan(SimConfig(latency_ms=20, latency_sigma=0)).latency(d, 0) for d in digests(50)} == {0.02}
    assert {FaultPlan(SimConfig(latency_ms=0)).latency(d, 0) for d in digests(50)} == {0.0}
