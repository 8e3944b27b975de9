"""Numbered SQL migrations per backend; the applied version is recorded in the database itself."""

from __future__ import annotations

import re
from importlib import resources

__all__ = ["migrations_for"]

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations_for(backend: str) -> list[tuple[int, str]]:
    """``(version, sql)`` pairs for ``backend`` ("sqlite" or "postgres"), in order."""
    found = []
    for entry in resources.files(__package__).joinpath(backend).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)
