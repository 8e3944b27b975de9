"""Migration 0012 drops the two jobs indexes another one already serves, and no jobs query walks the whole table.

Every index on jobs is written by each create_job and finish_job (issue 12, the ledger target), so only indexes
some query needs stay. The plan test reads SQLite's own ``EXPLAIN QUERY PLAN`` of the statements the store really
sends (traced on its connection) and fails on a scan of jobs that is not bounded by a partial index: a bare
``SCAN jobs``, or a walk of a full index (every row ever created) such as the claim made over ``jobs_user``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.store import ClaimLimits, QueueLimits, SpendLimit, open_store
from bot.store.sql import SqlStore
from bot.store.sqlite import SqliteDatabase
from tests.store.conftest import RULES, START, new_job, sql_all

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path
    from typing import Any

    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock

DROPPED = {"jobs_active", "jobs_user"}
KEPT = {
    "jobs_claim",
    "jobs_finished",
    "jobs_notice_pending",
    "jobs_queued_user",
    "jobs_submit_started",
    "jobs_user_errors",
    "jobs_history",  # since 0015: history is a view of the ended jobs, read by member
}
# Partial since 0013 (jobs_history: made so by 0015), but they hold every finished job: no bound on a walk.
FINISHED_WORK = {"jobs_finished", "jobs_submit_started", "jobs_user_errors", "jobs_history"}
LIMITS = ClaimLimits(max_running=4, per_user_running=2)
LEASE = 30.0
# The names the store's SQL gives the jobs and history tables (``FROM jobs j``, ``FROM jobs w`` …).
_SCAN = re.compile(r"^SCAN (jobs|j|w|history)\b(?: USING (?:COVERING )?INDEX (\w+))?")


async def _jobs_indexes(store: Store, backend: Backend) -> set[str]:
    if backend.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL"
    else:
        sql = "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'jobs' AND indexname <> 'jobs_pkey'"
    return {str(r["name"]) for r in await sql_all(store, sql)}


async def test_the_redundant_indexes_are_gone_and_the_rest_stay(store: Store, backend: Backend) -> None:
    """After 0012, jobs carries exactly the indexes some query uses (besides its primary key's); on PostgreSQL,
    0017 then drops jobs_queued_user, whose queries walk jobs_claim there."""
    dropped_later = {"jobs_queued_user"} if backend.name == "postgres" else set()
    assert await _jobs_indexes(store, backend) == KEPT - dropped_later


async def _populate(store: Store, clock: FakeClock) -> list[str]:
    """Jobs in every state for a few members: delivered, failed (content policy), claimed, orphaned, waiting."""
    ids = []
    for n in range(24):
        job = await store.create_job(
            new_job(1 + n % 3),
            rules=RULES,
            spend=SpendLimit(since=START - 86_400, max_millicredits=10**12),
            queue=QueueLimits(max_queued=100, per_user_queued=100),
        )
        ids.append(job.id)
        clock.advance(1)
    for job_id in ids[:8]:
        await store.finish_job(job_id, delivered=True)
    for job_id in ids[8:12]:
        await store.finish_job(job_id, delivered=False, error_code="content_policy", error_message="no")
    return ids


async def _bad_scans(store: Store, calls: Callable[[], Awaitable[Any]]) -> dict[str, list[str]]:
    """The statements on jobs/history that ``calls`` sends whose plan walks the whole table, with that plan."""
    assert isinstance(store, SqlStore)
    db = store._db
    assert isinstance(db, SqliteDatabase)
    sent: list[str] = []
    db._conn.set_trace_callback(sent.append)  # the expanded SQL of every statement, values inlined
    try:
        await calls()
    finally:
        db._conn.set_trace_callback(None)
    rows = await sql_all(store, "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    # Partial indexes over a few rows bound a walk; since 0013 the ones over every finished job are partial too,
    # and a walk of those still reads (nearly) every job ever created.
    partial = {str(r["name"]) for r in rows if " WHERE " in str(r["sql"]).upper()} - FINISHED_WORK
    reads = {s for s in sent if re.match(r"\s*(SELECT|UPDATE|WITH)\b", s) and re.search(r"\b(jobs|history)\b", s)}
    assert reads, "the calls sent no statement on jobs"
    bad = {}
    for statement in sorted(reads):
        plan = [str(r["detail"]) for r in await sql_all(store, "EXPLAIN QUERY PLAN " + statement)]
        walks = [line for line in plan if (m := _SCAN.match(line)) and m.group(2) not in partial]
        if walks:
            bad[statement] = plan
    return bad


async def test_no_queue_history_stats_or_notice_query_scans_the_whole_jobs_table(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Claims (waiting and orphaned), leases, the slots held, history, admin stats, strikes and notices on SQLite:
    every read of jobs goes through an index, and a scan only ever walks a partial index (unfinished, queued or
    notice-pending rows), never every job ever created."""
    store = await open_store(f"sqlite:///{tmp_path / 'bot.sqlite3'}", clock=clock)
    try:
        ids = await _populate(store, clock)

        async def calls() -> None:
            taken = await store.claim_many("w1", 3, lease_seconds=LEASE, limits=LIMITS, orphans=True)
            assert taken
            clock.advance(LEASE + 1)  # their leases run out: orphans now
            assert await store.claim_orphan("w2", lease_seconds=LEASE, limits=LIMITS) is None  # still 'queued'
            assert await store.claim_next("w2", lease_seconds=LEASE, limits=LIMITS) is not None
            await store.renew_leases("w2", [j.id for j in taken], lease_seconds=LEASE)
            assert await store.held_slots() == 1
            assert await store.waiting_places()
            assert await store.active_jobs()
            assert await store.member_jobs(1, limit=5)
            await store.take_notices(idle=0.0)
            assert await store.content_policy_strikes(1, 100, since=START) >= 0
            assert await store.content_policy_strikes(1, None, since=START) == 0
            assert await store.history(1, limit=10)
            await store.usage([START, START + 86_400])
            await store.usage([START], guild_id=100)
            assert await store.get_job(ids[-1]) is not None
            await store.finish_job(ids[-1], delivered=True)

        assert await _bad_scans(store, calls) == {}
    finally:
        await store.close()


async def test_recent_durations_reads_the_finished_index_newest_first(tmp_path: Path, clock: FakeClock) -> None:
    """The one walk of a full index: recent_durations goes through jobs_finished from the newest and stops at its
    LIMIT (no sort of every delivered job)."""
    store = await open_store(f"sqlite:///{tmp_path / 'bot.sqlite3'}", clock=clock)
    try:
        await _populate(store, clock)
        assert isinstance(store, SqlStore)
        db = store._db
        assert isinstance(db, SqliteDatabase)
        sent: list[str] = []
        db._conn.set_trace_callback(sent.append)
        try:
            await store.recent_durations(5)
        finally:
            db._conn.set_trace_callback(None)
        [statement] = [s for s in sent if s.startswith("SELECT")]
        plan = [str(r["detail"]) for r in await sql_all(store, "EXPLAIN QUERY PLAN " + statement)]
        assert plan == ["SCAN jobs USING INDEX jobs_finished"], plan
    finally:
        await store.close()
