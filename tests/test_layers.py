"""The tree's layers, checked on the import graph (type-checking imports included).

- ``bot.engine`` never reaches discord, the Discord surface (``bot.surface``), ``cogs`` or the CLI;
- the adapters ``bot.reapi`` and ``bot.store`` import nothing else from the package;
- nothing in ``bot`` imports ``cogs`` (they are loaded by name);
- there is no import cycle between the package's modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SURFACE = ("discord", "bot.surface", "cogs", "bot.cli", "bot.ops")


def _modules(package: str) -> list[str]:
    base = ROOT.joinpath(*package.split("."))
    found = []
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(name: str) -> set[str]:
    """Every module ``name`` imports, at run time or for type checking (``from x import y`` counts y if a module)."""
    path = _module_path(name)
    if path is None:
        return set()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if _module_path(f"{node.module}.{alias.name}")
            )
    return found


def _own(name: str) -> bool:
    return name.split(".")[0] in ("bot", "cogs")


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


def _reachable(start: str) -> dict[str, str]:
    """Every module reachable from ``start`` through the package's own imports, with one importer of each."""
    seen: dict[str, str] = {start: ""}
    todo = [start]
    while todo:
        current = todo.pop()
        for imported in _imports(current):
            if imported not in seen:
                seen[imported] = current
                if _own(imported):
                    todo.append(imported)
    return seen


def test_the_engine_never_reaches_discord_the_surface_or_the_cli() -> None:
    problems = [
        f"{module} reaches {reached} (imported by {importer})"
        for module in _modules("bot.engine")
        for reached, importer in _reachable(module).items()
        if _within(reached, SURFACE)
    ]
    assert problems == []


def test_the_adapters_import_nothing_else_from_the_package() -> None:
    problems = [
        f"{module} imports {imported}"
        for adapter in ("bot.reapi", "bot.store")
        for module in _modules(adapter)
        for imported in _imports(module)
        if _own(imported) and not _within(imported, (adapter,))
    ]
    assert problems == []


def test_nothing_in_the_package_imports_the_cogs() -> None:
    problems = [f"{m} imports {i}" for m in _modules("bot") for i in _imports(m) if _within(i, ("cogs",))]
    assert problems == []


def test_there_is_no_import_cycle() -> None:
    modules = _modules("bot") + _modules("cogs")
    graph = {m: {i for i in _imports(m) if i in modules and i != m} for m in modules}
    # A module's parent package is imported first; it is not an edge of the cycle we care about.
    cycles = []
    for start in modules:
        stack = [(start, [start])]
        for _ in range(100_000):
            if not stack:
                break
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" → ".join([*path, start]))
                elif nxt not in path and len(path) < 12:
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


def test_the_checks_can_fail() -> None:
    # The contract must be able to fail: the notifier does import discord, and the surface imports the engine.
    assert "discord" in _reachable("bot.surface.notifier")
    assert "bot.engine.runner" in _reachable("bot.surface.app")
