"""Repository-wide habits that no single package owns."""

from __future__ import annotations

import ast
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


# -- ARCHITECTURE.md ---------------------------------------------------------------------------------
# The layers in ARCHITECTURE.md's order: a module may import our packages listed before its own.
LAYERS = ("cache", "gateway", "evaluation", "simulator", "optimizer", "bench", "scripts")
# Imports that reach down the list, each named in ARCHITECTURE.md.
REACHES_DOWN: set[tuple[str, str]] = set()


def imported_packages(path: Path) -> set[str]:
    """Our top-level packages that ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(LAYERS)
    return found


def test_packages_import_only_the_layers_before_them():
    upward = []
    checked = 0
    for rank, package in enumerate(LAYERS):
        for path in sorted((ROOT / package).rglob("*.py")):
            checked += 1
            for imported in imported_packages(path):
                relative = str(path.relative_to(ROOT))
                if LAYERS.index(imported) > rank and (relative, imported) not in REACHES_DOWN:
                    upward.append(f"{relative} imports {imported}")
    assert checked > 50
    assert upward == []
    for relative, imported in REACHES_DOWN:  # an exception that is no longer needed goes from the list
        assert imported in imported_packages(ROOT / relative), relative


def definitions() -> tuple[set[str], set[str], str]:
    """Class names, function names and the whole text of our Python sources."""
    classes: set[str] = set()
    functions: set[str] = set()
    texts = []
    for path in python_files():
        text = path.read_text(encoding="utf-8")
        texts.append(text)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                classes.add(node.name)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.add(node.name)
    return classes, functions, "\n".join(texts)


def test_architecture_names_only_what_exists():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert "ARCHITECTURE.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    classes, functions, sources = definitions()
    named = set(re.findall(r"`([^`\s]+)`", text))
    missing = []
    for name in sorted(named):
        if "/" in name:  # a file or a folder of the checkout, or a pattern of files
            exists = any(ROOT.glob(name)) if "*" in name else (ROOT / name).exists()
        elif re.fullmatch(r"[A-Z][a-z]\w*\.\w+", name):  # Class.method
            owner, member = name.split(".")
            exists = owner in classes and member in functions
        elif re.fullmatch(r"[A-Z][a-z]\w*", name):  # a class
            exists = name in classes
        elif re.fullmatch(r"[a-z_][a-z0-9_]*", name):  # a function (or a phase or field named in sources)
            exists = name in functions or f'"{name}"' in sources
        elif re.fullmatch(r"[A-Z][A-Z0-9_]+", name):  # a constant or an environment variable
            exists = name in sources
        elif re.fullmatch(r"--[a-z-]+|[a-z_]+\.(json|html)", name):  # a flag, a file a run writes
            exists = f'"{name}"' in sources
        else:  # snippets of code and text
            continue
        if not exists:
            missing.append(name)
    assert len(named) > 40  # the page was read
    assert missing == []


def module_imports() -> dict[str, set[str]]:
    """Each of our modules (``gateway.budget.redis``) and the modules of ours it imports, anywhere in it.

    ``from package import name`` counts as importing ``package.name`` where that is a module of ours,
    else ``package`` (its ``__init__``).
    """
    paths = {p: p.relative_to(ROOT).with_suffix("").parts for d in LAYERS for p in (ROOT / d).rglob("*.py")}
    modules = {".".join(parts[:-1] if parts[-1] == "__init__" else parts): p for p, parts in paths.items()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found |= {full} if full in modules else {node.module} & set(modules)
        graph[name] = found - {name}
    return graph


def test_no_two_modules_import_each_other_even_through_others():
    graph = module_imports()
    assert "gateway.budget.redis" in graph and "gateway.shared.conn" in graph["gateway.budget.redis"]
    circles = []
    for start in sorted(graph):  # a circle through ``start``: ``start`` reachable from what it imports
        seen, stack = set(), sorted(graph[start])
        while stack:
            name = stack.pop()
            if name == start:
                circles.append(start)
                break
            if name not in seen:
                seen.add(name)
                stack.extend(sorted(graph[name]))
    assert circles == []


def test_every_package_says_what_it_owns():
    silent = []
    for init in sorted(p for d in LAYERS for p in (ROOT / d).rglob("__init__.py")):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        if not docstring or len(docstring.split()) < 8:
            silent.append(str(init.relative_to(ROOT)))
    assert silent == []
