"""The templates of the texts modules, found by reading their source (so the list cannot go stale)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXTS_MODULES = sorted((ROOT / "bot" / "surface").glob("texts*.py"))


def _strings(node: ast.expr) -> list[str]:
    """The string constants a module-level wording constant holds: itself, a dict's values, a tuple's items."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Dict):
        return [s for v in node.values for s in _strings(v)]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [s for v in node.elts for s in _strings(v)]
    return []


def _is_wording_name(name: str) -> bool:
    return name.lstrip("_").isupper() and name != "__all__"


def templates_in(source: str) -> list[str]:
    """Every template of one texts module: ``_()`` arguments and the module-level wording constants."""
    tree = ast.parse(source)
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and _is_wording_name(t.id) for t in targets):
                found += _strings(node.value)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
            found += [s for arg in node.args for s in _strings(arg)]
    return list(dict.fromkeys(found))


def all_templates() -> list[str]:
    """The templates of every texts module, in file order."""
    return list(dict.fromkeys(t for path in TEXTS_MODULES for t in templates_in(path.read_text())))
