"""One spending cap for every worker that names it (``--max-cost USD --budget-name NAME``), on Redis.

Three keys per budget under ``<prefix>:budget:<name>``: a hash (``cap``, ``spent``, when it was
created and last changed), a sorted set of the reservations in flight (scored by when each expires)
and a hash of their amounts. Reserving and settling are Lua scripts, so each is one atomic step on
the server:

* reserve drops expired reservations, then admits the call if spent + every live reservation + its
  own worst case fits under the cap; else it answers "wait" while reservations are in flight (the
  worker polls, 50 ms doubling to 0.5 s) or "over" when none is (``BudgetExceeded``);
* settle removes the reservation and adds the call's cost (its whole reservation when the cost is
  unknown) to ``spent``.

A call's reservation is its worst case (prompt + ``max_tokens``), so the total spent can pass the cap
only by what calls in flight cost beyond their reservations: by nothing when the price is known.
Reservations carry a lease the worker renews while its calls run; a worker that dies stops renewing
and its reservations expire after ``lease_s``, so it cannot hold the budget for long.

The cap is set by the first worker to open the budget; a worker given another ``--max-cost`` stops at
start with one line.

A budget never silently starts again from $0. Its record carries an ``incarnation`` (a random token
set when it is created) and its ``origin`` (``worker``: created by the first worker to name it;
``explicit``: re-created by an operator with what was spent). Each worker notes the budgets it opened
on its own disk (``gateway/budget/notes.py``). A worker with a note never creates the budget: if the
server lost the record (a restart without persistence, a flush, a deletion, eviction), or a worker
without a note created it afresh, it stops with one line that says how to re-create it explicitly:
``scripts/ledger.py --redis-url URL --budget-name NAME --set-cap USD --recreate-spent USD``.
A settle that finds the record gone keeps its charge in the note and the next reservation stops the
run. At start the worker reads the server's persistence and eviction settings (``CONFIG GET``, where
the server allows it) and warns once when a restart or memory pressure could lose the record.

``scripts/ledger.py --redis-url URL --budget-name NAME --set-cap USD`` changes the cap for every
worker's next reservation.
The shared total is read with ``scripts/ledger.py --redis-url URL --budget-name NAME``. Nothing expires
the budget itself: its spend is a record.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
import structlog

from gateway.budget import Hold, charged_usd, unpriced_under_cap
from gateway.budget.notes import BudgetNotes, server_identity
from gateway.errors import BudgetExceeded, ConfigurationError
from gateway.shared.conn import (
    REDIS_ERRORS,
    LeaseRenewer,
    check_reachable,
    connect,
    read_outcome,
    shared_state_errors,
)
from gateway.shared.target import RedisTarget, check_budget_name

log = structlog.get_logger("gateway")

# How often, at most, a worker rewrites its note of what it saw spent (it also does when it stops).
NOTE_EVERY_S = 0.25

_NOW_MS = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: budget hash. ARGV: cap, a new incarnation, whether it may be created ('1' or '0').
# Creates the budget if it does not exist and may be; returns {cap, spent, incarnation, origin}, or
# four empty strings when it does not exist and may not be created.
OPEN = (
    _NOW_MS
    + """
if redis.call('HEXISTS', KEYS[1], 'cap') == 0 then
  if ARGV[3] ~= '1' then return {'', '', '', ''} end
  redis.call('HSET', KEYS[1], 'cap', ARGV[1], 'spent', '0', 'created_ms', now_ms, 'updated_ms', now_ms,
             'incarnation', ARGV[2], 'origin', 'worker')
elseif redis.call('HEXISTS', KEYS[1], 'incarnation') == 0 then
  redis.call('HSET', KEYS[1], 'incarnation', ARGV[2], 'origin', 'worker')
end
return redis.call('HMGET', KEYS[1], 'cap', 'spent', 'incarnation', 'origin')
"""
)

# KEYS: hash, holds, amounts. ARGV: cap, spent, a new incarnation. Replaces the budget (and any
# reservations in flight) with one of that cap and spend, re-created explicitly.
RECREATE = (
    _NOW_MS
    + """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'cap', ARGV[1], 'spent', ARGV[2], 'created_ms', now_ms, 'updated_ms', now_ms,
           'incarnation', ARGV[3], 'origin', 'explicit')
return 0
"""
)

# Drops expired reservations and sums the live ones (into `reserved`); shared by RESERVE and READ.
_LIVE = """
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms)
for _, id in ipairs(dead) do redis.call('HDEL', KEYS[3], id) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms) end
local reserved = 0
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do reserved = reserved + tonumber(v) end
local cap = redis.call('HGET', KEYS[1], 'cap')
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
"""

# KEYS: hash, holds, amounts. ARGV: estimate, reservation id, lease ms.
# Returns {verdict, spent, reserved (with this call if admitted), cap}; verdict ok | wait | over | missing.
RESERVE = (
    _NOW_MS
    + _LIVE
    + """
