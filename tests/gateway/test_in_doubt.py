"""Money in doubt is counted: an attempt whose outcome is unknown keeps its reservation as spent."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from cache import CachePolicy
from gateway import errors, tokens
from gateway.budget import LocalBudget
from gateway.core import Gateway
from gateway.ledger import Ledger, format_ledger
from gateway.pricing import price_of
from gateway.retry import RetryPolicy
from gateway.testing import ScriptedTransport, chat_response
from gateway.transports.http import map_http_error
from gateway.types import ChatCall, Endpoint

ENDPOINT = Endpoint(model="openai/gpt-4o", identity="openai|gpt-4o", api_key="k")
PRICE = price_of("gpt-4o")
MESSAGES = [{"role": "user", "content": "How much did this cost?"}]
WORST = PRICE.cost(tokens.count_prompt_tokens("gpt-4o", MESSAGES), 100)


def call(i: int = 0) -> ChatCall:
    messages = MESSAGES if i == 0 else [{"role": "user", "content": f"How much did call {i} cost?"}]
    return ChatCall(ENDPOINT, list(messages), {"max_tokens": 100})


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


def gateway(transport: ScriptedTransport, cap: float | None) -> tuple[Gateway, LocalBudget, Ledger]:
    ledger = Ledger(max_cost_usd=cap)
    budget = LocalBudget(cap)
    gw = Gateway(
        transport,
        policy=CachePolicy.OFF,
        ledger=ledger,
        budget=budget,
        retry=RetryPolicy(base_s=0.0, max_backoff_s=0.0),
        sleep=no_wait,
    )
    return gw, budget, ledger


def test_a_timed_out_attempt_keeps_its_reservation_and_the_ledger_says_so():
    answer = chat_response("ok", prompt_tokens=10, completion_tokens=5)
    transport = ScriptedTransport([errors.RequestTimeout("read timed out"), answer])
    gw, budget, ledger = gateway(transport, cap=1.0)
    completion = asyncio.run(gw.complete(call()))
    assert completion.attempts == 2
    assert budget.spent_usd == pytest.approx(WORST + PRICE.cost(10, 5))  # the doubtful attempt, then the answer
    data = ledger.as_dict()["total"]
    assert (data["in_doubt"], data["in_doubt_usd"]) == (1, pytest.approx(WORST, abs=1e-6))
    assert ledger.spent_usd == pytest.approx(budget.spent_usd)
    table = format_ledger(ledger.as_dict())
    assert "in doubt $" in table.splitlines()[0] and "in doubt (timed out or lost" in table


def test_an_error_the_provider_answered_is_not_in_doubt():
    transport = ScriptedTransport(
        [errors.Unavailable("503 overloaded"), chat_response("ok", prompt_tokens=10, completion_tokens=5)]
    )
    gw, budget, ledger = gateway(transport, cap=1.0)
    asyncio.run(gw.complete(call()))
    assert budget.spent_usd == pytest.approx(PRICE.cost(10, 5))
    assert ledger.total().in_doubt == 0


def test_the_cap_stays_a_cap_when_attempts_are_in_doubt():
    # Room for one reservation: the first attempt times out and keeps it; its retry cannot reserve again.
    transport = ScriptedTransport([errors.Unavailable("connection lost", in_doubt=True)])
    gw, budget, ledger = gateway(transport, cap=WORST * 1.5)
    with pytest.raises(errors.BudgetExceeded):
        asyncio.run(gw.complete(call()))
    assert len(transport.sent) == 1
    assert budget.spent_usd == pytest.approx(WORST) and budget.reserved_usd == 0.0
    assert ledger.total().errors == 1 and ledger.total().requests == 1


def test_many_calls_in_doubt_never_pass_the_cap():
    steps: list = [
        errors.RequestTimeout("timed out") if i % 3 else chat_response("ok", prompt_tokens=12, completion_tokens=40)
        for i in range(400)
    ]
    transport = ScriptedTransport(steps, delay_s=0.001)
    cap = WORST * 20.5
    gw, budget, ledger = gateway(transport, cap=cap)

    async def many():
        return await asyncio.gather(*(gw.complete(call(i)) for i in range(1, 61)), return_exceptions=True)

    asyncio.run(many())
    assert ledger.total().in_doubt > 0
    assert budget.spent_usd <= cap * (1 + 1e-9)
    assert ledger.spent_usd == pytest.approx(budget.spent_usd)


def test_the_http_transport_tells_a_lost_request_from_one_never_sent():
    key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None)
    lost = map_http_error(aiohttp.ServerDisconnectedError())
    refused = map_http_error(aiohttp.ClientConnectorError(key, OSError(111, "refused")))
    read_timeout = map_http_error(aiohttp.SocketTimeoutError())
    connect_timeout = map_http_error(aiohttp.ConnectionTimeoutError())
    assert isinstance(lost, errors.Unavailable) and lost.in_doubt
    assert isinstance(refused, errors.Unavailable) and not refused.in_doubt
    assert isinstance(read_timeout, errors.RequestTimeout) and read_timeout.in_doubt
    assert isinstance(connect_timeout, errors.RequestTimeout) and not connect_timeout.in_doubt
