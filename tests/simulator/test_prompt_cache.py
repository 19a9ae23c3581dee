"""The simulator reports prompt caching as Azure and OpenAI do: 1,024-token prefixes, then 128-token steps."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from simulator import SimConfig, Simulator, tokenizer
from simulator.prompt_cache import PromptCache

# About 1,500 tokens of instructions every request shares, then a question of its own.
SHARED = " ".join(f"Rule {i}: answer plainly, cite the step, and keep units." for i in range(110))


def body(question: str, system: str = SHARED) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
        "max_tokens": 50,
    }


def post(http: httpx.Client, sim: Simulator, data: dict[str, Any], key: str = "k") -> dict[str, Any]:
    reply = http.post(f"{sim.openai_api_base}/chat/completions", json=data, headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200
    result: dict[str, Any] = reply.json()
    return result


def cached(answer: dict[str, Any]) -> int:
    return int(answer["usage"]["prompt_tokens_details"]["cached_tokens"])


def test_the_longest_prefix_seen_before_in_steps(http: httpx.Client, sim: Simulator) -> None:
    first = post(http, sim, body("What is 2 + 2?"))
    shared_tokens = tokenizer.count_tokens(SHARED) + 4  # the system message and its framing
    assert first["usage"]["prompt_tokens"] >= 1024 and cached(first) == 0  # nothing seen before
    second = post(http, sim, body("And what is 3 + 3?"))
    expected = 1024 + (shared_tokens - 1024) // 128 * 128  # the shared part, in whole steps
    assert cached(second) == expected
    again = post(http, sim, body("And what is 3 + 3?"))
    prompt = again["usage"]["prompt_tokens"]
    assert cached(again) == 1024 + (prompt - 1024) // 128 * 128  # the whole prompt, in whole steps
    # A short prompt is never cached; another key (another organisation) has a cache of its own.
    assert cached(post(http, sim, body("hi", system="Be brief."))) == 0
    assert cached(post(http, sim, body("hi", system="Be brief."))) == 0
    assert cached(post(http, sim, body("What is 2 + 2?"), key="other")) == 0
    assert sim.stats()["tokens"]["cached_prompt"] == cached(second) + cached(again)


def test_answers_do_not_depend_on_the_order_prompts_arrive_in(http: httpx.Client) -> None:
    questions = [f"Question {i}: how many legs has a spider?" for i in range(24)]

    def contents(concurrency: int) -> tuple[list[Any], int]:
        with Simulator(SimConfig(latency_ms=0)) as sim, ThreadPoolExecutor(concurrency) as pool:
            answers = list(pool.map(lambda q: post(http, sim, body(q)), questions))
        return [a["choices"] for a in answers], sum(cached(a) for a in answers)

    sequential, sequential_cached = contents(1)
    parallel, parallel_cached = contents(16)
    assert parallel == sequential  # scores cannot move with concurrency
    assert sequential_cached == contents(1)[1]  # in one order, the same counts every time
    assert parallel_cached > 0 and sequential_cached > 0


def test_the_memory_is_bounded() -> None:
    cache = PromptCache(capacity=2)
    messages = [{"role": "user", "content": SHARED}]
    prompt = tokenizer.prompt_tokens(messages)
    assert cache.cached_tokens("s", messages, prompt) == 0
    assert cache.cached_tokens("s", messages, prompt) > 0
    assert len(cache._seen) == 2
