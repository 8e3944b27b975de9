"""Turning jobs rows into Job records and back: shared by the SQL store's job and queue halves."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from bot.store.base import Job, JobKind, JobState

if TYPE_CHECKING:
    from bot.store.db import Row

__all__ = ["JOB_COLUMNS", "TERMINAL", "job_from_row", "to_db"]

JOB_COLUMNS = frozenset(f.name for f in fields(Job))
TERMINAL = "('delivered', 'failed')"
_JSON_COLUMNS = frozenset({"image_urls", "sources"})
_BOOL_COLUMNS = ("simulated", "charged", "notice_pending")


def to_db(name: str, value: Any) -> Any:
    """A Job field's value as its column stores it (JSON lists, booleans as 0/1)."""
    if name in _JSON_COLUMNS:
        return json.dumps(list(value))
    if isinstance(value, bool):
        return int(value)
    return value


def job_from_row(row: Row) -> Job:
    """The Job a ``SELECT *`` / ``RETURNING *`` row of the jobs table holds."""
    values = {name: row[name] for name in JOB_COLUMNS}
    values["kind"] = JobKind(values["kind"])
    values["state"] = JobState(values["state"])
    for name in _BOOL_COLUMNS:
        values[name] = bool(values[name])
    for name in _JSON_COLUMNS:
        values[name] = tuple(json.loads(values[name]))
    return Job(**values)
