"""What the runner records on a job besides its state: charged, the fallback post, pending notices, history codes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from bot.store import JobState, SpendCapExceeded, SpendLimit
from tests.store.conftest import ONE_IMAGE, RULES, START, new_job, sql_all

if TYPE_CHECKING:
    from bot.store import Job, Store
    from tests.store.conftest import FakeClock, StoreFactory

DAY = 86_400.0
TODAY = START - (START % DAY)


async def move(store: Store, job: Job, *path: JobState, **values: object) -> Job:
    """Walk ``job`` through ``path`` (each step from the previous state); ``values`` go with the first step."""
    current = job
    for state in path:
        moved = await store.transition(current.id, from_states=[current.state], to=state, **values)
        assert moved is not None, f"{current.state} → {state}"
        current, values = moved, {}
    return current


async def charged_today(store: Store) -> int:
    """What usage() counts as possibly charged by reAPI today."""
    return (await store.usage([TODAY])).days[0].charged


# -- charged: a stored fact, set when the POST may go out ------------------------------------------------


async def test_a_job_is_charged_from_submitting_on_and_finish_can_clear_it(store: Store, clock: FakeClock) -> None:
    """Queued: not charged. Submitting: charged. finish_job(charged=False) records that reAPI refused the POST."""
    job = await store.create_job(new_job(), rules=RULES)
    assert job.charged is False
    submitting = await move(store, job, JobState.SUBMITTING, submit_started_at=clock.now)
    assert submitting.charged is True
    assert await charged_today(store) == 1
    refused = await store.finish_job(job.id, delivered=False, error_code="reapi_402", charged=False)
    assert refused is not None
    assert refused.charged is False
    assert (await store.get_job(job.id)) == refused
    assert await charged_today(store) == 0


async def test_a_delivering_job_whose_poll_then_fails_still_counts_against_the_cap(
    store: Store, clock: FakeClock
) -> None:
    """Review probe A.2: a 429 on the re-poll of a DELIVERING job does not make reAPI's charge disappear."""
    job = await store.create_job(new_job(), rules=RULES)
    await move(store, job, JobState.SUBMITTING, JobState.RUNNING, JobState.DELIVERING, submit_started_at=clock.now - 30)
    assert await charged_today(store) == 1
    failed = await store.finish_job(job.id, delivered=False, error_code="reapi_unavailable")
    assert failed is not None
    assert failed.charged is True
    assert await charged_today(store) == 1
    with pytest.raises(SpendCapExceeded) as exceeded:
        await store.create_job(new_job(2), rules=RULES, spend=SpendLimit(since=TODAY, max_millicredits=1 * ONE_IMAGE))
    assert (exceeded.value.counted, exceeded.value.cap) == (ONE_IMAGE, ONE_IMAGE)


async def test_a_job_never_sent_is_never_charged(store: Store) -> None:
    """A job cancelled before 'submitting' was never charged."""
    job = await store.create_job(new_job(), rules=RULES)
    failed = await store.finish_job(job.id, delivered=False, error_code="cancelled", only_from=[JobState.QUEUED])
    assert failed is not None
    assert failed.charged is False
    assert await charged_today(store) == 0


# -- the fallback result post and the pending notice -------------------------------------------------------


async def test_a_delivering_job_records_its_fallback_post_step_by_step(store: Store, clock: FakeClock) -> None:
    """post_started_at before the post, result_message_id right after: both by a transition to the same state."""
    job = await store.create_job(new_job(), rules=RULES)
    delivering = await move(store, job, JobState.SUBMITTING, JobState.RUNNING, JobState.DELIVERING)
    assert (delivering.post_started_at, delivering.result_message_id) == (None, None)
    started = await store.transition(
        job.id, from_states=[JobState.DELIVERING], to=JobState.DELIVERING, post_started_at=clock.now
    )
    assert started is not None
    assert (started.state, started.post_started_at) == (JobState.DELIVERING, START)
    posted = await store.transition(
        job.id, from_states=[JobState.DELIVERING], to=JobState.DELIVERING, result_message_id=987
    )
    assert posted is not None
    assert (posted.post_started_at, posted.result_message_id) == (START, 987)
    assert await store.get_job(job.id) == posted
    assert (await store.active_jobs()) == [posted]


async def test_notices_to_show_are_terminal_jobs_marked_at_finish_oldest_first(store: Store, clock: FakeClock) -> None:
    """finish_job(notice_pending=True) leaves a notice to show; clear_notice removes it once shown."""
    first, second, quiet = [await store.create_job(new_job(), rules=RULES) for _ in range(3)]
    assert first.notice_pending is False
    clock.advance(1)
    done = await store.finish_job(second.id, delivered=False, error_code="task_failed", notice_pending=True)
    assert done is not None
    assert done.notice_pending is True
    clock.advance(1)
    await store.finish_job(first.id, delivered=True, notice_pending=True)
    await store.finish_job(quiet.id, delivered=False)
    taken = await store.take_notices(idle=0.0)
    assert [j.id for j in taken] == [second.id, first.id]
    assert all(j.state.is_terminal and j.notice_pending for j in taken)
    await store.clear_notice(second.id)
    await store.clear_notice("no-such-job")
    assert [j.id for j in await store.take_notices(idle=0.0)] == [first.id]
    cleared = await store.get_job(second.id)
    assert cleared is not None
    assert cleared.notice_pending is False


