"""Writing run outputs atomically: a file is either complete or absent, never half-written.

``write_json`` and ``write_text`` also redact (``gateway/redaction.py``): no secret the process knows
of, and nothing shaped like one (a URL's password or token, a credential header), reaches a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.redaction import redact, redact_text


def write_atomically(path: Path, writer: Callable[[Path], object]) -> None:
    """Have ``writer`` fill a temporary file beside ``path``, fsync it, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON, redacted, atomically."""
    text = json.dumps(redact(data), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (a report page), redacted, atomically."""
    cleaned = redact_text(text)
    write_atomically(path, lambda tmp: tmp.write_text(cleaned, encoding="utf-8"))


def point_latest(runs_dir: Path, run_dir: Path) -> None:
    """Make ``runs/latest`` a symlink to ``run_dir``, replaced atomically."""
    link = runs_dir / "latest"
    tmp = runs_dir / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(run_dir.name, tmp)
    os.replace(tmp, link)


SWEEP_ID_FILE = "sweep_id"


def sweep_identity(sweep_dir: Path) -> str:
    """The identity of the sweep in ``sweep_dir``: made once, when the sweep's directory is first used,
    and kept in ``sweep_dir/sweep_id``, so a resumed sweep and every shard of it (processes on any
    machine sharing the directory) read the same one, and two sweeps never do, whatever their names."""
    path = sweep_dir / SWEEP_ID_FILE
    try:
        return _read_identity(path)
    except FileNotFoundError:
        pass
    sweep_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{SWEEP_ID_FILE}.", suffix=".tmp", dir=sweep_dir)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(uuid.uuid4().hex + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # A hard link is created whole or not at all, and never over an existing file: of shards starting
        # together, one makes the identity and the others read it.
        with contextlib.suppress(FileExistsError):
            os.link(tmp_name, path)
    finally:
        os.unlink(tmp_name)
    return _read_identity(path)


def _read_identity(path: Path) -> str:
    text = path.read_text(encoding="ascii").strip()
    if not text:
        raise ValueError(f"{path} is empty: delete it and the sweep gets a new identity")
    return text
