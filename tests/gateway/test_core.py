import asyncio
import concurrent.futures
import io
import json

import pytest

from cache import CachePolicy, ResponseCache
from gateway import errors
from gateway.core import Gateway
from gateway.facade import GatewayLoop, SyncGateway
from gateway.ledger import Ledger
from gateway.limits import RateLimits
from gateway.retry import RetryPolicy
from gateway.testing import ScriptedTransport, VirtualClock, chat_response
from gateway.types import ChatCall, Endpoint

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="test|v1", price_model="gpt-4o")


def call(text="hello", *, endpoint=ENDPOINT, rollout_id=None, **params):
    params = {"temperature": 0.0, "max_tokens": 50, **params}
    return ChatCall(endpoint, [{"role": "user", "content": text}], params, rollout_id)


def make(tmp_path, steps=None, *, policy=CachePolicy.READ_WRITE, clock=None, delay_s=0.0, **kwargs):
    transport = ScriptedTransport(steps, delay_s=delay_s)
    clock = clock or VirtualClock()
    cache = None if policy is CachePolicy.OFF else ResponseCache(tmp_path / "cache")
    gw = Gateway(transport, cache=cache, policy=policy, clock=clock, sleep=clock.sleep, **kwargs)
    return gw, transport, clock


def run(coro):
    return asyncio.run(coro)


def test_hit_returns_same_response_without_sending(tmp_path):
    gw, transport, _ = make(tmp_path)
    first = run(gw.complete(call()))
    second = run(gw.complete(call()))
    assert len(transport.sent) == 1
    assert not first.cached and second.cached
    assert second.response == first.response
    totals = gw.ledger.total()
    assert (totals.live_calls, totals.cached_calls) == (1, 1)
    assert totals.saved_usd == pytest.approx(totals.cost_usd) and totals.cost_usd > 0


def test_two_api_keys_share_one_entry_model_or_temperature_do_not(tmp_path):
    gw, transport, _ = make(tmp_path)
    a = Endpoint(model="openai/gpt-4o", identity="test|v1", api_key="key-one")
    b = Endpoint(model="openai/gpt-4o", identity="test|v1", api_key="key-two")
    ka = run(gw.complete(call(endpoint=a))).key
    kb = run(gw.complete(call(endpoint=b))).key
    assert ka == kb and len(transport.sent) == 1
    other_model = Endpoint(model="openai/gpt-4o-mini", identity="test|v1")
    assert run(gw.complete(call(endpoint=other_model))).key != ka
    assert run(gw.complete(call(temperature=0.5))).key != ka
    assert len(transport.sent) == 3


def test_rollout_id_separates_otherwise_identical_requests(tmp_path):
    gw, transport, _ = make(tmp_path)
    keys = {run(gw.complete(call(rollout_id=r))).key for r in (1, 2, 1)}
    assert len(keys) == 2 and len(transport.sent) == 2


def test_replay_never_sends_and_raises_on_miss(tmp_path):
    gw, transport, _ = make(tmp_path)
    run(gw.complete(call("cached one")))
    gw.cache.close()
    replay, transport2, _ = make(tmp_path, policy=CachePolicy.REPLAY)
    assert run(replay.complete(call("cached one"))).cached
    with pytest.raises(errors.CacheMiss, match="openai/gpt-4o") as info:
        run(replay.complete(call("never seen")))
    assert len(info.value.digest) == 12
    assert transport2.sent == []
    # After a replay miss the run is aborted: later calls are refused, even cached ones.
    with pytest.raises(errors.RunAborted):
        run(replay.complete(call("cached one")))


def test_refresh_ignores_hits_and_off_never_writes(tmp_path):
    gw, transport, _ = make(tmp_path)
    run(gw.complete(call()))
    gw.cache.close()
    refresh, transport2, _ = make(tmp_path, policy=CachePolicy.REFRESH)
    assert not run(refresh.complete(call())).cached
    assert len(transport2.sent) == 1
    off, transport3, _ = make(tmp_path, policy=CachePolicy.OFF)
    run(off.complete(call("x")))
    run(off.complete(call("x")))
    assert len(transport3.sent) == 2


def test_corrupted_entry_is_refetched_in_read_write_and_reported_in_replay(tmp_path):
    gw, transport, _ = make(tmp_path)
    key = run(gw.complete(call())).key
    gw.cache.raw_set(key, "garbage")
    again = run(gw.complete(call()))
    assert not again.cached and len(transport.sent) == 2
    gw.cache.raw_set(key, "garbage")
    gw.cache.close()
    replay, transport2, _ = make(tmp_path, policy=CachePolicy.REPLAY)
    with pytest.raises(errors.CorruptCacheEntry):
        run(replay.complete(call()))
    assert transport2.sent == []


