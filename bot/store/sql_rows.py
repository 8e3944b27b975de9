"""Turning jobs rows into Job records and back: shared by the SQL store's job and queue halves.

Both run once or twice per job step, so they avoid what is slow per call in CPython: ``sqlite3.Row`` looks a
column up by name with a linear, case-insensitive scan (a 42-column row read by name took ~25 µs), enum
construction and ``dataclasses.fields``. A row's values are taken by position, in one C call, into the order of
Job's fields; a Job is then made by setting its slots directly (``Job(**values)`` parses 42 keyword arguments
and calls ``object.__setattr__`` per field: about twice the time, twice per reserve+settle pair).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, fields
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, cast

from bot.store.jobs import Job, JobKind, JobState, NewJob

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.store.db import Row

__all__ = [
    "JOB_COLUMNS",
    "NEW_JOB_COLUMNS",
    "NEW_JOB_FIELDS",
    "TERMINAL",
    "job_from_row",
    "new_job_params",
    "queued_job",
    "to_db",
]

_JOB_FIELDS = tuple(f.name for f in fields(Job))  # in declaration order
JOB_COLUMNS = frozenset(_JOB_FIELDS)
NEW_JOB_FIELDS = tuple(f.name for f in fields(NewJob))  # a NewJob's own fields, in declaration order
TERMINAL = "('delivered', 'failed')"
_JSON_COLUMNS = frozenset({"image_urls", "sources"})
_BOOL_COLUMNS = ("simulated", "charged", "notice_pending", "result_ephemeral")
_KINDS = {kind.value: kind for kind in JobKind}
_STATES = {state.value: state for state in JobState}
_KIND_AT, _STATE_AT = _JOB_FIELDS.index("kind"), _JOB_FIELDS.index("state")
_BOOLS_AT = tuple(_JOB_FIELDS.index(name) for name in _BOOL_COLUMNS)
_JSON_AT = tuple(_JOB_FIELDS.index(name) for name in sorted(_JSON_COLUMNS))
# Each field's slot descriptor, in field order: a Job is made by setting these (see _job_of).
_SLOT_SETTERS = tuple(getattr(Job, name).__set__ for name in _JOB_FIELDS)
# _job_of skips Job.__init__: that is only sound while __init__ does nothing but store the fields.
assert not hasattr(Job, "__post_init__"), "_job_of would skip Job.__post_init__"
_NEW_JOB_VALUES = attrgetter(*NEW_JOB_FIELDS)  # a NewJob's field values as a tuple, in one C call
# A queued job's fields after its NewJob's: each default, with id, state and created_at to be filled in.
assert all(f.default_factory is MISSING for f in fields(Job)), "_QUEUED_TAIL would miss a default_factory"
_QUEUED_TAIL = tuple(
    None if f.default is MISSING else f.default for f in fields(Job) if f.name not in frozenset(NEW_JOB_FIELDS)
)
# The columns create_job writes, in the order of new_job_params: the NewJob's own, then those the store sets.
NEW_JOB_COLUMNS = (*NEW_JOB_FIELDS, "id", "state", "created_at", "updated_at")
_NEW_KIND_AT, _NEW_COST_AT = NEW_JOB_COLUMNS.index("kind"), NEW_JOB_COLUMNS.index("cost")
_ID_AT, _CREATED_AT = _JOB_FIELDS.index("id"), _JOB_FIELDS.index("created_at")
_COST_AT, _IMAGE_URLS_AT = _JOB_FIELDS.index("cost"), _JOB_FIELDS.index("image_urls")
_SOURCES_AT, _SIMULATED_AT = _JOB_FIELDS.index("sources"), _JOB_FIELDS.index("simulated")


def to_db(name: str, value: Any) -> Any:
    """A Job field's value as its column stores it (JSON lists, booleans as 0/1)."""
    if name in _JSON_COLUMNS:
        return json.dumps(list(value)) if value else "[]"
    if isinstance(value, bool):
        return int(value)
    return value


# The columns of NEW_JOB_COLUMNS whose values to_db changes (JSON lists, booleans), with their positions.
_NEW_CONVERTED = tuple((n, c) for n, c in enumerate(NEW_JOB_COLUMNS) if c in _JSON_COLUMNS or c in _BOOL_COLUMNS)


def new_job_params(job: NewJob, *, job_id: str, cost: int, now: float) -> list[Any]:
    """The values of ``NEW_JOB_COLUMNS`` for a new queued job, as the columns store them (one tuple, no dict)."""
    params = [*_NEW_JOB_VALUES(job), job_id, JobState.QUEUED.value, now, now]
    params[_NEW_KIND_AT], params[_NEW_COST_AT] = job.kind.value, cost
    for n, column in _NEW_CONVERTED:
        params[n] = to_db(column, params[n])
    return params


@lru_cache(maxsize=16)
def _in_field_order(columns: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """Takes the values of Job's fields, in field order, out of a row with ``columns`` (by position)."""
    return itemgetter(*(columns.index(name) for name in _JOB_FIELDS))


# Per row type: whether its values are read by position (sqlite3.Row, asyncpg.Record: keys() in column order) or
# by name (a mapping). Decided once per type: the Mapping check is an ABC's, a Python call per row otherwise.
_BY_POSITION: dict[type, bool] = {}


def _field_values(row: Row) -> list[Any]:
    by_position = _BY_POSITION.get(type(row))
    if by_position is None:
        by_position = hasattr(row, "keys") and not isinstance(row, Mapping)
        _BY_POSITION[type(row)] = by_position
    if by_position:
        return list(_in_field_order(tuple(cast("Any", row).keys()))(row))
    return [row[name] for name in _JOB_FIELDS]


def _job_of(values: list[Any]) -> Job:
    """The Job with these field values (in field order, already of their field types), without Job.__init__."""
    job: Job = object.__new__(Job)
    for set_slot, value in zip(_SLOT_SETTERS, values, strict=True):
        set_slot(job, value)
    return job


def job_from_row(row: Row) -> Job:
    """The Job a ``SELECT *`` / ``RETURNING *`` row of the jobs table holds."""
    values = _field_values(row)
    values[_KIND_AT] = _KINDS[values[_KIND_AT]]
    values[_STATE_AT] = _STATES[values[_STATE_AT]]
    for n in _BOOLS_AT:
        values[n] = bool(values[n])
    for n in _JSON_AT:
        text = values[n]
        values[n] = () if text == "[]" else tuple(json.loads(text))
    return _job_of(values)


def queued_job(job: NewJob, *, job_id: str, cost: int, created_at: float) -> Job:
    """The Job that create_job inserts for ``job``, as a read of its row would return it (the rest: defaults)."""
    values = [*_NEW_JOB_VALUES(job), *_QUEUED_TAIL]
    values[_ID_AT], values[_STATE_AT], values[_CREATED_AT], values[_COST_AT] = job_id, JobState.QUEUED, created_at, cost
    values[_IMAGE_URLS_AT], values[_SOURCES_AT] = tuple(job.image_urls), tuple(job.sources)
    values[_SIMULATED_AT] = bool(job.simulated)
    return _job_of(values)
