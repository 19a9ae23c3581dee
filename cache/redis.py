"""The response cache a team shares, on Redis, with this machine's disk cache in front of it.

``RedisCacheStore`` keeps the key contract (``cache/key.py``) and the value of the disk store
(``entry_text``: the JSON text of the record with its key and digest), under
``<prefix>:cache:<request key>``, with no expiry. A value is text or, when the writer compresses,
``z1:`` followed by zlib-compressed text; readers take both, whatever they write. Nothing is ever
unpickled: a shared server must not be able to run code in a reader, and a value that fails its
check (bad text, wrong key, wrong digest, a decompressed size over ``MAX_VALUE_BYTES``) is corrupt,
never served.

``TieredCache`` reads this machine's ``ResponseCache`` first and the shared store on a miss (copying
a shared hit to disk), and writes both. The disk tier is also what keeps a run going when the server
is lost: the first failure trips ``SharedCacheHealth`` (one warning), the run reads and writes its
disk only, and the server is tried again with backoff until it answers (one line), when the answers
kept on disk meanwhile are shared. An answer paid for is on disk before anything else can fail, so a rerun
repeats no completed call; the key of every answer that did not reach the server is noted in the
disk cache's ``unshared.keys``, and the next run that reaches the server shares those answers before
its first call, so other workers do not pay for them either.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
import structlog

from cache.disk import ResponseCache, entry_text, verify_entry
from cache.errors import CorruptEntry

log = structlog.get_logger("cache")

COMPRESSED = b"z1:"
MAX_VALUE_BYTES = 64 * 2**20
# Below this a value is stored as plain text even when compressing: zlib would save little.
COMPRESS_MIN_BYTES = 512
# Everything a Redis command can fail with when the server is gone, slow or refusing us (the gateway's
# shared state catches the same).
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
UNSHARED = "unshared.keys"
_KEY = re.compile(r"^v\d+:[0-9a-f]{64}$")


def encode_value(key: str, record: dict[str, Any], *, compress: bool) -> bytes:
    """The stored bytes of ``record`` under ``key``."""
    text = entry_text(key, record).encode("utf-8")
    if compress and len(text) >= COMPRESS_MIN_BYTES:
        return COMPRESSED + zlib.compress(text, 6)
    return text


def decode_value(key: str, raw: bytes) -> dict[str, Any]:
    """The record in stored bytes; raises ``CorruptEntry`` for anything but a checked entry."""
    if raw.startswith(COMPRESSED):
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(raw[len(COMPRESSED) :], MAX_VALUE_BYTES)
        except zlib.error as exc:
            raise CorruptEntry(key, f"bad compressed value ({exc})") from None
        if inflater.unconsumed_tail or not inflater.eof:
            raise CorruptEntry(key, f"compressed value truncated or larger than {MAX_VALUE_BYTES} bytes")
        raw = data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptEntry(key, "stored value is not UTF-8 text") from None
    return verify_entry(key, text)


class RedisCacheStore:
    """A ``CacheStore`` on Redis; the client belongs to whoever made it (it is not closed here)."""

    def __init__(self, client: aioredis.Redis, prefix: str, *, compress: bool = True) -> None:
        self.client = client
        self.prefix = f"{prefix}:cache:"
        self.compress = compress

    def redis_key(self, key: str) -> str:
        return self.prefix + key

    async def lookup(self, key: str) -> dict[str, Any] | None:
        raw = await self.client.get(self.redis_key(key))
        if raw is None:
            return None
        return decode_value(key, raw if isinstance(raw, bytes) else str(raw).encode("utf-8"))

    async def store(self, key: str, record: dict[str, Any]) -> None:
        await self.client.set(self.redis_key(key), encode_value(key, record, compress=self.compress))

    def close(self) -> None:
        pass


class SharedCacheHealth:
    """Whether the shared cache is in use: a failure turns it off (one warning), and it comes back.

    Once lost, the shared tier is tried again, by one operation at a time (``in_use`` lets one through
    when the wait is over), after ``first_retry_s`` and then twice as long after each failed try, up to
    ``max_retry_s``; the first try that succeeds turns it on again (one line). ``clock`` is injectable.
    """

    def __init__(
        self,
        where: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        first_retry_s: float = 1.0,
        max_retry_s: float = 60.0,
    ) -> None:
        self.where = where
        self.lost = False
        self.losses = 0  # times the shared cache was lost, for reports and tests
        self.recoveries = 0
        self.tries = 0  # operations let through to try a lost server again
        self._clock = clock
        self._first_retry_s = first_retry_s
        self._max_retry_s = max_retry_s
        self._wait_s = first_retry_s
        self._retry_at = 0.0
        self._trying = False  # an operation was let through to try the server again
        self.on_recovery: list[Callable[[], None]] = []  # called (on the event loop) when it answers again

    def in_use(self) -> bool:
        """Whether to use the shared tier now: always while it answers; once lost, one try per wait."""
        if not self.lost:
            return True
        now = self._clock()
        if now < self._retry_at:
            return False
        self._retry_at = now + self._wait_s  # the next try, if this one never reports back
        self._trying = True
        self.tries += 1
        return True

    def trip(self, exc: BaseException) -> None:
        """A shared operation failed: turn the shared tier off (the first time, with one warning)."""
        if self.lost:
            if self._trying:  # the try failed: wait longer before the next
                self._trying = False
                self._wait_s = min(self._max_retry_s, self._wait_s * 2)
                self._retry_at = self._clock() + self._wait_s
            return
        self.lost = True
        self.losses += 1
        self._trying = False
        self._wait_s = self._first_retry_s
        self._retry_at = self._clock() + self._wait_s
        log.warning(
            "cache.shared_lost",
            redis=self.where,
            error=type(exc).__name__,
            detail="the shared cache stopped answering: this run reads and writes its local cache only "
            "until it answers again (tried again with backoff)",
        )

    def succeeded(self) -> bool:
        """A shared operation succeeded; returns True if that turned the shared tier on again."""
        if not (self.lost and self._trying):  # (a success begun before the loss proves nothing)
            return False
        self.lost = False
        self._trying = False
        self._wait_s = self._first_retry_s
        self.recoveries += 1
        log.info("cache.shared_recovered", redis=self.where, detail="the shared cache answers again")
        for listener in self.on_recovery:
            listener()
        return True


class TieredCache:
    """This machine's disk first, the shared store behind it; local only while the shared one is lost."""

    def __init__(self, local: ResponseCache, shared: RedisCacheStore, health: SharedCacheHealth) -> None:
        self.local = local
        self.shared = shared
        self.health = health
        self.unshared_path = Path(local.directory) / UNSHARED
        self._sharing: asyncio.Task[int] | None = None  # sharing what was kept local while lost
        health.on_recovery.append(self._share_kept)

    async def share_pending(self) -> int:
        """Store in the shared tier the answers kept on disk only (by an earlier run, or while the
        server was lost); returns how many."""
        try:
            taken = self.unshared_path.with_name(f"{UNSHARED}.{os.getpid()}")
            self.unshared_path.rename(taken)  # later notes go to a new file while these are shared
        except FileNotFoundError:
            return 0
        keys = sorted(
            {line.strip() for line in taken.read_text(errors="replace").splitlines() if _KEY.match(line.strip())}
        )
        shared = 0
        for i, key in enumerate(keys):
            if self.health.lost:
                self._note_unshared(keys[i:])
                break
            try:
                record = await self.local.lookup(key)
            except CorruptEntry:
                continue
            if record is not None:
                await self.store_shared(key, record)
                if not self.health.lost:
                    shared += 1
        taken.unlink()
        return shared

    async def store_shared(self, key: str, record: dict[str, Any]) -> None:
        if not self.health.in_use():
            self._note_unshared([key])
            return
        try:
            await self.shared.store(key, record)
        except REDIS_ERRORS as exc:
            self.health.trip(exc)
            self._note_unshared([key])
            return
        self.health.succeeded()

    def _note_unshared(self, keys: list[str]) -> None:
        # One short append per note: concurrent processes on this directory do not interleave lines.
        with self.unshared_path.open("a", encoding="ascii") as notes:
            notes.write("".join(f"{key}\n" for key in keys))

    def _share_kept(self) -> None:
        # The server is back: what was kept local meanwhile is shared, beside the calls (not before them).
        if self._sharing is None or self._sharing.done():
            self._sharing = asyncio.ensure_future(self.share_pending())
            self._sharing.add_done_callback(_read_outcome)

    async def lookup(self, key: str) -> dict[str, Any] | None:
        record = await self.local.lookup(key)
        if record is not None or not self.health.in_use():
            return record
        try:
            record = await self.shared.lookup(key)
        except REDIS_ERRORS as exc:
            self.health.trip(exc)
            return None
        self.health.succeeded()
        if record is not None:
            await self.local.store(key, record)
        return record

    async def store(self, key: str, record: dict[str, Any]) -> None:
        await self.local.store(key, record)  # first: an answer paid for survives whatever happens next
        await self.store_shared(key, record)

    async def drain(self) -> None:
        """Wait for the sharing started by a recovery, if any (tests, and a clean close)."""
        if self._sharing is not None:
            await asyncio.gather(self._sharing, return_exceptions=True)

    def close(self) -> None:
        self.local.close()


def _read_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a failure was noted by the health already; read so asyncio does not report it
