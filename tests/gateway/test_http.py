"""The gateway over real loopback HTTP: both transports against the embedded simulator.

Where ``test_core.py`` scripts the transport, these tests send real requests, once through LiteLLM and
once over the direct HTTP transport (the ``transport`` fixture is parametrized), and check what the
server saw (its ``/_sim/stats`` counters): cache hits and replay never reach it, the concurrency
bound and the client rate limiter hold, every fault kind is retried or not and mapped to the right
error, the Azure route works from environment variables, secrets stay out of logs and cache files,
and two processes share one cache directory safely. Retry waits go through a ``VirtualClock``, so
only the rate-limiter test waits on the wall clock (about three seconds per transport).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from cache import CachePolicy, ResponseCache
from gateway import errors
from gateway.config import resolve_endpoint, simulator_endpoint
from gateway.core import Gateway
from gateway.facade import GatewayLoop
from gateway.limits import RateLimits
from gateway.logs import configure_logging
from gateway.retry import RetryPolicy
from gateway.testing import VirtualClock
from gateway.transports import Transport
from gateway.transports.http import OpenAIHTTPTransport
from gateway.transports.litellm import LiteLLMTransport
from gateway.types import ChatCall, Completion, Endpoint
from simulator import SIM_VERSION, FaultConfig, Simulator

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


# -- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def loop() -> Iterator[GatewayLoop]:
    """One event loop for the module, as in a real process: LiteLLM keeps its HTTP clients per loop."""
    running = GatewayLoop()
    yield running
    running.close()


@pytest.fixture(scope="module", params=["litellm", "direct"])
def transport(request: pytest.FixtureRequest, loop: GatewayLoop) -> Iterator[Transport]:
    """Each transport on its own (not the router): the direct one refuses what it does not cover."""
    if request.param == "litellm":
        yield LiteLLMTransport()
        return
    direct = OpenAIHTTPTransport(max_connections=32)
    yield direct
    loop.run(direct.aclose())


@pytest.fixture
def make_gateway(tmp_path: Path, transport: Transport) -> Iterator[Callable[..., Gateway]]:
    """Gateways over the real transport, caching under tmp_path, waiting on a VirtualClock by default."""
    caches: list[ResponseCache] = []

    def make(
        *,
        policy: CachePolicy = CachePolicy.READ_WRITE,
        clock: VirtualClock | None = None,
        real_time: bool = False,
        cache_dir: Path | None = None,
        **kwargs: Any,
    ) -> Gateway:
        cache = ResponseCache(cache_dir or tmp_path / "cache")
        caches.append(cache)
        if real_time:
            return Gateway(transport, cache=cache, policy=policy, **kwargs)
        clock = clock or VirtualClock()
        return Gateway(transport, cache=cache, policy=policy, clock=clock, sleep=clock.sleep, **kwargs)

    yield make
    for cache in caches:
        cache.close()


def sim_endpoint(sim: Simulator, *, timeout_s: float = 10.0) -> Endpoint:
    return simulator_endpoint(sim.openai_api_base, SIM_VERSION, timeout_s=timeout_s)


def chat(endpoint: Endpoint, text: str, **params: Any) -> ChatCall:
    return ChatCall(endpoint, [{"role": "user", "content": text}], {"max_tokens": 64, "temperature": 0.0, **params})


def run(loop: GatewayLoop, coro: Coroutine[Any, Any, T]) -> T:
    return loop.run(coro)


async def gather(gateway: Gateway, calls: list[ChatCall]) -> list[Completion | BaseException]:
    return await asyncio.gather(*(gateway.complete(c) for c in calls), return_exceptions=True)


def served(sim: Simulator) -> int:
    """Chat requests the server has received."""
    return int(sim.stats()["requests"])


# -- cache ---------------------------------------------------------------------------------------
def test_cache_hit_returns_the_same_response_without_reaching_the_server(loop, start_sim, make_gateway):
    sim = start_sim()
    endpoint = sim_endpoint(sim)
    gateway = make_gateway()
    first = run(loop, gateway.complete(chat(endpoint, "What is a cache?")))
    assert not first.cached and first.text and served(sim) == 1
    second = run(loop, gateway.complete(chat(endpoint, "What is a cache?")))
    assert second.cached and second.response == first.response
    # A new gateway on the same directory (a rerun of the process) hits too.
    again = run(loop, make_gateway().complete(chat(endpoint, "What is a cache?")))
    assert again.cached and again.response == first.response
    assert served(sim) == 1


def test_replay_never_reaches_the_server_and_raises_cache_miss(loop, start_sim, make_gateway):
    sim = start_sim()
    endpoint = sim_endpoint(sim)
    run(loop, make_gateway().complete(chat(endpoint, "cached question")))
    replay = make_gateway(policy=CachePolicy.REPLAY)
    assert run(loop, replay.complete(chat(endpoint, "cached question"))).cached
    with pytest.raises(errors.CacheMiss):
        run(loop, replay.complete(chat(endpoint, "a question never asked")))
    assert served(sim) == 1


# -- concurrency and rate limits -----------------------------------------------------------------
def test_requests_in_flight_never_exceed_the_concurrency_and_reach_it(loop, start_sim, make_gateway):
    sim = start_sim(latency_ms=100.0, latency_sigma=0.0)
    endpoint = sim_endpoint(sim)
    gateway = make_gateway(concurrency=4)
    results = run(loop, gather(gateway, [chat(endpoint, f"question {i}") for i in range(16)]))
    assert all(isinstance(r, Completion) for r in results)
    stats = sim.stats()
    assert stats["requests"] == 16
    assert stats["max_in_flight"] == 4
    assert gateway.max_in_flight == 4


def test_client_rate_limiter_keeps_the_server_within_its_limit(loop, start_sim, make_gateway):
    server_tpm = 60_000  # refills 1,000 tokens a second
    sim = start_sim(tpm=server_tpm)
    endpoint = sim_endpoint(sim)
    # Spend the server's whole minute of tokens at once (a request is charged at most the full
    # allowance), so from here on it admits only what refills: about 9 requests a second below.
    drain = {"model": "gpt-4o", "max_tokens": server_tpm, "messages": [{"role": "user", "content": "drain"}]}
    response = httpx.post(
        sim.openai_api_base + "/chat/completions", json=drain, headers={"Authorization": "Bearer k"}, timeout=10
    )
    assert response.status_code == 200

    # Without a client limit a burst is refused: the server really enforces its quota. (Each of these
    # needs a second of refill, so how fast this process sends them does not matter.)
    unlimited = make_gateway(retry=RetryPolicy(max_attempts=1, max_wait_s=0))
    refused = run(loop, gather(unlimited, [chat(endpoint, f"burst {i}", max_tokens=1000) for i in range(10)]))
    assert sum(isinstance(r, errors.RateLimited) for r in refused) >= 8
    assert all(r.retry_after and r.retry_after > 0 for r in refused if isinstance(r, errors.RateLimited))

    time.sleep(0.5)  # let the server bank more than the client's burst, so the two buckets start in step
    before = sim.stats()["rate_limited"]
    client_tpm = 0.9 * server_tpm  # the usual headroom below a quota
    limits = RateLimits(tpm=client_tpm, burst_s=0.25)
    limited = make_gateway(real_time=True, limits=limits, concurrency=8)
    calls = [chat(endpoint, f"paced {i:02d}", max_tokens=100) for i in range(24)]
    started = time.perf_counter()
    results = run(loop, gather(limited, calls))
    elapsed = time.perf_counter() - started

    assert all(isinstance(r, Completion) for r in results)
    assert sim.stats()["rate_limited"] - before <= 1  # 0 by construction; 1 tolerated for scheduling noise
    # Throughput is the client's limit: the limiter cannot admit faster, and it does not admit much slower.
    per_request = len("paced 00") // 4 + 4 + 100  # the limiter's own count: prompt estimate + max_tokens
    floor_s = (len(calls) * per_request - client_tpm / 60 * limits.burst_s) / (client_tpm / 60)
    assert floor_s * 0.95 <= elapsed <= floor_s * 1.5


# -- faults: each kind reaches the retry path and is mapped to the right error -------------------
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("429", errors.RateLimited),
        ("500", errors.Unavailable),
        ("503", errors.Unavailable),
        ("timeout", errors.RequestTimeout),
        ("drop", errors.Unavailable),
    ],
)
def test_transient_fault_is_retried_then_raised_as_its_error(loop, start_sim, make_gateway, kind, expected):
    sim = start_sim(faults=FaultConfig(**{f"rate_{kind}": 1.0}, retry_after_s=2.0, hang_s=3.0))
    # A short client timeout only where the server hangs: elsewhere a busy machine could trip it.
    endpoint = sim_endpoint(sim, timeout_s=0.6 if kind == "timeout" else 10.0)
    clock = VirtualClock()
    # Two attempts: one for the faults that name no wait, 3 s of waiting for the 429's 2 s Retry-After.
    gateway = make_gateway(clock=clock, retry=RetryPolicy(max_attempts=2, max_wait_s=3.0))
    with pytest.raises(expected) as info:
        run(loop, gateway.complete(chat(endpoint, f"fault {kind}")))
    assert type(info.value) is expected
    stats = sim.stats()
    assert stats["requests"] == 2 and stats["injected"] == {kind: 2}
    assert len(clock.sleeps) == 1
    if kind == "429":
        assert info.value.retry_after == 2.0
        assert clock.sleeps[0] >= 2.0  # the wait honoured Retry-After
    assert gateway.ledger.total().retries == 1


def test_transient_faults_are_retried_until_every_request_succeeds(loop, start_sim, make_gateway):
    # Timeouts are left to the test above: each costs real seconds.
    faults = FaultConfig(rate_429=0.15, retry_after_s=1.0, rate_500=0.15, rate_503=0.15, rate_drop=0.15)
    sim = start_sim(faults=faults)
    endpoint = sim_endpoint(sim)
    clock = VirtualClock()
    gateway = make_gateway(clock=clock, retry=RetryPolicy(max_attempts=10))
    results = run(loop, gather(gateway, [chat(endpoint, f"flaky {i}") for i in range(20)]))
    assert all(isinstance(r, Completion) for r in results)
    stats = sim.stats()
    injected = sum(stats["injected"].values())
    assert injected >= 4  # the plan is deterministic; this guards against faults silently switched off
    assert stats["requests"] == 20 + injected
    assert gateway.ledger.total().retries == injected == len(clock.sleeps)


def test_content_filter_400_is_not_retried_and_the_refusal_is_cached(loop, start_sim, make_gateway):
    sim = start_sim(faults=FaultConfig(rate_content_filter=1.0))
    endpoint = sim_endpoint(sim)
    clock = VirtualClock()
    gateway = make_gateway(clock=clock)
    with pytest.raises(errors.ContentFiltered):
        run(loop, gateway.complete(chat(endpoint, "something objectionable")))
    assert served(sim) == 1 and clock.sleeps == []
    with pytest.raises(errors.ContentFiltered) as cached:
        run(loop, gateway.complete(chat(endpoint, "something objectionable")))
    assert cached.value.cached and served(sim) == 1


def test_content_filter_finish_reason_is_content_filtered(loop, start_sim, make_gateway):
    sim = start_sim(faults=FaultConfig(rate_content_filter=1.0, content_filter_mode="finish_reason"))
    gateway = make_gateway()
    with pytest.raises(errors.ContentFiltered, match="finish_reason"):
        run(loop, gateway.complete(chat(sim_endpoint(sim), "something objectionable")))
    assert served(sim) == 1


def test_wrong_key_is_authentication_failed_and_not_retried(loop, start_sim, make_gateway):
    sim = start_sim(api_key="the-right-key")
    endpoint = replace(sim_endpoint(sim), api_key="a-wrong-key")
    clock = VirtualClock()
    gateway = make_gateway(clock=clock)
    with pytest.raises(errors.AuthenticationFailed):
        run(loop, gateway.complete(chat(endpoint, "hello")))
    assert served(sim) == 1 and clock.sleeps == []
    with pytest.raises(errors.RunAborted):  # no later call can succeed with that key
        run(loop, gateway.complete(chat(endpoint, "hello again")))
    assert served(sim) == 1


# -- Azure and secrets ---------------------------------------------------------------------------
def _azure_env(monkeypatch: pytest.MonkeyPatch, sim: Simulator, key: str) -> None:
    monkeypatch.setenv("AZURE_API_KEY", key)
    monkeypatch.setenv("AZURE_API_BASE", sim.base_url)
    monkeypatch.setenv("AZURE_API_VERSION", "2024-10-21")


def test_azure_deployment_route_from_environment(loop, start_sim, make_gateway, monkeypatch):
    sim = start_sim(api_key="azure-test-key-0001")
    _azure_env(monkeypatch, sim, "azure-test-key-0001")
    endpoint = resolve_endpoint("azure/my-gpt4o")
    assert endpoint.api_version == "2024-10-21" and "azure-test-key-0001" not in endpoint.identity
    gateway = make_gateway()
    completion = run(loop, gateway.complete(chat(endpoint, "Hello from Azure")))
    assert completion.text and not completion.cached
    assert run(loop, gateway.complete(chat(endpoint, "Hello from Azure"))).cached
    stats = sim.stats()
    assert stats["routes"] == {"azure": 1} and stats["statuses"] == {"200": 1}


def test_secret_from_environment_never_reaches_logs_or_cache_files(
    loop, start_sim, make_gateway, monkeypatch, tmp_path, capfd
):
    secret = "sk-azure-SECRET-5f2a9c1e7d"
    sim = start_sim(api_key=secret, faults=FaultConfig(rate_500=0.3, rate_429=0.2, retry_after_s=1.0))
    _azure_env(monkeypatch, sim, secret)
    # configure_logging rewires the root logger and quiets library loggers: put all of it back afterwards.
    loggers = [logging.getLogger(name) for name in ("", "LiteLLM", "litellm", "httpx", "httpcore", "aiohttp")]
    saved = [(lg, list(lg.handlers), lg.level) for lg in loggers]
    buffer = io.StringIO()
    try:
        configure_logging(level=logging.DEBUG, stream=buffer)
        endpoint = resolve_endpoint("azure/my-gpt4o")
        gateway = make_gateway()
        results = run(loop, gather(gateway, [chat(endpoint, f"secret test {i}") for i in range(12)]))
        # The same secret, rejected: the error's message and any log line must not carry it either.
        other = start_sim(api_key="some-other-key")
        monkeypatch.setenv("AZURE_API_BASE", other.base_url)
        with pytest.raises(errors.AuthenticationFailed) as info:
            run(loop, make_gateway().complete(chat(resolve_endpoint("azure/my-gpt4o"), "rejected")))
    finally:
        for lg, handlers, level in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
    assert all(isinstance(r, Completion) for r in results)
    logged = buffer.getvalue()
    assert "gateway.retry" in logged  # the retry path did log, so the check below means something
    captured = capfd.readouterr()
    for text in (logged, captured.out, captured.err, str(info.value)):
        assert secret not in text
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert files and sum(p.stat().st_size for p in files) > 0
    for path in files:
        assert secret.encode() not in path.read_bytes()


# -- two processes, one cache --------------------------------------------------------------------
WORKER = """
import asyncio, json, sys
from cache import ResponseCache
from gateway.config import simulator_endpoint
from gateway.core import Gateway
from gateway.transports.litellm import LiteLLMTransport
from gateway.types import ChatCall
from simulator import SIM_VERSION

