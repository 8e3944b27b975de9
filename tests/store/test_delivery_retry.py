"""A delivery Discord put off (429, 5xx) is stored on the job, which stays delivering: migration 0005, both backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store import JobState, open_store
from tests.store.conftest import RULES, START, new_job
from tests.store.test_job_bookkeeping import move
from tests.store.test_migration_0003 import old_job, open_at_version

if TYPE_CHECKING:
    import pytest

    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock


async def test_a_put_off_delivery_is_recorded_and_the_job_stays_delivering(store: Store) -> None:
    job = await store.create_job(new_job(), rules=RULES)
    delivering = await move(store, job, JobState.SUBMITTING, JobState.RUNNING, JobState.DELIVERING)
    assert (delivering.delivery_attempts, delivering.delivery_retry_at) == (0, None)

    first = await store.record_delivery_retry(job.id, attempts=1, retry_at=START + 2)
    assert first is not None
    assert (first.state, first.delivery_attempts, first.delivery_retry_at) == (JobState.DELIVERING, 1, START + 2)
    second = await store.record_delivery_retry(job.id, attempts=2, retry_at=START + 6.5)
    assert second is not None
    assert await store.get_job(job.id) == second
    assert (second.delivery_attempts, second.delivery_retry_at) == (2, START + 6.5)
    assert await store.active_jobs() == [second]  # a restart resumes it


async def test_only_a_delivering_job_records_a_put_off_delivery(store: Store) -> None:
    job = await store.create_job(new_job(), rules=RULES)
    running = await move(store, job, JobState.SUBMITTING, JobState.RUNNING)
    assert await store.record_delivery_retry(running.id, attempts=1, retry_at=START) is None
    delivering = await move(store, running, JobState.DELIVERING)
    finished = await store.finish_job(delivering.id, delivered=False, error_code="discord")
    assert finished is not None
    assert await store.record_delivery_retry(job.id, attempts=1, retry_at=START) is None
    after = await store.get_job(job.id)
    assert after is not None
    assert (after.state, after.delivery_attempts) == (JobState.FAILED, 0)


async def test_migration_0005_gives_existing_jobs_no_put_off_delivery(
    backend: Backend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = await open_at_version(backend, clock, monkeypatch, 4)
    try:
        await old_job(old, "d", "delivering", task_id="t", charged=1)
    finally:
        await old.close()
    store = await open_store(backend.url, clock=clock)
    try:
        job = await store.get_job("d")
        assert job is not None
        assert (job.state, job.delivery_attempts, job.delivery_retry_at) == (JobState.DELIVERING, 0, None)
        moved = await store.record_delivery_retry("d", attempts=1, retry_at=START + 1)
        assert moved is not None
        assert moved.delivery_attempts == 1
        assert await store.schema_version() >= 5
    finally:
        await store.close()
