"""Content-hash response cache on diskcache, shared safely by threads and processes.

Each value is the JSON text of ``{"key", "record", "digest"}``: ``record`` is what the gateway stored
(a full response with its usage, or a permanent refusal), and ``digest`` is the SHA-256 of its
canonical JSON. A value whose digest or key does not match is corrupt: it is never returned.
Values are stored as text, never pickled, and a cache directory cannot execute code when read:
diskcache would unpickle a row stored in its pickle mode before any check of ours could run, so
the directory is read through ``TextOnlyDisk``, which reads only text and bytes rows (a pickled
value is a corrupt entry, a pickled key is listed under a placeholder name and never loaded) and
never touches a file outside the directory a tampered row may name.

With shared state (``off_loop=True``), the gateway's reads and writes (``lookup``, ``store``) run on
one thread of the cache's own, never on the event loop: a read or write that waits (SQLite's lock held
by another process writing, a slow disk) must not stop the loop, whose renewers keep leases and budget
reservations alive on the shared server. One thread keeps one SQLite connection (diskcache opens one
per thread) and writes in order. A process on its own has nothing on its loop that a waiting disk
could starve, and a hop to another thread costs about 60 microseconds a call (a replay makes thousands
of lookups), so there they run inline. ``get`` and ``set`` stay synchronous for everyone else.

``CacheStore`` is the seam the gateway reads and writes through; ``ResponseCache`` (a directory on
this machine) is the default store, and a store on Redis is the one a team shares. Every
store keeps the same key contract (``cache/key.py``) and the same value (``entry_text``/``verify_entry``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diskcache

from cache.errors import CacheError, CorruptEntry
from cache.key import canonical_json, content_hash

CACHE_DIR_ENV = "HSOPT_CACHE_DIR"
DEFAULT_CACHE_DIR = Path(".cache") / "llm"


def default_cache_dir() -> Path:
    """The cache directory: ``$HSOPT_CACHE_DIR`` if set, else ``.cache/llm`` under the working directory."""
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


def entry_text(key: str, record: dict[str, Any]) -> str:
    """The stored value of ``record`` under ``key``: JSON text carrying the key and the record's digest."""
    return canonical_json({"key": key, "record": record, "digest": content_hash(record)})


# Listed in place of a key that diskcache stored pickled (no key of ours is): never a request key.
UNREADABLE_KEY = "unreadable-pickled-key:"


class _Refused(Exception):
    """A row that ``TextOnlyDisk`` will not read (never an ``OSError``: diskcache takes that for a miss)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TextOnlyDisk(diskcache.Disk):  # type: ignore[misc]  # diskcache is untyped: its Disk is Any to mypy
    """diskcache's storage of keys and values, minus everything that could run code or leave the directory.

    ``Disk`` unpickles keys and values stored in pickle mode; the cache only ever writes text keys
    and text values, so such a row was written by someone else and is refused unread.
    """

    def get(self, key: Any, raw: bool) -> Any:
        if raw:
            return super().get(key, raw)
        return UNREADABLE_KEY + hashlib.sha256(bytes(key)).hexdigest()[:16]

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode == diskcache.core.MODE_PICKLE:
            raise _Refused("stored as a pickle, which a cache of ours never writes: refused unread")
        if filename is not None and not _inside(filename):
            raise _Refused("names a file outside the cache directory: refused unread")
        return super().fetch(mode, filename, value, read)

    def remove(self, file_path: str) -> None:
        if _inside(file_path):  # a tampered row must not make the cache delete someone else's file
            super().remove(file_path)


def _inside(relative: str) -> bool:
    normal = os.path.normpath(relative)
    return not os.path.isabs(normal) and normal != ".." and not normal.startswith(".." + os.sep)


class ResponseCache:
    """A disk cache of LLM answers keyed by ``cache.key.request_key``; a ``CacheStore``."""

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, off_loop: bool = False) -> None:
        self.off_loop = off_loop  # lookups and stores on the cache's own thread (see the module's docstring)
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Generous timeout: two processes on one directory wait on SQLite's lock rather than fail.
            self._store = diskcache.Cache(
                str(self.directory), timeout=60, eviction_policy="none", size_limit=2**40, disk=TextOnlyDisk
            )
        except (OSError, diskcache.core.Timeout) as exc:
            raise CacheError(
                f"cannot use cache directory {self.directory}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        self._io: concurrent.futures.ThreadPoolExecutor | None = None
        self._io_lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record for ``key``, None on a miss; raises CorruptEntry if it fails its check."""
        if key.startswith(UNREADABLE_KEY):
            raise CorruptEntry(key, "its key was stored as a pickle, which a cache of ours never writes")
        try:
            raw = self._store.get(key)
        except _Refused as exc:
            raise CorruptEntry(key, exc.reason) from None
        if raw is None:
            return None
        return verify_entry(key, raw)

    def set(self, key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key`` (atomically, as one SQLite transaction)."""
        self._store.set(key, entry_text(key, record))

    async def lookup(self, key: str) -> dict[str, Any] | None:
        """``get``; with ``off_loop``, on the cache's thread, so the event loop goes on while the disk answers."""
        if not self.off_loop:
            return self.get(key)
        record: dict[str, Any] | None = await self._off_loop(self.get, key)
        return record

    async def store(self, key: str, record: dict[str, Any]) -> None:
        """``set``; with ``off_loop``, on the cache's thread (it completes even if the caller is cancelled)."""
        if not self.off_loop:
            self.set(key, record)
            return
        await self._off_loop(self.set, key, record)

    async def _off_loop(self, work: Callable[..., Any], *args: Any) -> Any:
        if self._io is None:
            with self._io_lock:
                if self._io is None:
                    self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hsopt-disk-cache")
        return await asyncio.get_running_loop().run_in_executor(self._io, work, *args)

    def delete(self, key: str) -> None:
        self._store.delete(key)

    def __contains__(self, key: str) -> bool:
        return key in self._store

    def __len__(self) -> int:
        return len(self._store)

    def keys(self) -> list[str]:
        return sorted(self._store.iterkeys())

    def raw_set(self, key: str, value: Any) -> None:
        """Write a raw value as diskcache stores it (tests use it to plant corrupted entries)."""
        self._store.set(key, value)

    def close(self) -> None:
        io, self._io = self._io, None
        if io is not None:
            io.submit(self._store.close).result()  # the cache thread's own connection
            io.shutdown()
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