if cap == false then return {'missing', '0', '0', '0'} end
cap = tonumber(cap)
local estimate = tonumber(ARGV[1])
local verdict = 'over'
if spent + reserved + estimate <= cap then
  redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[3]), ARGV[2])
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
  verdict = 'ok'
  reserved = reserved + estimate
elseif redis.call('ZCARD', KEYS[2]) > 0 then
  verdict = 'wait'
end
return {verdict, string.format('%.17g', spent), string.format('%.17g', reserved), string.format('%.17g', cap)}
"""
)

# KEYS: hash, holds, amounts. ARGV: reservation id, charge. Returns the new spent total, or '' when the
# budget no longer exists (a capless record holding only this charge would pass for no budget at all).
SETTLE = (
    _NOW_MS
    + """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'cap') == 0 then return '' end
local spent = redis.call('HINCRBYFLOAT', KEYS[1], 'spent', ARGV[2])
redis.call('HSET', KEYS[1], 'updated_ms', now_ms)
return spent
"""
)

# KEYS: holds. ARGV: lease ms, then reservation ids. Extends those still live.
RENEW = (
    _NOW_MS
    + """
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now_ms + tonumber(ARGV[1]), ARGV[i])
end
return 0
"""
)

# KEYS: hash, holds, amounts. Returns {cap or '', spent, live reservations, reserved, created_ms, updated_ms}.
READ = (
    _NOW_MS
    + _LIVE
    + """
if cap == false then return {'', '0', 0, '0', '', '', ''} end
return {cap, string.format('%.17g', spent), redis.call('ZCARD', KEYS[2]), string.format('%.17g', reserved),
        redis.call('HGET', KEYS[1], 'created_ms'), redis.call('HGET', KEYS[1], 'updated_ms'),
        redis.call('HGET', KEYS[1], 'origin') or 'worker'}
