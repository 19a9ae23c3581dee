"""What this machine remembers of the shared budgets its workers spent under, so that a lost one is noticed.

A shared budget lives only on its Redis server. If the server loses the record (a restart without
persistence, ``FLUSHDB``, a ``DEL``, eviction under memory pressure), the server cannot say that it
ever existed, and a worker that simply created a budget of that name again would start the spend from
$0. So every worker notes, on its own disk, each budget it opened: which server (host, port,
database; never a password), which namespace and name, the record's ``incarnation`` (a random token
the server's record carries from its creation) and the highest total it saw spent. With a note a
worker never creates the budget: a missing record, or one created afresh by a worker that had no
note, is refused with one line saying how to re-create it with what was spent
(``scripts/ledger.py ... --recreate-spent USD``).

Notes live in ``<cache dir>/budgets/`` (``$HSOPT_CACHE_DIR``, ``--cache-dir``, else ``.cache/llm``):
one small JSON file per (server, namespace, name), replaced atomically. Workers on one machine share
it; a worker on another machine with a cache directory of its own has its own notes.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cache.key import content_hash
from gateway.shared.target import RedisTarget

NOTES_DIR = "budgets"


@dataclass(frozen=True)
class BudgetNote:
    """One budget a worker here opened: the record it joined and the most it saw spent under it."""

    server: str  # host:port/db, no credentials
    namespace: str
    name: str
    incarnation: str
    spent_usd: float


def server_identity(target: RedisTarget) -> str:
    """``host:port/db`` of a Redis URL: which server holds a budget, without its credentials."""
    parts = urlsplit(target.url)
    db = (parts.path or "/0").lstrip("/") or "0"
    return f"{parts.hostname}:{parts.port or 6379}/{db}"


class BudgetNotes:
    """The notes of one cache directory (see the module docstring)."""

    def __init__(self, cache_dir: Path) -> None:
        self.directory = Path(cache_dir) / NOTES_DIR

    def _path(self, target: RedisTarget, name: str) -> Path:
        identity = {"server": server_identity(target), "namespace": target.namespace, "name": name}
        return self.directory / f"{content_hash(identity)[:32]}.json"

    def read(self, target: RedisTarget, name: str) -> BudgetNote | None:
        """The note of budget ``name`` on ``target``; None if no worker here opened it (or the note is unreadable)."""
        try:
            data = json.loads(self._path(target, name).read_text(encoding="utf-8"))
            return BudgetNote(
                server=str(data["server"]),
                namespace=str(data["namespace"]),
                name=str(data["name"]),
                incarnation=str(data["incarnation"]),
                spent_usd=float(data["spent_usd"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remember(self, target: RedisTarget, name: str, incarnation: str, spent_usd: float) -> BudgetNote:
        """Note that ``incarnation`` of the budget was seen with ``spent_usd`` spent (the most seen is kept)."""
        earlier = self.read(target, name)
        if earlier is not None and earlier.incarnation == incarnation:
            spent_usd = max(spent_usd, earlier.spent_usd)
        note = BudgetNote(server_identity(target), target.namespace, name, incarnation, spent_usd)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(target, name)
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".note-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(asdict(note), out, sort_keys=True)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return note
