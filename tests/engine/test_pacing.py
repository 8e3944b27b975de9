"""The process-wide poll pace: turns at a steady rate in the order asked, a small burst, clock changes."""

from __future__ import annotations

import asyncio
import heapq
from typing import TYPE_CHECKING

import pytest

from bot.engine.pacing import PollPacer
from bot.engine.progress import Stage
from bot.store import JobState
from tests.engine.test_runner import _stop_runners, make_rig

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.reapi import Task
    from tests.engine.test_runner import Rig

__all__ = ["_stop_runners"]  # the runner tests' autouse fixture: every rig made here is stopped too


class StillClock:
    """A clock that stands still while the pacer is asked: records each wait instead of sleeping it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_turns_asked_together_go_out_at_the_rate_one_after_another() -> None:
    clock = StillClock()
    pacer = PollPacer(4.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await pacer.turn()
    assert clock.waits == pytest.approx([0.25, 0.5, 0.75, 1.0])  # the first one at once, then one per 1/rate


async def test_a_burst_goes_at_once_and_the_rest_keep_the_pace() -> None:
    clock = StillClock()
    pacer = PollPacer(10.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await pacer.turn()
    assert clock.waits == pytest.approx([0.1, 0.2])  # three back to back, then the pace
    assert pacer.ahead() == pytest.approx(0.3)


async def test_an_idle_pace_builds_no_credit_beyond_the_burst() -> None:
    clock = StillClock()
    pacer = PollPacer(10.0, burst=2, clock=clock, sleep=clock.sleep)
    clock.now += 60  # a quiet minute
    for _ in range(4):
        await pacer.turn()
    assert clock.waits == pytest.approx([0.1, 0.2])


async def test_a_clock_set_back_keeps_the_queue_not_its_absolute_time() -> None:
    clock = StillClock()
    pacer = PollPacer(1.0, clock=clock, sleep=clock.sleep)
    await pacer.turn()
    await pacer.turn()  # waits 1 s
    clock.now -= 3600  # the wall clock jumps back an hour: the next turn is 2 s away, not an hour and 2 s
    await pacer.turn()
    assert clock.waits == pytest.approx([1.0, 2.0])


def test_the_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PollPacer(0.0)


class VirtualTime:
    """Time that moves only when every task is waiting: then to the earliest sleeper's wake-up (a timeline the
    fake clock of the runner tests, which adds every sleep to one counter, cannot give concurrent sleepers)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, id(future), future))
        await future

    async def run(self, until: Callable[[], bool]) -> None:
        for _ in range(10_000):
            if until():
                return
            for _ in range(200):  # let everything that can run without time passing run
                await asyncio.sleep(0)
            if self._sleepers:
                self.now, _, future = heapq.heappop(self._sleepers)
                future.set_result(None)
        raise AssertionError("virtual time ran out")


def paced_rig(before_poll: Callable[[str], None]) -> tuple[Rig, VirtualTime]:
    """A runner whose polls keep a pace of 2 a second on virtual time; ``before_poll(task_id)`` sees each poll."""
    rig = make_rig(max_polls_per_second=2.0, max_concurrent=8, per_user_concurrent=8, progress_interval=0.0)
    time = VirtualTime()
    rig.runner._steps.watch.pacer = PollPacer(2.0, clock=time, sleep=time.sleep)
    get_task = rig.reapi.get_task

    async def poll(task_id: str) -> Task:
        before_poll(task_id)
        return await get_task(task_id)

    rig.reapi.get_task = poll  # type: ignore[method-assign]
    return rig, time


async def test_the_runner_polls_its_running_jobs_no_faster_than_the_pace() -> None:
    poll_times: list[float] = []
    rig, time = paced_rig(lambda task_id: poll_times.append(time.now))
    jobs = [await rig.submit(f"fox {n}", user_id=1000 + n) for n in range(6)]
    await time.run(lambda: len(poll_times) == 6)
    await rig.settle(*(job.id for job in jobs))
    assert all(rig.store.jobs[job.id].state is JobState.DELIVERED for job in jobs)
    # Six tasks submitted together, each due for its first poll at once: one turn every half second.
    assert poll_times == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])


async def test_a_job_waiting_for_its_first_poll_turn_already_shows_generating() -> None:
    shown_before_poll: list[bool] = []

    def check(task_id: str) -> None:
        job = next(j for j in rig.store.jobs.values() if j.task_id == task_id)
        stages = [p.stage for job_id, p in rig.notifier.progress_calls if job_id == job.id]
        shown_before_poll.append(Stage.GENERATING in stages)

    rig, time = paced_rig(check)
    jobs = [await rig.submit(f"fox {n}", user_id=1000 + n) for n in range(4)]
    for _ in range(200):  # no time passes: the first job polls, the other three wait for their turns
        await asyncio.sleep(0)
    waiting = [j for j in jobs if rig.store.jobs[j.id].state is JobState.RUNNING]
    assert len(waiting) >= 3
    for job in waiting:  # each already tells its member it is generating, though its first poll is seconds away
        assert any(job_id == job.id and p.stage is Stage.GENERATING for job_id, p in rig.notifier.progress_calls)
    await time.run(lambda: len(shown_before_poll) == 4)
    await rig.settle(*(job.id for job in jobs))
    assert shown_before_poll == [True] * 4
