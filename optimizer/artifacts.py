"""Writing run outputs atomically: a file is either complete or absent, never half-written.

``write_json`` and ``write_text`` also redact (``gateway/redaction.py``): no secret the process knows
of, and nothing shaped like one (a URL's password or token, a credential header), reaches a file.
"""

from __future__ import annotations

import json
import os
import tempfile
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
