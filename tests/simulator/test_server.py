"""The simulator over real HTTP: routes, auth, determinism under concurrency, DSPy and LiteLLM clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import dspy
import httpx
import litellm
import pytest

from evaluation.signatures import RUBRICS, HelpSteer2Signature, JudgeSignature
from gateway.tokens import load_encoding
from simulator import SIM_VERSION, SimConfig, Simulator
from simulator.hashing import key_fingerprint, request_digest
from simulator.responder import respond

StartSim = Callable[..., Simulator]
PROMPT = "What is the difference between TCP and UDP? When should I use each one?"


def openai_lm(sim: Simulator) -> dspy.LM:
    return dspy.LM("openai/gpt-4o", api_base=sim.openai_api_base, api_key="k", cache=False, num_retries=0)


def post(http: httpx.Client, sim: Simulator, body: dict[str, Any], key: str = "k") -> httpx.Response:
    return http.post(
        f"{sim.openai_api_base}/chat/completions", json=body, timeout=10, headers={"Authorization": f"Bearer {key}"}
    )


def body_for(prompt: str, **params: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}], **params}


def test_properties_and_a_realistic_completion(http: httpx.Client, sim: Simulator) -> None:
    assert sim.base_url == f"http://127.0.0.1:{sim.port}"
    assert sim.openai_api_base == sim.base_url + "/v1"
    reply = post(http, sim, body_for(PROMPT))
    assert reply.status_code == 200
    data = reply.json()
    assert data["model"] == "gpt-4o" and data["id"].startswith("chatcmpl-") and isinstance(data["created"], int)
    assert data["choices"][0]["finish_reason"] == "stop"
    content = data["choices"][0]["message"]["content"]
    usage = data["usage"]
    encoding = load_encoding("o200k_base")  # GPT-4o's tokenizer, as the simulator counts
    assert usage["completion_tokens"] == len(encoding.encode_ordinary(content))
    assert usage["prompt_tokens"] == len(encoding.encode_ordinary(PROMPT)) + 4 + 3
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_same_body_twice_gives_the_same_answer(http: httpx.Client, sim: Simulator) -> None:
    first, second = post(http, sim, body_for(PROMPT)).json(), post(http, sim, body_for(PROMPT)).json()
    assert first == second
    assert post(http, sim, body_for(PROMPT, temperature=0.9)).json()["choices"] != first["choices"]


def test_32_concurrent_clients_get_identical_answers_per_body(start_sim: StartSim) -> None:
    sim = start_sim(SimConfig(latency_ms=15, latency_sigma=1.0))  # widely spread latency reorders replies
    bodies = [body_for(f"{PROMPT} Case {i}.") for i in range(8)]

    async def run() -> list[tuple[int, str]]:
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer k"}) as session:

            async def one(index: int) -> tuple[int, str]:
                async with session.post(f"{sim.openai_api_base}/chat/completions", json=bodies[index % 8]) as reply:
                    data = await reply.json()
                    return index % 8, json.dumps(data, sort_keys=True)

            return await asyncio.gather(*(one(i) for i in range(32)))

    answers: dict[int, set[str]] = {}
    for index, text in asyncio.run(run()):
        answers.setdefault(index, set()).add(text)
    assert all(len(texts) == 1 for texts in answers.values())
    assert len({next(iter(texts)) for texts in answers.values()}) == 8
    assert sim.stats()["max_in_flight"] >= 16


def test_serves_many_concurrent_requests_with_latency(start_sim: StartSim) -> None:
    sim = start_sim(SimConfig(latency_ms=200, latency_sigma=0))

    async def run() -> list[int]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, headers={"Authorization": "Bearer k"}) as session:

            async def one(i: int) -> int:
                async with session.post(f"{sim.openai_api_base}/chat/completions", json=body_for(f"q {i}")) as r:
                    await r.read()
                    return r.status

            return await asyncio.gather(*(one(i) for i in range(80)))

    assert asyncio.run(run()) == [200] * 80
    stats = sim.stats()
    assert stats["max_in_flight"] >= 64
    assert stats["in_flight"] == 0 and stats["requests"] == 80


def test_stats_endpoint_counts_routes_keys_roles_and_tokens(http: httpx.Client, sim: Simulator) -> None:
    post(http, sim, body_for("hello"), key="alpha")
    post(http, sim, body_for("hello again"), key="beta")
    with dspy.context(lm=openai_lm(sim)):
        dspy.Predict(HelpSteer2Signature)(prompt=PROMPT)
    stats = http.get(f"{sim.base_url}/_sim/stats").json()
    assert stats == sim.stats()
    assert stats["sim_version"] == SIM_VERSION and stats["config"]["latency_ms"] == 0
    assert stats["requests"] == 3 and stats["routes"] == {"openai": 3}
    assert stats["keys"] == {key_fingerprint("alpha"): 1, key_fingerprint("beta"): 1, key_fingerprint("k"): 1}
    assert "alpha" not in json.dumps(stats)
    assert stats["roles"] == {"chat": 2, "generator": 1}
    assert stats["statuses"] == {"200": 3} and stats["rate_limited"] == 0 and stats["injected"] == {}
    assert stats["tokens"]["total"] == stats["tokens"]["prompt"] + stats["tokens"]["completion"] > 0
    http.post(f"{sim.base_url}/_sim/reset")
    assert sim.stats()["requests"] == 0 and sim.stats()["max_in_flight"] == 0


def test_openai_route_auth(http: httpx.Client, start_sim: StartSim) -> None:
    open_sim = start_sim(SimConfig(latency_ms=0))
    assert http.post(f"{open_sim.openai_api_base}/chat/completions", json=body_for("hi")).status_code == 401
    assert post(http, open_sim, body_for("hi"), key="anything").status_code == 200
    locked = start_sim(SimConfig(latency_ms=0, api_key="right"))
    assert post(http, locked, body_for("hi"), key="wrong").status_code == 401
    assert post(http, locked, body_for("hi"), key="right").status_code == 200
    assert locked.stats()["statuses"] == {"401": 1, "200": 1}


def test_bad_bodies_are_400(http: httpx.Client, sim: Simulator) -> None:
    url = f"{sim.openai_api_base}/chat/completions"
    headers = {"Authorization": "Bearer k"}
    assert http.post(url, content=b"{not json", headers=headers).status_code == 400
    assert http.post(url, json={"model": "gpt-4o", "messages": []}, headers=headers).status_code == 400
    streamed = http.post(url, json=body_for("hi", stream=True), headers=headers)
    assert streamed.status_code == 400 and "stream" in streamed.json()["error"]["message"]


def test_azure_route_checks_key_and_api_version(http: httpx.Client, start_sim: StartSim) -> None:
    sim = start_sim(SimConfig(latency_ms=0, api_key="azure-key"))
    url = f"{sim.base_url}/openai/deployments/my-gpt4o/chat/completions"
    ok = http.post(url, params={"api-version": "2024-06-01"}, json=body_for("hi"), headers={"api-key": "azure-key"})
    # As Azure does, the answer names the model the deployment serves, not the deployment.
    assert ok.status_code == 200 and ok.json()["model"] == "gpt-4o-2024-08-06"
    no_model = {"messages": body_for("hi")["messages"]}
    reply = http.post(url, params={"api-version": "2024-06-01"}, json=no_model, headers={"api-key": "azure-key"})
    assert reply.json()["model"] == "gpt-4o-2024-08-06"
    # The answer's text depends on the request alone: the same body with the model named gives the same text.
    assert (
        reply.json()["choices"]
        == http.post(
            url,
            params={"api-version": "2024-06-01"},
            json={**no_model, "model": "my-gpt4o"},
            headers={"api-key": "azure-key"},
        ).json()["choices"]
    )
    other = start_sim(SimConfig(latency_ms=0, azure_served_model="gpt-4o-mini-2024-07-18"))
    other_url = f"{other.base_url}/openai/deployments/my-gpt4o/chat/completions"
    served = http.post(other_url, params={"api-version": "2024-06-01"}, json=no_model, headers={"api-key": "k"})
    assert served.json()["model"] == "gpt-4o-mini-2024-07-18"
    # The OpenAI route names the model it was asked for.
    assert post(http, other, body_for("hi"), key="k").json()["model"] == "gpt-4o"
    wrong_key = http.post(url, params={"api-version": "x"}, json=body_for("hi"), headers={"api-key": "bad"})
    assert wrong_key.status_code == 401
    assert http.post(url, params={"api-version": "x"}, json=body_for("hi")).status_code == 401
    missing_version = http.post(url, json=body_for("hi"), headers={"api-key": "azure-key"})
    assert missing_version.status_code == 400
    assert missing_version.json()["error"]["code"] == "MissingApiVersionParameter"
    assert sim.stats()["routes"] == {"azure": 6}


def test_litellm_azure_route(start_sim: StartSim) -> None:
    sim = start_sim(SimConfig(latency_ms=0, api_key="azure-key"))
    common = {
        "model": "azure/my-gpt4o",
        "api_base": sim.base_url,
        "api_version": "2024-06-01",
        "messages": [{"role": "user", "content": PROMPT}],
        "num_retries": 0,
    }
    reply = litellm.completion(api_key="azure-key", **common)
    assert "TCP" in reply.choices[0].message.content
    assert reply.usage.total_tokens > 0
    with pytest.raises(litellm.AuthenticationError):
        litellm.completion(api_key="not-the-key", **common)


def test_stock_dspy_generator_and_judge_round_trip(sim: Simulator) -> None:
    with dspy.context(lm=openai_lm(sim)):
        generated = dspy.Predict(HelpSteer2Signature)(prompt=PROMPT)
        judged = dspy.Predict(JudgeSignature)(prompt=PROMPT, response=generated.response, rubric=RUBRICS["coherence"])
    assert "TCP" in generated.response
    assert isinstance(judged.score, int) and 0 <= judged.score <= 4
    assert judged.justification.endswith(".")
    assert sim.stats()["roles"] == {"generator": 1, "judge": 1}


def test_stock_dspy_json_adapter_round_trip(sim: Simulator) -> None:
    with dspy.context(lm=openai_lm(sim), adapter=dspy.JSONAdapter()):
        generated = dspy.Predict(HelpSteer2Signature)(prompt=PROMPT)
        judged = dspy.Predict(JudgeSignature)(prompt=PROMPT, response=generated.response, rubric=RUBRICS["verbosity"])
    assert "TCP" in generated.response and isinstance(judged.score, int)
    assert sim.stats()["statuses"] == {"200": 2}


def test_stock_dspy_azure_lm(start_sim: StartSim) -> None:
    sim = start_sim(SimConfig(latency_ms=0))
    lm = dspy.LM(
        "azure/my-gpt4o", api_base=sim.base_url, api_key="k", api_version="2024-06-01", cache=False, num_retries=0
    )
    with dspy.context(lm=lm):
        judged = dspy.Predict(JudgeSignature)(
            prompt=PROMPT, response="TCP is reliable; UDP is fast.", rubric=RUBRICS["helpfulness"]
        )
    assert isinstance(judged.score, int)
    assert sim.stats()["routes"] == {"azure": 1}


def test_n_choices_and_max_tokens_truncation(http: httpx.Client, sim: Simulator) -> None:
    data = post(http, sim, body_for(PROMPT, n=3)).json()
    contents = [choice["message"]["content"] for choice in data["choices"]]
    assert len(contents) == 3 and len(set(contents)) == 3
    body = body_for(PROMPT, max_tokens=5)
    full = respond(body, request_digest(body, "gpt-4o")).content  # what the model says to this very body
    short = post(http, sim, body).json()
    assert short["choices"][0]["finish_reason"] == "length"
    assert short["usage"]["completion_tokens"] == 5
    # Cut as a model stops: the first 5 tokens of the answer it would have given.
    encoding = load_encoding("o200k_base")
    assert short["choices"][0]["message"]["content"] == encoding.decode(encoding.encode_ordinary(full)[:5])
    assert sim.stats()["truncated"] == 1


def test_stop_is_idempotent_and_a_port_can_be_chosen(http: httpx.Client) -> None:
    first = Simulator(SimConfig(latency_ms=0)).start()
    port = first.port
    first.stop()
    first.stop()
    with Simulator(SimConfig(latency_ms=0, port=port)) as again:
        assert again.port == port
        assert post(http, again, body_for("hi")).status_code == 200


def test_stats_sum_the_drawn_latency_and_reset_can_forget_attempts(http: httpx.Client, start_sim: StartSim) -> None:
    sim = start_sim(SimConfig(latency_ms=5, latency_sigma=0.0))
    for i in range(4):
        reply = post(http, sim, body_for(f"{PROMPT} {i}"))
        assert reply.status_code == 200 and reply.headers["openai-processing-ms"] == "5"
    assert sim.stats()["latency_s"] == pytest.approx(4 * 0.005)

    spread = start_sim(SimConfig(latency_ms=2, latency_sigma=1.0))
    body = body_for(PROMPT)

    def drawn_latency() -> float:
        before = spread.stats()["latency_s"]
        assert post(http, spread, body).status_code == 200
        return float(spread.stats()["latency_s"] - before)

    first, second = drawn_latency(), drawn_latency()
    assert first != second  # a second attempt at the same body draws again
    http.post(f"{spread.base_url}/_sim/reset")
    assert drawn_latency() not in (first, second)  # counters zeroed, attempts kept: the third draw
    assert http.post(f"{spread.base_url}/_sim/reset?attempts=1").json() == {"reset": True, "attempts": True}
    assert drawn_latency() == pytest.approx(first)
    assert spread.stats()["latency_s"] == pytest.approx(first)
