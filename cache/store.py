"""Content-hash response cache on diskcache, shared safely by threads and processes.

Each value is the JSON text of ``{"key", "record", "digest"}``: ``record`` is what the gateway stored
(a full response with its usage, or a permanent refusal), and ``digest`` is the SHA-256 of its
canonical JSON. A value whose digest or key does not match is corrupt: it is never returned.
Values are stored as text, never pickled, so a cache directory cannot execute code when read.

``CacheStore`` is the seam the gateway reads and writes through; ``ResponseCache`` (a directory on
this machine) is the default store, and a store on Redis is the one a team shares. Every
store keeps the same key contract (``cache/key.py``) and the same value (``entry_text``/``verify_entry``).
"""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path
from typing import Any, Protocol

import diskcache

from cache.errors import CacheError, CorruptEntry
from cache.key import canonical_json, content_hash

CACHE_DIR_ENV = "HSOPT_CACHE_DIR"
DEFAULT_CACHE_DIR = Path(".cache") / "llm"


class CachePolicy(enum.Enum):
    """How the gateway uses the cache."""

    READ_WRITE = "read-write"  # serve hits, store misses
    REFRESH = "refresh"  # ignore hits, store fresh answers
    OFF = "off"  # neither read nor write
    REPLAY = "replay"  # serve hits only; a miss is an error and no network call is made

    @property
    def reads(self) -> bool:
        return self in (CachePolicy.READ_WRITE, CachePolicy.REPLAY)

    @property
    def writes(self) -> bool:
        return self in (CachePolicy.READ_WRITE, CachePolicy.REFRESH)


def default_cache_dir() -> Path:
    """The cache directory: ``$HSOPT_CACHE_DIR`` if set, else ``.cache/llm`` under the working directory."""
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


class CacheStore(Protocol):
    """Where answers live, under keys from ``cache.key.request_key``."""

    async def lookup(self, key: str) -> dict[str, Any] | None:
        """The stored record for ``key``, None on a miss; raises CorruptEntry if it fails its check."""
        ...

    async def store(self, key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key``; a reader never sees half of it."""
        ...

    def close(self) -> None: ...


def entry_text(key: str, record: dict[str, Any]) -> str:
    """The stored value of ``record`` under ``key``: JSON text carrying the key and the record's digest."""
    return canonical_json({"key": key, "record": record, "digest": content_hash(record)})


class ResponseCache:
    """A disk cache of LLM answers keyed by ``cache.key.request_key``; a ``CacheStore``."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Generous timeout: two processes on one directory wait on SQLite's lock rather than fail.
            self._store = diskcache.Cache(str(self.directory), timeout=60, eviction_policy="none", size_limit=2**40)
        except (OSError, diskcache.core.Timeout) as exc:
            raise CacheError(
                f"cannot use cache directory {self.directory}: {getattr(exc, 'strerror', None) or exc}"
            ) from None

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record for ``key``, None on a miss; raises CorruptEntry if it fails its check."""
        raw = self._store.get(key)
        if raw is None:
            return None
        return verify_entry(key, raw)

    def set(self, key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key`` (atomically, as one SQLite transaction)."""
        self._store.set(key, entry_text(key, record))

    async def lookup(self, key: str) -> dict[str, Any] | None:
        return self.get(key)

    async def store(self, key: str, record: dict[str, Any]) -> None:
        self.set(key, record)

    def delete(self, key: str) -> None:
        self._store.delete(key)

    def __contains__(self, key: str) -> bool:
        return key in self._store

    def __len__(self) -> int:
        return len(self._store)

    def keys(self) -> list[str]:
        return sorted(self._store.iterkeys())

    def raw_set(self, key: str, value: Any) -> None:
        """Write a raw value (tests use it to plant corrupted entries)."""
        self._store.set(key, value)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def verify_entry(key: str, raw: Any) -> dict[str, Any]:
    """The record in a stored value, checked against its key and digest; raises CorruptEntry."""
    if not isinstance(raw, str):
        raise CorruptEntry(key, f"stored value is {type(raw).__name__}, not JSON text")
    try:
        entry = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CorruptEntry(key, f"not valid JSON ({exc.msg})") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("record"), dict):
        raise CorruptEntry(key, "missing record")
    if entry.get("key") != key:
        raise CorruptEntry(key, "stored under another key")
    if entry.get("digest") != content_hash(entry["record"]):
        raise CorruptEntry(key, "digest does not match its content")
    record: dict[str, Any] = entry["record"]
    return record
