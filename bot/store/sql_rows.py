"""Turning jobs rows into Job records and back: shared by the SQL store's job and queue halves.

Both run once or twice per job step, so they avoid what is slow per call in CPython: ``sqlite3.Row`` looks a
column up by name with a linear, case-insensitive scan (a 42-column row read by name took ~25 µs), enum
construction and ``dataclasses.fields``. A row is copied into a dict once, by position, and read from that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.store.base import Job, JobKind, JobState, NewJob

if TYPE_CHECKING:
    from bot.store.db import Row

__all__ = ["JOB_COLUMNS", "NEW_JOB_FIELDS", "TERMINAL", "db_params", "job_from_row", "job_values", "to_db"]

_JOB_FIELDS = tuple(f.name for f in fields(Job))  # in declaration order
JOB_COLUMNS = frozenset(_JOB_FIELDS)
NEW_JOB_FIELDS = tuple(f.name for f in fields(NewJob))  # a NewJob's own fields, in declaration order
TERMINAL = "('delivered', 'failed')"
_JSON_COLUMNS = frozenset({"image_urls", "sources"})
_BOOL_COLUMNS = ("simulated", "charged", "notice_pending")
_KINDS = {kind.value: kind for kind in JobKind}
_STATES = {state.value: state for state in JobState}


def to_db(name: str, value: Any) -> Any:
    """A Job field's value as its column stores it (JSON lists, booleans as 0/1)."""
    if name in _JSON_COLUMNS:
        return json.dumps(list(value)) if value else "[]"
    if isinstance(value, bool):
        return int(value)
    return value


@lru_cache(maxsize=16)
def _converted(columns: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    return tuple((n, c) for n, c in enumerate(columns) if c in _JSON_COLUMNS or c in _BOOL_COLUMNS)


def db_params(values: Mapping[str, Any], columns: tuple[str, ...]) -> list[Any]:
    """``values`` of the jobs ``columns``, in order, as the columns store them (``to_db``, where it changes any)."""
    params = [values[c] for c in columns]
    for n, column in _converted(columns):
        params[n] = to_db(column, params[n])
    return params


def job_values(job: NewJob) -> dict[str, Any]:
    """A NewJob's fields as a dict, by name (``dataclasses.fields`` is slow to call per job)."""
    return {name: getattr(job, name) for name in NEW_JOB_FIELDS}


def _as_mapping(row: Row) -> Mapping[str, Any]:
    if isinstance(row, dict):  # before the ABC check below, which is slow
        return row
    keys = getattr(row, "keys", None)
    if keys is None or isinstance(row, Mapping):
        return {name: row[name] for name in _JOB_FIELDS}
    # sqlite3.Row and asyncpg.Record: keys() and iteration, in the same column order.
    return dict(zip(keys(), row, strict=True))  # type: ignore[call-overload]


def job_from_row(row: Row) -> Job:
    """The Job a ``SELECT *`` / ``RETURNING *`` row of the jobs table holds."""
    source = _as_mapping(row)
    values = {name: source[name] for name in _JOB_FIELDS}
    values["kind"] = _KINDS[values["kind"]]
    values["state"] = _STATES[values["state"]]
    for name in _BOOL_COLUMNS:
        values[name] = bool(values[name])
    for name in _JSON_COLUMNS:
        text = values[name]
        values[name] = () if text == "[]" else tuple(json.loads(text))
    return Job(**values)