def test_waits_before_retries_honour_retry_after(tmp_path):
    steps = [
        errors.RateLimited("429", retry_after=7.0),
        errors.Unavailable("503"),
        errors.RateLimited("429", retry_after=3.5),
        chat_response("ok"),
    ]
    gw, transport, clock = make(tmp_path, steps)
    result = run(gw.complete(call()))
    assert result.attempts == 4 and len(transport.sent) == 4
    assert clock.sleeps[0] >= 7.0 and clock.sleeps[2] >= 3.5
    assert gw.ledger.total().retries == 3


@pytest.mark.parametrize(
    "error", [errors.BadRequest("400"), errors.AuthenticationFailed("401"), errors.ContextWindowExceeded("400 ctx")]
)
def test_permanent_errors_are_not_retried(tmp_path, error):
    gw, transport, clock = make(tmp_path, [error])
    with pytest.raises(type(error)):
        run(gw.complete(call()))
    assert len(transport.sent) == 1 and clock.sleeps == []
    assert gw.ledger.total().errors == 1


def test_attempts_are_bounded(tmp_path):
    gw, transport, clock = make(tmp_path, [errors.Unavailable("503")] * 10, retry=RetryPolicy(max_attempts=4))
    with pytest.raises(errors.Unavailable):
        run(gw.complete(call()))
    assert len(transport.sent) == 4 and len(clock.sleeps) == 3


def test_backoff_grows_exponentially_with_full_jitter(tmp_path):
    policy = RetryPolicy(max_attempts=6, base_s=1.0, max_backoff_s=8.0)
    gw, transport, clock = make(tmp_path, [errors.RequestTimeout("t")] * 5 + [chat_response("ok")], retry=policy)
    run(gw.complete(call()))
    ceilings = [1, 2, 4, 8, 8]
    assert all(0 <= s <= c for s, c in zip(clock.sleeps, ceilings, strict=True))


def test_retry_after_beyond_cap_fails_fast_as_quota_exhausted(tmp_path):
    gw, transport, clock = make(tmp_path, [errors.RateLimited("429", retry_after=7200)])
    with pytest.raises(errors.QuotaExhausted, match="7200"):
        run(gw.complete(call()))
    assert len(transport.sent) == 1 and clock.sleeps == []


def test_content_filter_is_not_retried_and_its_refusal_is_cached(tmp_path):
    gw, transport, _ = make(tmp_path, [errors.ContentFiltered("filtered")])
    with pytest.raises(errors.ContentFiltered) as live:
        run(gw.complete(call()))
    with pytest.raises(errors.ContentFiltered) as cached:
        run(gw.complete(call()))
    assert not live.value.cached and cached.value.cached
    assert str(cached.value) == str(live.value)  # a replay reports the same reason
    assert len(transport.sent) == 1


def test_finish_reason_content_filter_is_a_typed_error(tmp_path):
    gw, transport, _ = make(tmp_path, [chat_response("", finish_reason="content_filter")])
    with pytest.raises(errors.ContentFiltered, match="finish_reason"):
        run(gw.complete(call()))
    with pytest.raises(errors.ContentFiltered):
        run(gw.complete(call()))
    assert len(transport.sent) == 1


def test_in_flight_never_exceeds_concurrency(tmp_path):
    gw, transport, _ = make(tmp_path, delay_s=0.01, concurrency=4)

    async def many():
        await asyncio.gather(*(gw.complete(call(f"q{i}")) for i in range(40)))

    run(many())
    assert transport.max_in_flight == 4 and gw.max_in_flight == 4


def test_identical_concurrent_requests_are_sent_once(tmp_path):
    gw, transport, _ = make(tmp_path, delay_s=0.01)

    async def same():
        return await asyncio.gather(*(gw.complete(call("same")) for _ in range(5)))

    results = run(same())
    assert len(transport.sent) == 1
    assert sum(not r.cached for r in results) == 1
    assert gw.ledger.total().cached_calls == 4


def test_rate_limiter_spaces_requests(tmp_path):
    clock = VirtualClock()
    # 600 requests/min = 10/s with a 1 s burst: 30 requests need at least 2 s beyond the first burst.
    gw, transport, _ = make(tmp_path, clock=clock, limits=RateLimits(rpm=600, burst_s=1.0))

    async def many():
        await asyncio.gather(*(gw.complete(call(f"q{i}")) for i in range(30)))

    start = clock.now
    run(many())
    assert clock.now - start == pytest.approx(2.0, abs=0.01)


def test_token_limit_counts_max_tokens_at_admission(tmp_path):
    clock = VirtualClock()
    gw, transport, _ = make(tmp_path, clock=clock, limits=RateLimits(tpm=6000, burst_s=1.0))  # 100 tokens/s

    async def many():
        # each call reserves ~2 prompt tokens + 50 max_tokens + 4 per message
        await asyncio.gather(*(gw.complete(call(f"q{i}", max_tokens=50)) for i in range(10)))

    start = clock.now
    run(many())
    assert clock.now - start >= 4.0