"""
)


def budget_keys(prefix: str, name: str) -> list[str]:
    base = f"{prefix}:budget:{name}"
    return [base, base + ":holds", base + ":held"]


class RedisBudget:
    """A ``Budget`` shared by every worker that opens the same name on one Redis server."""

    def __init__(
        self,
        client: aioredis.Redis,
        target: RedisTarget,
        name: str,
        max_cost_usd: float,
        *,
        lease_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        notes: BudgetNotes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = check_budget_name(name)
        self.max_cost_usd: float | None = max_cost_usd
        self.target = target
        self.keys = budget_keys(target.prefix, name)
        self.lease_ms = int(lease_s * 1000)
        self._sleep = sleep
        self._open = client.register_script(OPEN)
        self._reserve = client.register_script(RESERVE)
        self._settle = client.register_script(SETTLE)
        self._renew = client.register_script(RENEW)
        self._held: set[str] = set()
        self._renewer = LeaseRenewer(self.lease_ms, self._renew_held, lambda: bool(self._held), sleep=sleep)
        self.spent_usd = 0.0  # the shared total as last seen by this worker
        self.reserved_usd = 0.0
        self.waits = 0
        self.notes = notes
        self.incarnation = ""
        self._client = client
        self._clock = clock
        self._noted_at: float | None = None
        self._noted_usd = -1.0

    async def open(self) -> None:
        """Create the budget (unless workers here spent under it before: see the module docstring), or
        join it; raises ``ConfigurationError`` if it was lost or has another cap."""
        note = self.notes.read(self.target, self.name) if self.notes is not None else None
        with shared_state_errors(self.target, "budget"):
            cap, spent, incarnation, origin = await self._open(
                keys=self.keys[:1], args=[repr(self.max_cost_usd), secrets.token_hex(8), "0" if note else "1"]
            )
        if not cap:
            assert note is not None
            raise lost_budget(self.target, self.name, note.spent_usd, self.max_cost_usd)
        incarnation, origin = _text(incarnation), _text(origin)
        if note is not None and incarnation != note.incarnation and origin != "explicit":
            raise ConfigurationError(
                f"budget {self.name!r} on {self.target.display} was lost and created again from $0 by a worker that "
                f"did not know it (${float(spent):.4f} spent since); workers here had spent ${note.spent_usd:.4f} "
                f"under the lost one: re-create it with what both spent: {_recreate_command(self.name, float(cap))} "
                f"{note.spent_usd + float(spent):.4f}"
            )
        stored, self.spent_usd, self.incarnation = float(cap), float(spent), incarnation
        self._remember(force=True)
        with shared_state_errors(self.target, "budget"):
            await warn_if_not_durable(self._client, self.target)
        given = self.max_cost_usd
        if given is None or abs(stored - given) > 1e-9:
            raise ConfigurationError(
                f"budget {self.name!r} is capped at ${stored:g}, not ${given or 0:g}: pass --max-cost {stored:g} to "
                f"share it, or change its cap with scripts/ledger.py --redis-url URL --budget-name {self.name} "
                "--set-cap USD"
            )

    async def reserve(self, estimate_usd: float | None) -> Hold:
        cap = self.max_cost_usd if self.max_cost_usd is not None else 0.0
        if estimate_usd is None:
            raise unpriced_under_cap(cap)
        ident = secrets.token_hex(8)
        pause = 0.05
        while True:
            with shared_state_errors(self.target, "budget"):
                verdict, spent, reserved, cap_now = await self._reserve(
                    keys=self.keys, args=[repr(float(estimate_usd)), ident, self.lease_ms]
                )
            self.spent_usd, self.reserved_usd = float(spent), float(reserved)
            if verdict != b"missing":
                self.max_cost_usd = cap = float(cap_now)  # the cap may have been changed for every worker
            if verdict == b"ok":
                self._held.add(ident)
                self._renewer.start()
                return Hold(estimate_usd, ident)
            if verdict == b"over":
                raise BudgetExceeded(self.spent_usd, cap)
            if verdict == b"missing":
                self._remember(force=True)
                raise lost_budget(self.target, self.name, self._seen_usd(), cap)
            # Reservations in flight (here or in other workers) may settle for less: look again shortly.
            self.waits += 1
            await self._sleep(pause)
            pause = min(0.5, pause * 2)

    async def settle(self, hold: Hold, cost_usd: float | None) -> None:
        self._held.discard(hold.ident)
        charge = charged_usd(hold, cost_usd)
        settling = asyncio.ensure_future(self._settle(keys=self.keys, args=[hold.ident, repr(float(charge))]))
        settling.add_done_callback(read_outcome)
        with shared_state_errors(self.target, "budget"):
            # Shielded: a call cancelled after it was paid for must still be counted.
            spent = await asyncio.shield(settling)
        if spent == b"" or spent == "":
            # The record is gone: this charge is kept here, and the next reservation stops the run.
            self.spent_usd += charge
            self._remember(force=True)
            log.warning("budget.lost", budget=self.name, server=self.target.display, charge_usd=round(charge, 6))
            return
        self.spent_usd = float(spent)
        self._remember()

    def close(self) -> None:
        """Note the last total seen (the notes are otherwise rewritten at most every ``NOTE_EVERY_S``)."""
        self._remember(force=True)

    def _seen_usd(self) -> float:
        note = self.notes.read(self.target, self.name) if self.notes is not None else None
        return max(self.spent_usd, note.spent_usd if note is not None else 0.0)

    def _remember(self, *, force: bool = False) -> None:
        if self.notes is None or not self.incarnation or self.spent_usd == self._noted_usd:
            return
        now = self._clock()
        if not force and self._noted_at is not None and now - self._noted_at < NOTE_EVERY_S:
            return
        self.notes.remember(self.target, self.name, self.incarnation, self.spent_usd)
        self._noted_at, self._noted_usd = now, self.spent_usd

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": "shared",
            "name": self.name,
            "max_cost_usd": self.max_cost_usd,
            "spent_usd": round(self.spent_usd, 6),
            "reserved_usd": round(self.reserved_usd, 6),
            "reservations": len(self._held),
        }

    async def _renew_held(self) -> None:
        # A Redis error ends the renewals; the next reserve or settle reports the loss and stops the run.
        if self._held:
            await self._renew(keys=self.keys[1:2], args=[self.lease_ms, *sorted(self._held)])


async def read_budget(client: aioredis.Redis, target: RedisTarget, name: str) -> dict[str, Any] | None:
    """The shared budget's state (None if no worker ever opened it)."""
    script = client.register_script(READ)
    with shared_state_errors(target, "budget"):
        cap, spent, live, reserved, created_ms, updated_ms, origin = await script(keys=budget_keys(target.prefix, name))
    if not cap:
        return None
    return {
        "name": name,
        "max_cost_usd": float(cap),
        "spent_usd": round(float(spent), 6),
        "reservations_in_flight": int(live),
        "reserved_usd": round(float(reserved), 6),
        "remaining_usd": round(max(0.0, float(cap) - float(spent) - float(reserved)), 6),
        "created_ms": int(created_ms),
        "updated_ms": int(updated_ms),
        "origin": _text(origin),
    }


