"""Migration 0015 turns history into a view of the ended jobs: the same entries, one row fewer per job.

Each ended job was copied into history in the transaction that ended it (issue 12, the ledger target: one more row
and two index entries per job). The view must show what the table held, rows from before the migration included,
and its two reads (a member's page, a member's images per day) must go through jobs_history, not the whole table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store import JobState, open_store
from bot.store.migrations import migrations_for
from tests.store.conftest import START, sql_execute
from tests.store.test_migration_0003 import old_job, open_at_version
from tests.store.test_migration_0013 import _WHOLE_TABLE, DAY, _fill, _plan, _sent

if TYPE_CHECKING:
    import pytest

    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock

# (state, cost, result message, error code) of the jobs an older bot ended, and one it has not.
ENDED = {
    "shown": ("delivered", 2, 555, None),
    "refunded": ("failed", 1, None, "task_failed"),
}


async def test_history_shows_what_the_table_held_before_the_migration(
    backend: Backend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = [version for version, _ in migrations_for(backend.name)].index(15)  # the migrations before it
    old = await open_at_version(backend, clock, monkeypatch, before)
    try:
        for job_id, (state, cost, message, code) in ENDED.items():
            await old_job(
                old, job_id, state, cost=cost, result_message_id=message, error_code=code, finished_at=START + 60
            )
            # The copy the older bot made as the job ended: the cost the member paid (nothing when refunded).
            await sql_execute(
                old,
                "INSERT INTO history (job_id, user_id, channel_id, kind, prompt, aspect_ratio, state, cost, "
                "result_message_id, error_code, created_at, finished_at) "
                "SELECT id, user_id, channel_id, kind, prompt, aspect_ratio, state, "
                "CASE WHEN state = 'delivered' THEN cost ELSE 0 END, result_message_id, error_code, created_at, "
                "finished_at FROM jobs WHERE id = ?",
                job_id,
            )
        await old_job(old, "waiting", "queued")
    finally:
        await old.close()

    store = await open_store(backend.url, clock=clock)
    try:
        entries = {e.job_id: e for e in await store.history(1, limit=10)}
        assert sorted(entries) == sorted(ENDED)  # the unfinished job has no history yet
        for job_id, (state, cost, message, code) in ENDED.items():
            entry = entries[job_id]
            paid = cost if state == "delivered" else 0
            assert (entry.state, entry.cost, entry.result_message_id, entry.error_code) == (
                JobState(state),
                paid,
                message,
                code,
            )
            assert (entry.created_at, entry.finished_at) == (START, START + 60)
    finally:
        await store.close()


async def test_history_reads_go_through_jobs_history(
    store: Store, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member's page and their images per day: an index search by member, never a read of every job."""
    await _fill(store, backend)

    async def calls() -> None:
        assert await store.history(3, limit=10)
        assert sum(await store.member_images_per_day(3, [START - 2 * DAY, START - DAY])) > 0

    sent = await _sent(store, calls, monkeypatch, table="history")
    assert len(sent) == 2
    for sql, params in sent:
        plan = await _plan(store, backend, sql, params)
        assert any("jobs_history" in line for line in plan), (sql, plan)
        assert not [line for line in plan if _WHOLE_TABLE.search(line)], (sql, plan)
