"""The gateway's async core: every LLM call of the process goes through ``Gateway.complete``.

The layers, in the order a call meets them::

    cache lookup ─hit──────────────────────────────────────────────► ledger (cached, saved $)
        │ miss (replay: CacheMiss, nothing sent)
        ▼
    in-flight dedupe ─ an identical request already on the wire? wait for its answer (if it ends
        ▼              without one, look again: cached refusal, fatal error, or send it yourself)
    in-flight lease ─ another process sending it? wait for its release, then read the cache
        ▼
    price (gateway/pricing.py) → budget: reserve the call's worst case (waits near the cap): its prompt
        counted with the model's tokenizer, plus n × its completion limit (the model's output limit
        when the request sets none)
        ▼
    retry loop (tenacity, gateway.retry's policy) ── for each attempt:
        call slots (concurrency, by priority) → rate limiter → pacing to the provider's reported
        quota (gateway.pacing) → transport (the only network I/O) → pacing reads the answer's headers
        ▼
    content-filter check → cache store → ledger (live, tokens, $ , retries) → budget: settle the cost

An attempt whose outcome is unknown (``TransientError.in_doubt``: it timed out or lost its connection
after the provider may have received it) keeps its reservation as spent, and the retry reserves anew.

The cache store, the in-flight leases, the limiter and the budget are seams (``CacheStore``,
``CallLeases``, ``Limiter``, ``Budget``): the caller picks their implementations (this process's,
or shared ones) and the core never asks which.
The cache key is computed once, before anything else. Clock, sleep and the jitter source are
injectable, so tests observe every wait without waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from cache import CachePolicy, CacheStore, CorruptEntry, request_key, short_digest
from gateway import errors, tokens
from gateway.budget import Budget, Hold, LocalBudget
from gateway.leases import CallLeases, Claim, NoLeases
from gateway.ledger import Ledger
from gateway.limits import Limiter, RateLimiter, RateLimits
from gateway.pacing import Pacing
from gateway.pricing import Price, PriceBook, served_model_key, usage_tokens
from gateway.retry import RetryPolicy
from gateway.runs import RunLedgers
from gateway.slots import CallSlots
from gateway.transports import Transport
from gateway.types import ChatCall, Completion

log = structlog.get_logger("gateway")

# Errors after which no later call of the run can succeed: the gateway refuses every later call.
FATAL_ERRORS = (
    errors.BudgetExceeded,
    errors.CacheMiss,
    errors.CorruptCacheEntry,
    errors.QuotaExhausted,
    errors.AuthenticationFailed,
    errors.ModelNotFound,
    errors.ConfigurationError,
    errors.SharedStateUnavailable,
)

# Completion tokens a call that sets no max_tokens counts against a quota's admission (not the budget:
# a reservation counts the model's output limit).
DEFAULT_COMPLETION_ESTIMATE = 512


class Gateway:
    """Cache, concurrency and rate limits, retries and accounting around one transport.

    ``limiter`` defaults to this process's ``RateLimiter`` over ``limits``, ``budget`` to this
    process's ``LocalBudget`` over the ledger's ``max_cost_usd``, and ``leases`` to ``NoLeases``.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        cache: CacheStore | None = None,
        policy: CachePolicy = CachePolicy.READ_WRITE,
        ledger: Ledger | RunLedgers | None = None,  # RunLedgers: one gateway serving several runs
        concurrency: int = 16,
        limits: RateLimits | None = None,
        limiter: Limiter | None = None,
        budget: Budget | None = None,
        leases: CallLeases | None = None,
        retry: RetryPolicy | None = None,
        pacing: Pacing | None = None,
        exact_tokens: bool | None = None,
        prices: PriceBook | None = None,
        seed: int = 42,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if cache is None and policy is not CachePolicy.OFF:
            raise ValueError(f"cache policy {policy.value!r} needs a cache")
        self.transport = transport
        self.cache = cache
        self.policy = policy
        self.ledger: Ledger | RunLedgers = ledger if ledger is not None else Ledger()
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.prices = prices if prices is not None else PriceBook()
        self.limiter: Limiter = limiter or RateLimiter(limits or RateLimits(), clock=clock, sleep=sleep)
        self.budget: Budget = budget or LocalBudget(self.ledger.max_cost_usd)
        self.pacing = pacing or Pacing(clock=clock, sleep=sleep)
        # Count admission tokens with the model's tokenizer for the limiter (by default when it has
        # limits); calls to an endpoint that reports its quota are always counted so.
        self._exact_tokens = bool(limits is not None and limits.enabled) if exact_tokens is None else exact_tokens
        self.leases: CallLeases = leases or NoLeases()
        self._sleep = sleep
        self._jitter = random.Random(seed)
        self._slots = CallSlots(concurrency)
        self._inflight: dict[str, asyncio.Future[Completion | None]] = {}
        self.fatal_error: errors.GatewayError | None = None
        self.in_flight = 0
        self.max_in_flight = 0

    # -- the one entry point --------------------------------------------------------------------
    async def complete(self, call: ChatCall) -> Completion:
        """Answer one chat-completion request, from the cache or the provider."""
        if call.retry_max_tokens is not None:
            return await self._complete_uncut(call)
        key = request_key(
            endpoint=call.endpoint.identity,
            model=call.endpoint.model,
            messages=call.messages,
            params=call.params,
            rollout_id=call.rollout_id,
        )
        phase = self.ledger.current_phase()
        try:
            if self.prices.needs_note(call.endpoint):
                await self.prices.recall(self.cache, call.endpoint)
            while True:
                if self.fatal_error is not None:
                    self.ledger.record_refused(phase)
                    raise errors.RunAborted(self.fatal_error)
                hit = await self._lookup(key, call)
                if hit is not None:
                    return await self._serve_cached(hit, key, call, phase)
                if self.policy is CachePolicy.REPLAY:
                    self.ledger.record_refused(phase)
                    raise errors.CacheMiss(call.endpoint.model, short_digest(key))
                pending = self._inflight.get(key)
                if pending is None:
                    break
                # The same request is already on the wire: share its answer, pay once. If it ends
                # without one (failed, or cancelled by its own caller), look again: a refusal is
                # cached by then, a fatal error stops this call too, and otherwise this call is sent.
                completion = await asyncio.shield(pending)
                if completion is not None:
                    self.ledger.record_cached(completion.cost_usd, phase)
                    return Completion(completion.response, cached=True, key=key, cost_usd=completion.cost_usd)
            future: asyncio.Future[Completion | None] = asyncio.get_running_loop().create_future()
            self._inflight[key] = future
            answer: Completion | None = None
            try:
                answer = await self._fetch_leased(call, key, phase)
                return answer
            finally:
                del self._inflight[key]
                future.set_result(answer)  # waiters get the answer, or None: never this caller's error
        except FATAL_ERRORS as exc:
            self.fatal_error = self.fatal_error or exc
            raise

    async def _complete_uncut(self, call: ChatCall) -> Completion:
        """``call``'s answer; if it is cut at its max_tokens, the answer to the same call with the larger limit."""
        completion = await self.complete(replace(call, retry_max_tokens=None))
        larger = _with_larger_limit(call, completion.response)
        if larger is None:
            return completion
        # The cut answer stays cached as the answer to its own request; the retry is a request of its own.
        self.ledger.record_truncated(self.ledger.current_phase())
        return await self.complete(larger)

    # -- cache ----------------------------------------------------------------------------------
    async def _lookup(self, key: str, call: ChatCall) -> dict[str, Any] | None:
        if self.cache is None or not self.policy.reads:
            return None
        try:
            return await self.cache.lookup(key)
        except CorruptEntry as exc:
            if self.policy is CachePolicy.REPLAY:
                raise errors.CorruptCacheEntry(
                    f"replay: {exc} (model {call.endpoint.model!r}); delete it or rerun without --replay"
                ) from exc
            log.warning("cache.corrupt_entry_refetched", digest=short_digest(key), reason=exc.reason)
            return None

    async def _serve_cached(self, record: dict[str, Any], key: str, call: ChatCall, phase: str) -> Completion:
        refusal = record.get("refusal")
        if refusal is not None:
            self.ledger.record_cached(0.0, phase)
            raise errors.ContentFiltered(refusal, cached=True)
        response = record["response"]
        await self._learn_served_model(call, response)
        would_cost = self.prices.cost(call.endpoint, response)
        self.ledger.record_cached(would_cost, phase)
        return Completion(response, cached=True, key=key, cost_usd=would_cost)

    async def _store(self, key: str, record: dict[str, Any]) -> None:
        if self.cache is not None and self.policy.writes:
            await self.cache.store(key, record)

    async def _learn_served_model(self, call: ChatCall, response: dict[str, Any]) -> None:
        note = self.prices.learn(call.endpoint, response)
        if note is not None:  # noted beside the answers, so a later run knows the price before its first call
            await self._store(served_model_key(call.endpoint.identity), note)

    # -- live calls -----------------------------------------------------------------------------
    async def _fetch_leased(self, call: ChatCall, key: str, phase: str) -> Completion:
        """Send the call unless another process is sending it or has stored its answer."""
        while (claim := await self.leases.claim(key)) is not Claim.SEND:
            if claim is Claim.WAIT:
                await self.leases.wait_released(key)
            hit = await self._lookup(key, call)
            if hit is not None:
                return await self._serve_cached(hit, key, call, phase)
            if claim is Claim.STORED:
                break  # stored but unreadable (it failed its check): send it ourselves
            # Released with no answer stored (the holder failed or died): claim it again.
        try:
            return await self._fetch(call, key, phase)
        finally:
            await self.leases.release(key)

    async def _fetch(self, call: ChatCall, key: str, phase: str) -> Completion:
        attempts = 0
        other_failures = 0  # failures that named no wait: bounded in number (see gateway.retry)
        estimate_tokens = _estimate_tokens(call)
        policy = self.retry
        pace = self.pacing.for_endpoint(call.endpoint.identity)
        admission_tokens = 0

        on_the_wire = False  # whether an attempt's request is out now (not waiting to retry)
        hold: Hold | None = None  # the reservation standing for the next attempt (None: kept by one in doubt)
        worst_case: float | None = None  # what a reservation holds: the call's most possible cost

        async def attempt() -> dict[str, Any]:
            nonlocal attempts, admission_tokens, on_the_wire, hold
            if hold is None:
                # The last attempt's outcome is unknown and its reservation was kept as spent: reserve anew.
                hold = await self.budget.reserve(worst_case)
            async with self._slots.slot():
                if not admission_tokens:
                    admission_tokens = await self._admission_tokens(call, estimate_tokens, pace.active)
                await self.limiter.acquire(admission_tokens, deployment=call.endpoint.identity)
                ticket = await pace.acquire(admission_tokens)
                attempts += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                on_the_wire = True
                try:
                    response = await self.transport.send(call)
                except errors.RateLimited as exc:
                    pace.throttled(ticket, exc.retry_after, exc.headers)
                    policy.check_retry_after(exc)
                    raise
                except errors.TransientError as exc:
                    pace.observe(ticket, exc.headers)
                    if exc.in_doubt:
                        kept, hold = hold, None
                        await self._keep_in_doubt(kept, doubt_usd(), phase)
                    raise
                finally:
                    self.in_flight -= 1
                    on_the_wire = False
                pace.observe(ticket, getattr(response, "headers", None))
                return response

        def stop(state: RetryCallState) -> bool:
            nonlocal other_failures
            exc = _failure(state)
            if not policy.told_to_wait(exc):
                other_failures += 1
            return policy.should_stop(exc, other_failures, state.idle_for, state.upcoming_sleep)

        def give_up(state: RetryCallState) -> Any:
            exc = _failure(state)
            # The error keeps its type (callers and the ledger go by it); its message says why it is final.
            exc.args = (f"{exc} ({policy.give_up_note(exc, state.attempt_number, state.idle_for)})",)
            raise exc

        retrying = AsyncRetrying(
            stop=stop,
            retry=retry_if_exception(policy.should_retry),
            wait=lambda state: policy.wait_s(state.attempt_number, _failure(state), self._jitter),
            sleep=self._sleep,
            before_sleep=lambda state: log.info(
                "gateway.retry",
                attempt=state.attempt_number,
                model=call.endpoint.model,
                error=type(_failure(state)).__name__,
                wait_s=round(state.upcoming_sleep, 3),
            ),
            retry_error_callback=give_up,
        )
        # The call's worst case (its prompt as the tokenizer counts it, plus n × its completion limit)
        # stays reserved until its real cost is settled, so calls in flight together can never take the
        # budget past its cap. Under a cap, a call whose price is not known is not sent: the cap could
        # not count it. Without a cap the worst case is only worked out for the ledger, when needed.
        price: Price | None = None

        def doubt_usd() -> float | None:
            """The most an attempt in doubt (or a cancelled call) can have cost."""
            if worst_case is not None or price is None:
                return worst_case
            try:
                return _worst_case(call, price)
            except errors.ConfigurationError:
                return None

        try:
            if self.budget.max_cost_usd is not None:
                price = self.prices.require(call.endpoint)
                await _prepare_tokenizer(_counting_model(call, price))
                worst_case = _worst_case(call, price)
            else:
                price = self.prices.price(call.endpoint)
            hold = await self.budget.reserve(worst_case)
        except (errors.BudgetExceeded, errors.ConfigurationError):
            self.ledger.record_refused(phase)
            raise
        cost: float | None = 0.0  # what a call that fails costs: nothing was billed
        try:
            try:
                response: dict[str, Any] = await retrying(attempt)
            except errors.ContentFiltered as exc:
                self.ledger.record_error(max(0, attempts - 1), phase)
                await self._store(key, {"refusal": str(exc)})
                raise
            except errors.GatewayError:
                self.ledger.record_error(max(0, attempts - 1), phase)
                raise
            except asyncio.CancelledError:
                if attempts:
                    # A request went out: the provider may bill it though nobody reads the answer. The
                    # budget charges its whole reservation (cost unknown), the ledger its count.
                    cost = None
                    # An attempt in doubt before it already kept its reservation; nothing more is held.
                    self.ledger.record_cancelled(attempts - 1, doubt_usd() if hold is not None else 0.0, phase)
                    if not on_the_wire:
                        # Cancelled while waiting to retry: the retry its last gateway.retry line announced
                        # never went out. Said so, so that the log's retries still add up to the ledger's.
                        log.info("gateway.retry_abandoned", attempt=attempts, model=call.endpoint.model)
                raise
            await self._learn_served_model(call, response)
            prompt_tokens, completion_tokens, cached_tokens = usage_tokens(response)
            cost = self.prices.cost(call.endpoint, response)
            retries = attempts - 1
            if _finish_reason(response) == "content_filter":
                # A billed answer whose content the provider withheld: one failed call, with its cost.
                self.ledger.record_error(
                    retries, phase, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_usd=cost
                )
                refusal = "content filter: the provider withheld the completion (finish_reason)"
                await self._store(key, {"refusal": refusal})
                self._check_priced(call, response, cost)
                raise errors.ContentFiltered(refusal)
            self.ledger.record_live(
                prompt_tokens, completion_tokens, cost, retries, phase, cached_prompt_tokens=cached_tokens
            )
            await self._store(key, {"response": response})
            self._check_priced(call, response, cost)
        finally:
            if hold is not None:
                await self.budget.settle(hold, cost)
        return Completion(response, cached=False, key=key, attempts=attempts, cost_usd=cost)

    async def _admission_tokens(self, call: ChatCall, estimate: tuple[int, int], reported_quota: bool) -> int:
        """What the call counts against a quota: prompt tokens plus max_tokens, exactly when a quota is in play."""
        if not (self._exact_tokens or reported_quota):
            return sum(estimate)
        model = call.endpoint.price_model or call.endpoint.model
        if not tokens.ready(model):
            await asyncio.to_thread(tokens.prepare, model)  # about half a second, once per encoding
        return tokens.count_prompt_tokens(model, call.messages) + estimate[1]

    async def _keep_in_doubt(self, hold: Hold, reserved_usd: float | None, phase: str) -> None:
        """An attempt whose outcome is unknown: the budget keeps its reservation as spent, the ledger says so."""
        self.ledger.record_in_doubt(reserved_usd, phase)
        await self.budget.settle(hold, None)

    def _check_priced(self, call: ChatCall, response: dict[str, Any], cost: float | None) -> None:
        # Under a cap every answer must be counted. The budget charges an unpriced one its reservation,
        # but that was priced as another model: stop rather than guess (fail closed).
        if cost is None and self.budget.max_cost_usd is not None:
            raise errors.PriceUnknown(
                f"--max-cost cannot count an answer of {call.endpoint.model!r} served by "
                f"{response.get('model')!r}, which LiteLLM's price map does not list; "
                "give --price-model (e.g. --price-model gpt-4o)"
            )


