"""LeftNotices: failure notices settled but never shown are shown by whichever process is alive, once.

The cluster case that made it: a process refunds a job, is stopped (or killed) before the Discord edit that says
so, and never comes back. The notice is pending in the database; another live process must show it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from bot.engine.failures import FailureCode, JobFailure
from bot.engine.notices import PER_LOOK, RETRY_WINDOW, LeftNotices
from bot.reapi import BadRequest
from bot.store import JobState
from tests.engine.fakes import FakeClock, FakeStore
from tests.engine.test_runner import _stop_runners, make_rig, stored_job  # noqa: F401 (the fixture stops every runner)

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from bot.store import Job
    from tests.engine.test_runner import Rig

PATIENCE = 60.0


class Shown:
    """A notifier's ``tell`` and a runner's ``spawn``, recording what was shown."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, FailureCode]] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def tell(self, job: Job, failure: JobFailure) -> None:
        self.jobs.append((job.id, failure.code))

    def spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        self.tasks.append(asyncio.create_task(run()))

    async def done(self) -> None:
        await asyncio.gather(*self.tasks)


def left_failure(clock: FakeClock, job_id: str, *, ended_ago: float = 0.0) -> Job:
    return stored_job(
        clock,
        JobState.FAILED,
        id=job_id,
        error_code=FailureCode.INTERRUPTED_SUBMIT.value,
        finished_at=clock.now - ended_ago,
        notice_pending=True,
    )


def notices(store: FakeStore, shown: Shown, *, busy: frozenset[str] = frozenset()) -> LeftNotices:
    return LeftNotices(
        store=store, tell=shown.tell, spawn=shown.spawn, busy=busy.__contains__, patience=PATIENCE, every=1.0
    )


async def test_a_notice_is_left_to_its_own_process_for_the_patience_then_shown_by_another() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(left_failure(clock, "a1"))
    shown = Shown()
    other = notices(store, shown)

    assert await other.show() == 0  # just refunded: its own process is telling the member now
    clock.now += PATIENCE + 1
    assert await other.show() == 1
    await shown.done()
    assert shown.jobs == [("a1", FailureCode.INTERRUPTED_SUBMIT)]  # told why, from what the row stored


async def test_two_live_processes_never_show_the_same_left_notice() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(left_failure(clock, "a1", ended_ago=PATIENCE + 1))
    first, second = Shown(), Shown()
    assert await notices(store, first).show() == 1
    assert await notices(store, second).show() == 0  # the first one's take touched it
    await first.done()
    assert [job_id for job_id, _ in first.jobs] == ["a1"]
    assert second.jobs == []


async def test_a_notice_not_cleared_is_taken_again_only_after_another_patience() -> None:
    # A refusal (or a process that died mid-edit) leaves it pending: it is retried, but not at every look.
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(left_failure(clock, "a1", ended_ago=PATIENCE + 1))
    shown = Shown()
    sweep = notices(store, shown)
    assert await sweep.show() == 1
    await shown.done()
    clock.now += PATIENCE / 2
    assert await sweep.show() == 0
    clock.now += PATIENCE / 2 + 1
    assert await sweep.show() == 1
    await shown.done()
    assert [job_id for job_id, _ in shown.jobs] == ["a1", "a1"]


async def test_a_notice_refused_for_the_whole_retry_window_is_left_for_a_restart() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(left_failure(clock, "old", ended_ago=RETRY_WINDOW + 1))
    store.add(left_failure(clock, "new", ended_ago=PATIENCE + 1))
    shown = Shown()
    assert await notices(store, shown).show() == 1
    await shown.done()
    assert [job_id for job_id, _ in shown.jobs] == ["new"]
    assert await notices(store, shown).show(idle=0.0, within=None) == 2  # a restart shows every one, however old


async def test_a_notice_this_process_is_still_working_on_is_not_shown_twice() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(left_failure(clock, "mine", ended_ago=PATIENCE + 1))
    store.add(left_failure(clock, "left", ended_ago=PATIENCE + 1))
    shown = Shown()
    assert await notices(store, shown, busy=frozenset({"mine"})).show() == 1  # its own task tells "mine"
    await shown.done()
    assert [job_id for job_id, _ in shown.jobs] == ["left"]


async def test_a_notice_still_being_shown_by_an_earlier_look_is_not_shown_again() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(left_failure(clock, "a1", ended_ago=PATIENCE + 1))
    gate = asyncio.Event()
    calls: list[str] = []

    async def slow_tell(job: Job, failure: JobFailure) -> None:
        calls.append(job.id)
        await gate.wait()

    shown = Shown()
    sweep = LeftNotices(
        store=store, tell=slow_tell, spawn=shown.spawn, busy=lambda _: False, patience=PATIENCE, every=1.0
    )
    assert await sweep.show() == 1
    clock.now += PATIENCE + 1  # Discord is slow: the first edit is still on its way after another patience
    assert await sweep.show() == 0
    gate.set()
    await shown.done()
    assert calls == ["a1"]