async def test_a_notice_is_taken_once_it_has_been_untouched_for_idle_seconds(store: Store, clock: FakeClock) -> None:
    """The job's end touches it; each take touches it again: a second take within ``idle`` finds nothing."""
    job = await store.create_job(new_job(), rules=RULES)
    await store.finish_job(job.id, delivered=False, error_code="task_failed", notice_pending=True)
    assert await store.take_notices(idle=60) == []  # just ended: its own process is showing it
    clock.advance(61)
    assert [j.id for j in await store.take_notices(idle=60)] == [job.id]
    assert await store.take_notices(idle=60) == []  # taken: another process passes over it now
    clock.advance(30)
    assert await store.take_notices(idle=60) == []
    clock.advance(31)
    assert [j.id for j in await store.take_notices(idle=60)] == [job.id]  # not cleared: taken again
    await store.clear_notice(job.id)
    clock.advance(61)
    assert await store.take_notices(idle=60) == []


async def test_a_notice_touched_by_the_process_showing_it_is_passed_over(store: Store, clock: FakeClock) -> None:
    """touch_notices (the showing process's renewals) keeps a notice from looking left behind; only pending
    notices are touched."""
    shown, quiet = [await store.create_job(new_job(), rules=RULES) for _ in range(2)]
    await store.finish_job(shown.id, delivered=False, error_code="task_failed", notice_pending=True)
    await store.finish_job(quiet.id, delivered=False)
    clock.advance(50)
    await store.touch_notices([shown.id, quiet.id, "no-such-job"])
    await store.touch_notices([])
    clock.advance(50)  # 100 s after the end, 50 after the touch
    assert await store.take_notices(idle=60) == []
    clock.advance(11)
    assert [j.id for j in await store.take_notices(idle=60)] == [shown.id]
    [untouched] = await sql_all(store, "SELECT updated_at, finished_at FROM jobs WHERE id = ?", quiet.id)
    assert untouched["updated_at"] == untouched["finished_at"]  # no notice pending: left as it ended


async def test_simultaneous_takes_never_hand_out_one_notice_twice(
    open_test_store: StoreFactory, clock: FakeClock
) -> None:
    """Eight takes at once (on PostgreSQL each on its own connection): every notice goes to exactly one."""
    stores = [await open_test_store(pool_size=2) for _ in range(4)]
    for _ in range(20):
        job = await stores[0].create_job(new_job(), rules=RULES)
        await stores[0].finish_job(job.id, delivered=False, error_code="task_failed", notice_pending=True)
    clock.advance(61)
    results = await asyncio.gather(*(stores[n % 4].take_notices(idle=60, limit=5) for n in range(8)))
    taken = [job.id for jobs in results for job in jobs]
    assert len(taken) == 20
    assert len(set(taken)) == 20


async def test_a_take_is_bounded_by_age_and_count(store: Store, clock: FakeClock) -> None:
    jobs = [await store.create_job(new_job(), rules=RULES) for _ in range(4)]
    for job in jobs:
        await store.finish_job(job.id, delivered=False, error_code="task_failed", notice_pending=True)
        clock.advance(100)
    # They ended 400, 300, 200 and 100 seconds ago.
    assert [j.id for j in await store.take_notices(idle=0.0, within=250)] == [j.id for j in jobs[2:]]
    assert [j.id for j in await store.take_notices(idle=0.0, limit=3)] == [j.id for j in jobs[:3]]
    assert [j.id for j in await store.take_notices(idle=0.0, limit=None)] == [j.id for j in jobs]


async def test_a_job_still_in_progress_is_never_a_notice_to_show(store: Store) -> None:
    """Only ended jobs have notices to show; a running job flagged by hand does not make one."""
    job = await store.create_job(new_job(), rules=RULES)
    await store.transition(job.id, from_states=[JobState.QUEUED], to=JobState.RUNNING, notice_pending=True)
    assert await store.take_notices(idle=0.0) == []


# -- history keeps the failure code ---------------------------------------------------------------------------


async def test_history_records_the_failure_code(store: Store) -> None:
    """Failed jobs keep their code in history; delivered ones have none."""
    failed, delivered = [await store.create_job(new_job(), rules=RULES) for _ in range(2)]
    await store.finish_job(failed.id, delivered=False, error_code="content_policy", error_message="blocked")
    await store.finish_job(delivered.id, delivered=True)
    codes = {h.job_id: (h.error_code, h.error_message) for h in await store.history(1, limit=10)}
    assert codes == {failed.id: ("content_policy", "blocked"), delivered.id: (None, None)}
