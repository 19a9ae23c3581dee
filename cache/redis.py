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
is lost: the first failure trips ``SharedCacheHealth`` (one warning) and from then on the run reads
and writes its disk only. An answer paid for is on disk before anything else can fail, so a rerun
repeats no completed call; the key of every answer that did not reach the server is noted in the
disk cache's ``unshared.keys``, and the next run that reaches the server shares those answers before
its first call, so other workers do not pay for them either.
"""

from __future__ import annotations

import os
import re
import zlib
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
    """Whether the shared cache is still in use; the first failure says so once and turns it off."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.lost = False

    def trip(self, exc: BaseException) -> None:
        if self.lost:
            return
        self.lost = True
        log.warning(
            "cache.shared_lost",
            redis=self.where,
            error=type(exc).__name__,
            detail="the shared cache stopped answering: this run now reads and writes its local cache only",
        )


class TieredCache:
    """This machine's disk first, the shared store behind it; local only once the shared one is lost."""

    def __init__(self, local: ResponseCache, shared: RedisCacheStore, health: SharedCacheHealth) -> None:
        self.local = local
        self.shared = shared
        self.health = health
        self.unshared_path = Path(local.directory) / UNSHARED

    async def share_pending(self) -> int:
        """Store in the shared tier the answers an earlier run kept on disk only; returns how many."""
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
                record = self.local.get(key)
            except CorruptEntry:
                continue
            if record is not None:
                await self.store_shared(key, record)
                if not self.health.lost:
                    shared += 1
        taken.unlink()
        return shared

    async def store_shared(self, key: str, record: dict[str, Any]) -> None:
        if self.health.lost:
            self._note_unshared([key])
            return
        try:
            await self.shared.store(key, record)
        except REDIS_ERRORS as exc:
            self.health.trip(exc)
            self._note_unshared([key])

    def _note_unshared(self, keys: list[str]) -> None:
        # One short append per note: concurrent processes on this directory do not interleave lines.
        with self.unshared_path.open("a", encoding="ascii") as notes:
            notes.write("".join(f"{key}\n" for key in keys))

    async def lookup(self, key: str) -> dict[str, Any] | None:
        record = self.local.get(key)
        if record is not None or self.health.lost:
            return record
        try:
            record = await self.shared.lookup(key)
        except REDIS_ERRORS as exc:
            self.health.trip(exc)
            return None
        if record is not None:
            self.local.set(key, record)
        return record

    async def store(self, key: str, record: dict[str, Any]) -> None:
        self.local.set(key, record)  # first: an answer paid for survives whatever happens next
        await self.store_shared(key, record)

    def close(self) -> None:
        self.local.close()