async def set_cap(
    client: aioredis.Redis, target: RedisTarget, name: str, cap_usd: float, *, notes: BudgetNotes | None = None
) -> None:
    """Set a budget's cap, creating a new budget of that name unless workers here spent under one before
    (then it was lost: ``lost_budget``); running workers use it from their next reservation."""
    keys = budget_keys(target.prefix, name)
    note = notes.read(target, name) if notes is not None else None
    with shared_state_errors(target, "budget"):
        cap, *_ = await client.register_script(OPEN)(
            keys=keys[:1], args=[repr(cap_usd), secrets.token_hex(8), "0" if note else "1"]
        )
        if not cap:
            assert note is not None
            raise lost_budget(target, name, note.spent_usd, cap_usd)
        await client.hset(keys[0], "cap", repr(cap_usd))


async def recreate_budget(
    client: aioredis.Redis,
    target: RedisTarget,
    name: str,
    cap_usd: float,
    spent_usd: float,
    *,
    notes: BudgetNotes | None = None,
) -> None:
    """Re-create budget ``name`` explicitly with ``spent_usd`` already spent (replacing any record of it)."""
    incarnation = secrets.token_hex(8)
    with shared_state_errors(target, "budget"):
        await client.register_script(RECREATE)(
            keys=budget_keys(target.prefix, name), args=[repr(cap_usd), repr(spent_usd), incarnation]
        )
    if notes is not None:
        notes.remember(target, name, incarnation, spent_usd)


def budget_status(
    target: RedisTarget,
    name: str,
    *,
    new_cap_usd: float | None = None,
    recreate_spent_usd: float | None = None,
    notes: BudgetNotes | None = None,
) -> dict[str, Any] | None:
    """The shared budget ``name`` (after setting its cap, or re-creating it with ``recreate_spent_usd`` spent
    and the cap ``new_cap_usd``, if asked), read over a connection of its own."""
    check_budget_name(name)
    if recreate_spent_usd is not None and new_cap_usd is None:
        raise ConfigurationError("--recreate-spent needs --set-cap USD: the cap the re-created budget has")

    async def read() -> dict[str, Any] | None:
        client = connect(target)
        try:
            await check_reachable(client, target)
            if recreate_spent_usd is not None and new_cap_usd is not None:
                await recreate_budget(client, target, name, new_cap_usd, recreate_spent_usd, notes=notes)
            elif new_cap_usd is not None:
                await set_cap(client, target, name, new_cap_usd, notes=notes)
            return await read_budget(client, target, name)
        finally:
            await client.aclose()

    return asyncio.run(read())


def lost_budget(target: RedisTarget, name: str, spent_usd: float, cap_usd: float | None) -> ConfigurationError:
    """The one line a worker stops with when the budget it spent under is gone from the server."""
    return ConfigurationError(
        f"budget {name!r} no longer exists on {target.display} (the server lost it: a restart without "
        f"persistence, a flush, a deletion or eviction); workers here spent ${spent_usd:.4f} under it, so it is "
        f"not started again from $0: re-create it with what was spent: {_recreate_command(name, cap_usd)} "
        f"{spent_usd:.4f}"
    )


def _recreate_command(name: str, cap_usd: float | None) -> str:
    cap = f"{cap_usd:g}" if cap_usd is not None else "USD"
    return f"scripts/ledger.py --redis-url URL --budget-name {name} --set-cap {cap} --recreate-spent"


_WARNED: set[str] = set()


async def warn_if_not_durable(client: aioredis.Redis, target: RedisTarget) -> None:
    """Warn once per server when its settings could lose a budget (no persistence, or eviction of any key).

    Managed servers may refuse ``CONFIG``: then nothing is said.
    """
    server = server_identity(target)
    if server in _WARNED:
        return
    _WARNED.add(server)
    try:
        config: dict[str, str] = {}
        for setting in ("appendonly", "save", "maxmemory-policy"):
            config.update({_text(k): _text(v) for k, v in (await client.config_get(setting)).items()})
    except REDIS_ERRORS:
        return
    except aioredis.ResponseError:
        return
    reasons = []
    if config.get("appendonly") == "no" and not config.get("save", "").strip():
        reasons.append("it keeps nothing on disk (appendonly no, no save points): a restart loses the budget")
    policy = config.get("maxmemory-policy", "")
    if policy.startswith("allkeys"):
        reasons.append(f"maxmemory-policy {policy} may evict the budget under memory pressure (use noeviction)")
    if reasons:
        log.warning(
            "budget.server_may_lose_it",
            server=target.display,
            reasons="; ".join(reasons),
            note="workers refuse to start a lost budget again from $0; see the README on running Redis",
        )


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def format_budget(state: dict[str, Any]) -> str:
    """A shared budget's state as a few readable lines."""
    return "\n".join(
        [
            f"shared budget {state['name']!r}",
            f"  cap        ${state['max_cost_usd']:.4f}",
            f"  spent      ${state['spent_usd']:.4f}  (every worker that named it)",
            f"  in flight  ${state['reserved_usd']:.4f} reserved by {state['reservations_in_flight']} call(s)",
            f"  remaining  ${state['remaining_usd']:.4f}",
        ]
    )
