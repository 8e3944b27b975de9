"""The engine never reaches discord: checked on the import graph (type-checking imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The engine: everything the job runner needs to decide what happens to a job.
ENGINE = (
    "bot.jobs",
    "bot.steps",
    "bot.queue",
    "bot.ports",
    "bot.failures",
    "bot.progress",
    "bot.images",
    "bot.spend",
    "bot.credits",
    "bot.cooldown",
)
SURFACE = ("discord", "bot.app", "bot.messenger", "bot.views", "bot.intake", "bot.ui", "bot.alerts", "cogs")


def _module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(name: str) -> set[str]:
    """Every module ``name`` imports, at run time or for type checking."""
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


def _reachable(start: str) -> dict[str, str]:
    """Every module reachable from ``start`` through the package's own imports, with one importer of each."""
    seen: dict[str, str] = {start: ""}
    todo = [start]
    while todo:
        current = todo.pop()
        for imported in _imports(current):
            if imported in seen:
                continue
            seen[imported] = current
            if imported.split(".")[0] in ("bot", "cogs"):
                todo.append(imported)
    return seen


def test_no_engine_module_reaches_discord_or_the_discord_surface() -> None:
    problems = []
    for module in ENGINE:
        for reached, importer in _reachable(module).items():
            if any(reached == s or reached.startswith(f"{s}.") for s in SURFACE):
                problems.append(f"{module} reaches {reached} (imported by {importer})")
    assert problems == []


def test_the_checker_sees_a_surface_import() -> None:
    # The check above must be able to fail: the notifier does import discord.
    assert "discord" in _reachable("bot.messenger")
