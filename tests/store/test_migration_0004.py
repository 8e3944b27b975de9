"""Migration 0004 adds the queue's lease columns to a step-4 database, on both backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store import ClaimLimits, JobState, open_store
from tests.store.test_migration_0003 import old_job, open_at_version

if TYPE_CHECKING:
    import pytest

    from tests.store.conftest import Backend, FakeClock

OPEN = ClaimLimits(max_running=10, per_user_running=10)


async def test_existing_jobs_get_no_lease_and_attempt_zero_and_can_be_claimed(
    backend: Backend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows from before step 5 have no claim (attempt 0, no lease): waiting ones and unfinished ones are claimable."""
    old = await open_at_version(backend, clock, monkeypatch, 3)
    try:
        await old_job(old, "q", "queued")
        await old_job(old, "r", "running", task_id="t", charged=1)
        await old_job(old, "d", "delivered", task_id="t", charged=1)
    finally:
        await old.close()
    store = await open_store(backend.url, clock=clock)
    try:
        for job_id in ("q", "r", "d"):
            job = await store.get_job(job_id)
            assert job is not None
            assert (job.claimed_by, job.lease_until, job.attempt) == (None, None, 0)
        assert await store.schema_version() >= 4
        assert await store.held_slots() == 0
        assert await store.waiting_places() == {"q": 1}
        orphan = await store.claim_orphan("w", lease_seconds=30, limits=OPEN)
        assert orphan is not None
        assert (orphan.id, orphan.state, orphan.attempt) == ("r", JobState.RUNNING, 1)
        waiting = await store.claim_next("w", lease_seconds=30, limits=OPEN)
        assert waiting is not None
        assert (waiting.id, waiting.attempt) == ("q", 1)
    finally:
        await store.close()