def _failure(state: RetryCallState) -> BaseException:
    """The error of the attempt that just failed (tenacity asks for a wait, and logs, only after one)."""
    exc = state.outcome.exception() if state.outcome is not None else None
    if exc is None:
        raise RuntimeError("tenacity asked for a retry without a failed attempt")
    return exc


def _counting_model(call: ChatCall, price: Price) -> str:
    """The model whose tokenizer counts the call's prompt: the served one for an Azure deployment (its
    name is not a model's), else the endpoint's own model (whatever ``--price-model`` prices it as)."""
    return price.name if call.endpoint.model.startswith("azure/") else call.endpoint.model


async def _prepare_tokenizer(model: str) -> None:
    if tokens.counted_exactly(model) and not tokens.ready(model):
        await asyncio.to_thread(tokens.prepare, model)  # about half a second, once per encoding


def _completion_limit(call: ChatCall, price: Price) -> int:
    """The most completion tokens one choice of the call can be billed: its own limit, else the model's."""
    limits = [call.params.get("max_tokens"), call.params.get("max_completion_tokens")]
    given = [v for v in limits if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    if given:
        return max(given)
    if price.max_output_tokens is not None:
        return price.max_output_tokens
    raise errors.ConfigurationError(
        f"--max-cost cannot bound a call to {call.endpoint.model!r} that sets no max_tokens: LiteLLM's price "
        f"map gives no output limit for {price.name!r}; set max_tokens"
    )


def _worst_case(call: ChatCall, price: Price) -> float:
    """The most the call can cost: every prompt token at full price, and n choices of its completion limit.

    The prompt is billed once however many choices (``n``) are asked for; each choice is billed its tokens.
    """
    n = call.params.get("n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
    prompt = tokens.reserved_prompt_tokens(_counting_model(call, price), call.messages)
    return price.cost(prompt, choices * _completion_limit(call, price))


def _with_larger_limit(call: ChatCall, response: Mapping[str, Any]) -> ChatCall | None:
    """``call`` with ``max_tokens`` raised to its ``retry_max_tokens`` if ``response`` was cut at the limit."""
    if call.retry_max_tokens is None:
        return None
    choices = response.get("choices") or []
    if not any(isinstance(c, Mapping) and c.get("finish_reason") == "length" for c in choices):
        return None
    name = "max_completion_tokens" if "max_completion_tokens" in call.params else "max_tokens"
    current = call.params.get(name)
    if not isinstance(current, int) or current >= call.retry_max_tokens:
        return None
    return replace(call, params={**call.params, name: call.retry_max_tokens}, retry_max_tokens=None)


def _finish_reason(response: dict[str, Any]) -> str | None:
    choices = response.get("choices") or [{}]
    reason = choices[0].get("finish_reason")
    return reason if isinstance(reason, str) else None


def _estimate_tokens(call: ChatCall) -> tuple[int, int]:
    """(prompt, completion) tokens of a call, cheaply: about 4 characters a prompt token rounded up, 4
    tokens of framing per message and 3 for the reply's primer (near the real count for English); plus
    max_tokens."""
    prompt = tokens.estimate_prompt_tokens(call.messages)
    max_tokens = call.params.get("max_tokens") or call.params.get("max_completion_tokens")
    return prompt, int(max_tokens or DEFAULT_COMPLETION_ESTIMATE)