def test_ledger_totals_equal_sum_of_phases_and_phase_follows_threads(tmp_path):
    gw, transport, _ = make(tmp_path)
    loop = GatewayLoop()
    try:
        sync = SyncGateway(gw, loop)
        with gw.ledger.phase("bootstrap"):
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda i: sync.complete(call(f"b{i}")), range(8)))
        with gw.ledger.phase("search"):

            async def fan_out():
                await asyncio.gather(*(gw.complete(call(f"s{i}")) for i in range(5)))
                await gw.complete(call("b0"))

            loop.run(fan_out())
    finally:
        loop.close()
    data = gw.ledger.as_dict()
    assert data["phases"]["bootstrap"]["live_calls"] == 8
    assert data["phases"]["search"]["live_calls"] == 5 and data["phases"]["search"]["cached_calls"] == 1
    for field in ("live_calls", "cached_calls", "prompt_tokens", "completion_tokens", "retries", "errors"):
        assert data["total"][field] == sum(p[field] for p in data["phases"].values())
    assert data["total"]["cost_usd"] == pytest.approx(sum(p["cost_usd"] for p in data["phases"].values()))


def test_phases_report_when_they_were_open_so_overlaps_show():
    ledger = Ledger()
    with ledger.phase("baseline_eval"):
        with ledger.phase("bootstrap"):
            pass
        with ledger.phase("propose"):
            open_now = ledger.as_dict()["phases"]
    with ledger.phase("test_eval"):
        pass
    phases = ledger.as_dict()["phases"]
    order = [
        phases[name][edge]
        for name, edge in (
            ("baseline_eval", "started_s"),
            ("bootstrap", "started_s"),
            ("bootstrap", "ended_s"),
            ("propose", "started_s"),
            ("propose", "ended_s"),
            ("baseline_eval", "ended_s"),
            ("test_eval", "started_s"),
            ("test_eval", "ended_s"),
        )
    ]
    assert order == sorted(order) and order[0] >= 0
    # A phase still open ends "now"; the total's wall counts the overlapping phases once.
    assert open_now["propose"]["ended_s"] >= open_now["propose"]["started_s"]
    total_wall = ledger.as_dict()["total"]["wall_s"]
    assert total_wall == pytest.approx(phases["baseline_eval"]["wall_s"] + phases["test_eval"]["wall_s"], abs=2e-3)


def test_unknown_price_is_unknown_not_zero(tmp_path):
    # An Azure deployment serving a model LiteLLM's price map does not list.
    gw, _, _ = make(tmp_path, [chat_response("ok", model="in-house-finetune-7")])
    deployment = Endpoint(model="azure/my-deployment", identity="azure|h|v|my-deployment")
    run(gw.complete(call(endpoint=deployment)))
    total = gw.ledger.as_dict()["total"]
    assert total["unpriced_calls"] == 1 and total["cost_known"] is False


def test_budget_cap_stops_new_live_calls(tmp_path):
    ledger = Ledger(max_cost_usd=0.002)
    gw, transport, _ = make(tmp_path, ledger=ledger)
    with pytest.raises(errors.BudgetExceeded):
        for i in range(100):
            run(gw.complete(call(f"q{i}")))
    sent = len(transport.sent)
    assert 0 < sent < 100
    assert ledger.spent_usd <= 0.002
    with pytest.raises(errors.RunAborted):
        run(gw.complete(call("after")))
    assert len(transport.sent) == sent


def test_secret_never_reaches_logs_or_cache(tmp_path, monkeypatch):
    from gateway.logs import configure_logging

    secret = "sk-SECRET-canary-1234567890"
    monkeypatch.setenv("AZURE_API_KEY", secret)
    stream = io.StringIO()
    configure_logging(stream=stream, json_lines=True)
    endpoint = Endpoint(model="openai/gpt-4o", identity="test|v1", api_key=secret)
    gw, transport, _ = make(
        tmp_path, [errors.RateLimited(f"429 for key {secret}", retry_after=1.0), chat_response("ok")]
    )
    result = run(gw.complete(call(endpoint=endpoint)))
    import structlog

    structlog.get_logger("t").warning("echo", detail={"nested": [f"Bearer {secret}"]}, endpoint=repr(endpoint))
    gw.cache.close()
    logged = stream.getvalue()
    assert "gateway.retry" in logged and "[REDACTED]" in logged
    assert secret not in logged and secret not in result.key and secret not in repr(endpoint)
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes()
    assert json.loads(logged.strip().splitlines()[-1])["event"] == "echo"


def test_budget_cap_holds_under_concurrency(tmp_path):
    # Many calls at once: reservations make them wait near the cap instead of overshooting it.
    ledger = Ledger(max_cost_usd=0.004)
    gw, transport, _ = make(tmp_path, ledger=ledger, delay_s=0.001, concurrency=16)

    async def many():
        return await asyncio.gather(*(gw.complete(call(f"q{i}")) for i in range(200)), return_exceptions=True)

    results = run(many())
    refused = [r for r in results if isinstance(r, (errors.BudgetExceeded, errors.RunAborted))]
    assert refused and len(transport.sent) > 1
    assert 0 < ledger.spent_usd <= 0.004
