"""The layering of docs/architecture.md, checked on the source: arrows point from ``portal`` to the
libraries, never back; ``ocds`` and ``anchoring`` know nothing of each other nor of Flask; and no
module of the three packages imports itself back through others.

Imports are read with ``ast``, at module level and inside functions alike (a function-level
import is still a dependency: it only runs later). ``from package import name`` counts as an
import of ``package.name`` when that is a module, else of ``package``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import ROOT

PACKAGES = ("portal", "ocds", "anchoring")
# What each library must never import (docs/architecture.md, the "never imports" column).
FORBIDDEN = {
    "ocds": ("portal", "anchoring", "flask"),
    "anchoring": ("portal", "ocds", "flask"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module (of any package) that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package holding this module
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                targets.add(submodule if submodule in MODULES else module)
    return targets


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _ours(target: str) -> str | None:
    """The module of ours that importing ``target`` names (``a.b.c`` for ``import a.b.c``)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


GRAPH = {
    name: {t for t in map(_ours, targets) if t is not None and t != name} for name, targets in IMPORTS.items()
}


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


CYCLES = _cycles(GRAPH)


def test_the_packages_are_found():
    assert {"portal.app", "ocds.validate", "anchoring.merkle", "anchoring.chains.evm"} <= set(MODULES)
    assert "anchoring.merkle" in GRAPH["anchoring.log"]


@pytest.mark.parametrize("library", sorted(FORBIDDEN))
def test_libraries_never_import_what_they_must_not_know(library):
    wrong = sorted(
        (name, target)
        for name, targets in IMPORTS.items()
        if name.split(".")[0] == library
        for target in targets
        if target.split(".")[0] in FORBIDDEN[library]
    )
    assert wrong == []


# Proof-critical modules are pure (docs/architecture.md): no file, clock, network or database.
PURE = ("anchoring.canonical", "anchoring.merkle", "anchoring.entries", "anchoring.notes", "anchoring.bundle")
IMPURE = (
    "os",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
    "socket",
    "ssl",
    "http",
    "urllib",
    "time",
    "datetime",
    "sqlite3",
    "sqlalchemy",
    "subprocess",
    "threading",
    "asyncio",
    "requests",
    "web3",
    "anchoring.keyfiles",
    "anchoring.log",
    "anchoring.chains",
    "anchoring.timestamps",
    "anchoring.bundle_network",
)


@pytest.mark.parametrize("module", PURE)
def test_proof_critical_modules_import_no_io(module):
    wrong = sorted(t for t in IMPORTS[module] if any(t == bad or t.startswith(bad + ".") for bad in IMPURE))
    assert wrong == []


def test_no_import_cycle():
    assert [sorted(c) for c in CYCLES] == []


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [frozenset({"a", "b", "c"})]