async def test_the_loop_keeps_looking_after_the_store_fails_once() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(left_failure(clock, "a1", ended_ago=PATIENCE + 1))
    store.fail_next["take_notices"] = 1
    shown = Shown()
    looks = 0

    async def tick(_: float) -> None:
        nonlocal looks
        looks += 1
        if looks > 3:
            raise asyncio.CancelledError
        await asyncio.sleep(0)

    sweep = LeftNotices(
        store=store, tell=shown.tell, spawn=shown.spawn, busy=lambda _: False, patience=1, every=1, sleep=tick
    )
    with pytest.raises(asyncio.CancelledError):
        await sweep.run()  # three looks: the first meets the failure, the second shows the notice
    await shown.done()
    assert [job_id for job_id, _ in shown.jobs] == ["a1"]


# -- through the runner ------------------------------------------------------------------------------------


async def refunded_with_its_edit_held(lease: float) -> tuple[Rig, Job]:
    """Process A's runner with a job refunded (reAPI refused it) whose failure edit Discord never finishes."""
    a = make_rig(worker="a", lease_seconds=lease)
    a.notifier.hold_failures = asyncio.Event()
    a.reapi.submit_script.append(BadRequest(400, 20002, "bad", None))
    failed = await a.submit("fox 1")
    for _ in range(2_000):  # until the failure edit has started (and waits)
        if a.notifier.failures:
            break
        await asyncio.sleep(0)
    return a, failed


async def test_a_refund_shown_by_no_one_because_its_process_stopped_is_shown_by_a_live_one() -> None:
    # Process A refunds a job and is stopped while Discord takes the edit; it never comes back. Process B on the
    # same database (started then: not at start-up, a notice that recent is A's) shows the refund once the notice
    # has been A's for two leases.
    lease = 1.0
    a, failed = await refunded_with_its_edit_held(lease)
    await a.runner.stop()
    assert a.store.jobs[failed.id].notice_pending  # refunded, never shown
    b = make_rig(a.store, worker="b", lease_seconds=lease)
    await b.runner.start()
    for _ in range(100):
        await asyncio.sleep(0)
    assert b.notifier.failures == []

    a.store.clock.now += 2 * lease + 1
    for _ in range(1_000):  # B looks every lease (real time): bounded at 10 s
        if not a.store.jobs[failed.id].notice_pending:
            break
        await asyncio.sleep(0.01)
    assert [(job_id, f.code) for job_id, f, _ in b.notifier.failures] == [(failed.id, FailureCode.REAPI_400)]
    assert not a.store.jobs[failed.id].notice_pending  # shown by B, then cleared
    assert a.store.settles(failed.id) == ["refund"]  # shown again, never refunded again


async def test_a_notice_its_live_process_is_still_showing_is_never_taken_by_another() -> None:
    # Process A refunds a job and Discord holds its edit (429s, retries) for longer than the patience; A is alive
    # and will show it. Its lease renewals touch the notice, so B, looking every lease, never takes it as left
    # behind: the member sees the refund once, from A.
    lease = 1.0
    a, failed = await refunded_with_its_edit_held(lease)
    # A's renewals (every third of a lease, real time) touch the notice while its edit waits: it is never idle
    # for long, whereas a look only touches what has been idle for the whole patience (2 leases).
    ended = a.store.jobs[failed.id].finished_at
    assert ended is not None
    a.store.clock.now += lease / 2
    for _ in range(100):  # bounded: 2 s
        if a.store.touched.get(failed.id, ended) > ended:
            break
        await asyncio.sleep(0.02)
    assert a.store.touched.get(failed.id, ended) == a.store.clock.now
    b = make_rig(a.store, worker="b", lease_seconds=lease)
    await b.runner.start()
    for _ in range(40):  # 4 leases of the store's clock over 2 s of real time: past the patience (2 leases)
        a.store.clock.now += lease / 10
        await asyncio.sleep(0.05)
    assert b.notifier.failures == []  # B's looks passed over it
    a.notifier.hold_failures.set()
    for _ in range(500):
        if not a.store.jobs[failed.id].notice_pending:
            break
        await asyncio.sleep(0.01)
    assert [(job_id, f.code) for job_id, f, _ in a.notifier.failures] == [(failed.id, FailureCode.REAPI_400)]
    assert not a.store.jobs[failed.id].notice_pending
    assert b.notifier.failures == []


async def test_a_lone_process_restarting_shows_every_left_notice_at_once_however_many() -> None:
    # A crash under load can leave more than one look's worth; the restart shows them all, not the first page.
    clock = FakeClock()
    store = FakeStore(clock)
    for n in range(PER_LOOK + 20):
        store.add(left_failure(clock, f"j{n:03d}", ended_ago=RETRY_WINDOW * 2 - n))
    rig = make_rig(store, sole_worker=True)
    await rig.runner.start()
    for _ in range(2_000):
        if len(rig.notifier.failures) == PER_LOOK + 20:
            break
        await asyncio.sleep(0)
    assert sorted(job_id for job_id, _, _ in rig.notifier.failures) == sorted(store.jobs)
    assert not any(job.notice_pending for job in store.jobs.values())
