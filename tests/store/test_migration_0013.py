"""Migration 0013 makes the three jobs indexes over finished work partial, and every query they serve still uses them.

Each row version of jobs is written into every index whose WHERE it satisfies (issue 12, the ledger target), so a
queued or running job should land in none of jobs_submit_started, jobs_finished and jobs_user_errors. The plan
test fills jobs with a few thousand rows (a month of finished work, a few jobs still unfinished), records the
statements the store really sends for the spend cap, usage, strikes and recent durations, and reads each one's
plan: SQLite's ``EXPLAIN QUERY PLAN``, and PostgreSQL's plain ``EXPLAIN`` after ``ANALYZE`` (its choice on real
statistics, not a plan forced by disabling sequential scans).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.store import SpendLimit
from bot.store.postgres import _PostgresTx
from bot.store.sqlite import SqliteDatabase
from tests.store.conftest import RULES, START, db_of, new_job, sql_all, sql_execute

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import pytest

    from bot.store import Store
    from tests.store.conftest import Backend

DAY = 86_400.0
ROWS = 3000
# The WHERE terms each index must carry (PostgreSQL spells them back with parentheses and casts around them).
PARTIAL = {
    "jobs_submit_started": ("submit_started_at IS NOT NULL",),
    "jobs_finished": ("finished_at IS NOT NULL", "state = 'delivered'"),
    "jobs_user_errors": ("error_code IS NOT NULL",),
}
# Each statement (found by a pattern, values inlined or not) and the indexes its plan must go through.
EXPECTED = {
    r"submit_started_at >= \S+ AND charged = 1": {
        "jobs_claim",
        "jobs_submit_started",
    },  # the spend cap: not yet sent + charged since
    "image_count": {"jobs_finished", "jobs_submit_started"},  # usage: one day's finished and sent jobs
    "GROUP BY user_id": {"jobs_finished"},  # usage: the top members over the days
    r"error_code = 'content_policy'": {"jobs_user_errors"},  # content-policy strikes
    "ORDER BY finished_at DESC": {"jobs_finished"},  # recent durations, newest first
}
# A read of every row: a bare scan (no index at all). Walks of an index are judged by EXPECTED.
_WHOLE_TABLE = re.compile(r"^SCAN (jobs|j)\b(?! USING)|Seq Scan on jobs\b")


async def _definitions(store: Store, backend: Backend) -> dict[str, str]:
    if backend.name == "sqlite":
        sql = "SELECT name, sql AS def FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'"
    else:
        sql = "SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE tablename = 'jobs'"
    return {str(r["name"]): str(r["def"]) for r in await sql_all(store, sql)}


async def test_the_indexes_over_finished_jobs_are_partial(store: Store, backend: Backend) -> None:
    """jobs_submit_started, jobs_finished and jobs_user_errors carry a WHERE that leaves out unfinished jobs."""
    definitions = await _definitions(store, backend)
    for name, terms in PARTIAL.items():
        head, where, predicate = definitions[name].partition(" WHERE ")
        assert where, f"{name} is not partial: {head}"
        for term in terms:
            assert term in predicate, (name, predicate)


async def _fill(store: Store, backend: Backend) -> None:
    """A month of jobs (one every 864 s), members 1-20: delivered, every 50th failed on content policy, every
    100th still queued; then PostgreSQL's statistics, so its planner weighs the real row counts."""
    started = f"CASE WHEN i % 100 = 0 THEN NULL ELSE {START} - {30 * DAY} + i * 864.0 + 1 END"
    await sql_execute(
        store,
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) "
        "INSERT INTO jobs (id, kind, state, user_id, guild_id, channel_id, prompt, aspect_ratio, upload_limit, "
        "scope, cost, created_at, updated_at, submit_started_at, charged, finished_at, error_code) "
        "SELECT 'fill' || i, 'imagine', "
        "CASE WHEN i % 100 = 0 THEN 'queued' WHEN i % 50 = 1 THEN 'failed' ELSE 'delivered' END, "
        f"1 + i % 20, 100, 2, 'p', 'auto', 8000000, 'global', 1, {START} - {30 * DAY} + i * 864.0, "
        f"{START} - {30 * DAY} + i * 864.0, {started}, CASE WHEN i % 100 = 0 THEN 0 ELSE 1 END, "
        f"CASE WHEN i % 100 = 0 THEN NULL ELSE {START} - {30 * DAY} + i * 864.0 + 60 END, "
        "CASE WHEN i % 50 = 1 THEN 'content_policy' ELSE NULL END FROM n",
    )
    await sql_execute(
        store,
        "UPDATE jobs SET submitted_at = submit_started_at + 1, completed_at = finished_at - 1 "
        "WHERE state = 'delivered'",
    )
    if backend.name == "postgres":
        await sql_execute(store, "ANALYZE jobs")


async def _sent(
    store: Store, calls: Callable[[], Awaitable[None]], monkeypatch: pytest.MonkeyPatch, *, table: str = "jobs"
) -> list[tuple[str, tuple[Any, ...]]]:
    """The reads of ``table`` that ``calls`` sends, with their values (SQLite: inlined in the traced text)."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    db = db_of(store)
    if isinstance(db, SqliteDatabase):
        db._conn.set_trace_callback(lambda sql: sent.append((sql, ())))
        try:
            await calls()
        finally:
            db._conn.set_trace_callback(None)
    else:
        for method in ("fetchone", "fetchall"):
            original = getattr(_PostgresTx, method)

            async def record(self: _PostgresTx, sql: str, *params: Any, _original: Any = original) -> Any:
                sent.append((sql, params))
                return await _original(self, sql, *params)

            monkeypatch.setattr(_PostgresTx, method, record)
        try:
            await calls()
        finally:
            monkeypatch.undo()
    return [(sql, params) for sql, params in sent if re.match(r"\s*SELECT\b", sql) and f" {table} " in sql]


async def _plan(store: Store, backend: Backend, sql: str, params: tuple[Any, ...]) -> list[str]:
    if backend.name == "sqlite":
        return [str(r["detail"]) for r in await sql_all(store, "EXPLAIN QUERY PLAN " + sql)]
    return [str(r["QUERY PLAN"]).strip(" ->") for r in await sql_all(store, "EXPLAIN " + sql, *params)]


async def test_the_spend_cap_usage_strikes_and_durations_use_the_partial_indexes(
    store: Store, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement these indexes serve goes through the ones expected, and none reads the whole table."""
    await _fill(store, backend)
    today = START - DAY

    async def calls() -> None:
        await store.create_job(new_job(1), rules=RULES, spend=SpendLimit(since=today, max_millicredits=10**12))
        await store.usage([today])
        await store.usage([today - DAY, today], guild_id=100)
        assert await store.content_policy_strikes(1, 100, since=today - 7 * DAY) >= 0
        assert await store.recent_durations(5)

    sent = await _sent(store, calls, monkeypatch)
    found: dict[str, set[str]] = {}
    for sql, params in sent:
        plan = await _plan(store, backend, sql, params)
        assert not [line for line in plan if _WHOLE_TABLE.search(line)], (sql, plan)
        for fragment, indexes in EXPECTED.items():
            if re.search(fragment, sql):
                used = {name for name in indexes if any(re.search(rf"\b{name}\b", line) for line in plan)}
                found.setdefault(fragment, set()).update(used)
                assert used == indexes, (sql, plan)
    assert set(found) == set(EXPECTED), "a statement the test expects was not sent"