api_base, cache_dir, name = sys.argv[1:4]
endpoint = simulator_endpoint(api_base, SIM_VERSION, timeout_s=10.0)
texts = [f"shared {i}" for i in range(30)] + [f"{name} only {i}" for i in range(10)]

async def main():
    gateway = Gateway(LiteLLMTransport(), cache=ResponseCache(cache_dir), concurrency=8)
    calls = [ChatCall(endpoint, [{"role": "user", "content": t}], {"max_tokens": 64}) for t in texts]
    results = await asyncio.gather(*(gateway.complete(c) for c in calls), return_exceptions=True)
    gateway.cache.close()
    return [r.text if not isinstance(r, BaseException) else None for r in results]

print(json.dumps(asyncio.run(main())))
"""


def test_two_processes_share_one_cache_directory(start_sim, tmp_path):
    sim = start_sim(latency_ms=5.0, latency_sigma=0.0)
    cache_dir = tmp_path / "shared-cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, sim.openai_api_base, str(cache_dir), name],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-2000:]
    answers = [json.loads(out) for out, _ in outputs]
    assert all(text for texts in answers for text in texts)
    assert answers[0][:30] == answers[1][:30]  # the shared prompts got one answer, whoever fetched it
    with ResponseCache(cache_dir) as cache:
        keys = cache.keys()
        assert len(keys) == 30 + 10 + 10
        for key in keys:  # every entry passes its integrity check
            record = cache.get(key)
            assert record is not None and record["response"]["choices"][0]["message"]["content"]
    assert 50 <= served(sim) <= 80
