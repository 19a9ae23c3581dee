"""Repository-wide habits that no single package owns."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("cache", "gateway", "evaluation", "optimizer", "simulator", "bench", "scripts", "tests")

SUPPRESSION = re.compile(r"#\s*(noqa|type:\s*ignore)\b(.*)$")
WITH_REASON = {
    "noqa": re.compile(r"^: ?[A-Z]+[0-9]+(, ?[A-Z]+[0-9]+)*\s+(\(|#)\s*\S"),
    "type: ignore": re.compile(r"^\[[a-z-]+(, ?[a-z-]+)*\]\s+#\s*\S"),
}


def python_files() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py"))


def test_every_suppression_names_its_codes_and_a_reason():
    """E.g. ``# noqa: E402  (after the set-up above)``, ``# type: ignore[misc]  # restored after``."""
    files = python_files()
    assert len(files) > 50  # the walk found the tree
    bare = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            found = SUPPRESSION.search(token.string) if token.type == tokenize.COMMENT else None
            if found is None:
                continue
            kind = "noqa" if found.group(1) == "noqa" else "type: ignore"
            if not WITH_REASON[kind].search(found.group(2)):
                bare.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string}")
    assert bare == []
