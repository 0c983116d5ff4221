"""The shape of the code, kept by tests: imports point one way, modules stay readable.

A newcomer reads the architecture from the folder tree; these checks keep the tree honest as
features land (a trigger that grows a second job, a ledger module that calls back up into the
reset domain, a file nobody can hold in their head).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400

# Top to bottom: a module may import its own layer or any layer below, never one above.
LAYERS: list[tuple[str, ...]] = [
    ("shared.triggers",),
    ("shared.cleanup", "shared.sweep"),
    ("shared.reset",),
    (
        "shared.guards",
        "shared.audit",
        "shared.signing",
        "shared.connector",
        "shared.notify",
        "shared.verify",
    ),
    ("shared.ledger", "shared.graph"),
    (
        "shared.problems",
        "shared.identity",
        "shared.clock",
        "shared.settings",
        "shared.models",
        "shared.keyring",
    ),
]


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def _imports(path: Path, package: str, modules: dict[str, Path]) -> set[str]:
    """The package's own modules that ``path`` imports (``from a import b`` counts as ``a.b``
    when ``a.b`` is a module)."""
    found: set[str] = set()
    this = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == package)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = this.rsplit(".", node.level)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module.split(".")[0] != package:
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in modules else module)
    return found


def _layer(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def test_shared_imports_point_down() -> None:
    modules = _modules("shared")
    upward = [
        f"{module} imports {target}"
        for module, path in modules.items()
        if module != "shared"
        for target in _imports(path, "shared", modules)
        if target != "shared" and _layer(target) < _layer(module)
    ]
    assert upward == []


def _cycles(package: str) -> list[list[str]]:
    """Import cycles between modules, package ``__init__`` re-exports left out."""
    modules = _modules(package)
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}
    graph = {
        m: {t for t in _imports(p, package, modules) if t not in packages and t != m}
        for m, p in modules.items()
        if m not in packages
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return cycles


@pytest.mark.parametrize("package", ["shared", "emulator"])
def test_no_import_cycles(package: str) -> None:
    assert _cycles(package) == []


@pytest.mark.parametrize("package", ["shared", "emulator"])
def test_every_module_is_short_and_says_why_it_exists(package: str) -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in _modules(package).values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    undocumented = [
        str(path.relative_to(ROOT))
        for path in _modules(package).values()
        if not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert too_long == {}
    assert undocumented == []


def test_the_checks_see_a_violation() -> None:
    """The layer rule is not vacuous: a trigger import from the ledger would be upward."""
    assert _layer("shared.triggers.http") < _layer("shared.ledger.store")
    assert _layer("shared.models.request") == len(LAYERS) - 1
    modules = _modules("shared")
    assert "shared.ledger.admission" in _imports(
        ROOT / "shared" / "ledger" / "client.py", "shared", modules
    )
