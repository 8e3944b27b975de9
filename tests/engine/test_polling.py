"""The adaptive poll schedule (bot.engine.polling) on its own, and as the job runner uses it on a fake clock."""

from __future__ import annotations

import math
import random
import statistics
from collections import deque
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import pytest

from bot.engine.polling import DurationWindow, PollPlan, PollSchedule
from bot.reapi import MODEL, SubmittedTask, Task
from bot.store import JobState
from tests.engine.fakes import FakeClock, FakeReapi, FakeStore
from tests.engine.test_runner import _stop_runners, make_rig, stored_job

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tests.engine.test_runner import Rig

__all__ = ["_stop_runners"]  # the runner tests' autouse fixture: every rig made here is stopped too

MEDIAN, SIGMA = 8.0, 0.3


def lognormal_points(n: int) -> list[float]:
    """``n`` evenly spread quantiles of lognormal(median 8 s, σ 0.3): a sample without sampling noise."""
    normal = NormalDist(math.log(MEDIAN), SIGMA)
    return [math.exp(normal.inv_cdf((i + 0.5) / n)) for i in range(n)]


def trained(durations: list[float], overhead: float = 0.05, **options: Any) -> PollSchedule:
    schedule = PollSchedule(fallback=1.5, **options)
    for seconds in durations:
        schedule.observe("m", seconds)
    for _ in range(20):
        schedule.observe_overhead("m", overhead)
    return schedule


def outcome(plan: PollPlan, duration: float, overhead: float) -> tuple[int, float]:
    """(polls made, completion → posted) for a task of ``duration`` seconds polled by ``plan``."""
    elapsed = 0.0
    for polls in range(1, 10_000):
        elapsed += plan.next_delay(elapsed)
        if elapsed >= duration:
            return polls, elapsed - duration + overhead
    raise AssertionError("the plan never reached the task's completion")


def test_with_less_history_than_needed_the_fixed_interval_applies() -> None:
    schedule = trained(lognormal_points(9))
    assert schedule.plan("m") is None
    assert schedule.next_delay("m", 3.0) is None
    schedule.observe("m", 8.0)
    assert schedule.next_delay("m", 3.0) is not None
    assert schedule.next_delay("other model", 3.0) is None  # learned per model


def test_the_plan_is_sparse_early_and_dense_after_the_usual_duration() -> None:
    points = lognormal_points(200)
    plan = trained(points, overhead=0.05).plan("m")
    assert plan is not None
    gaps = [b - a for a, b in zip(plan.times, plan.times[1:], strict=False)]
    # The first poll comes no earlier than the 0.3 % quantile and no later than the 3 % quantile plus one spacing.
    window = DurationWindow(200)
    for seconds in points:
        window.add(seconds)
    assert window.quantile(0.003) < plan.times[0] <= window.quantile(0.03) + plan.sparse + 1e-9
    assert plan.dense < plan.sparse <= 1.0 - 0.05
    assert plan.dense <= 0.4 - 0.05
    assert plan.switch > MEDIAN  # dense only where few jobs are still running
    before = [g for t, g in zip(plan.times, gaps, strict=False) if t < plan.switch]
    after = [g for t, g in zip(plan.times, gaps, strict=False) if t >= plan.switch]
    assert before
    assert after
    assert all(math.isclose(g, plan.sparse) for g in before)
    assert all(math.isclose(g, plan.dense) for g in after)
    assert plan.next_delay(plan.times[-1] + 5) == 1.5  # slower than anything seen: the fixed interval


def test_the_plan_meets_the_delivery_targets_for_the_distribution_it_learned() -> None:
    overhead = 0.05
    plan = trained(lognormal_points(200), overhead=overhead).plan("m")
    assert plan is not None
    jobs = [outcome(plan, d, overhead) for d in lognormal_points(4000)]
    delays = sorted(delay for _, delay in jobs)
    rates = [polls / (d + delay) for (polls, delay), d in zip(jobs, lognormal_points(4000), strict=True)]
    assert statistics.median(delays) <= 0.4
    assert delays[int(0.95 * len(delays))] <= 1.0
    assert statistics.fmean(rates) <= 0.6
    # The fixed schedule the bot used before (2.5 s early, 1.5 s near the estimate) does far worse on delay.
    fixed = PollPlan(tuple([0.0] + [2.5 * k for k in range(1, 3)] + [5.0 + 1.5 * k for k in range(1, 40)]), 1.5)
    fixed_delays = sorted(outcome(fixed, d, overhead)[1] for d in lognormal_points(4000))
    assert statistics.median(fixed_delays) > 0.6


def test_a_slower_overhead_tightens_the_spacing() -> None:
    quick = trained(lognormal_points(100), overhead=0.02).plan("m")
    slow = trained(lognormal_points(100), overhead=0.2).plan("m")
    assert quick is not None
    assert slow is not None
    assert slow.dense < quick.dense
    assert slow.sparse < quick.sparse
    assert slow.dense >= 0.25  # never closer than min_interval


def test_the_window_follows_a_change_in_durations() -> None:
    schedule = trained(lognormal_points(100), window=100)
    before = schedule.plan("m")
    for seconds in lognormal_points(100):
        schedule.observe("m", 2 * seconds)  # reAPI got twice as slow
    after = schedule.plan("m")
    assert before is not None
    assert after is not None
    assert after.times[0] > before.times[0] + 3
    assert after.switch > 2 * MEDIAN


def test_a_short_fixed_interval_caps_the_plan_spacing() -> None:
    schedule = PollSchedule(fallback=0.02)
    for n in range(20):
        schedule.observe("m", 0.05 + 0.001 * n)
    plan = schedule.plan("m")
    assert plan is not None
    assert plan.sparse <= 0.02
    assert plan.dense <= 0.02
    assert schedule.floor == 0.02


# -- as the runner uses it --------------------------------------------------------------------------------


class TimedReapi(FakeReapi):
    """Tasks that complete a set number of fake-clock seconds after their submit."""

    def __init__(self, clock: FakeClock, durations: list[float]) -> None:
        super().__init__()
        self.clock = clock
        self.durations = durations
        self.ready_at: dict[str, float] = {}
        self.polls: dict[str, int] = {}
        self.poll_times: list[float] = []
        self.between_polls: Callable[[str], Awaitable[None]] | None = None

    async def submit(self, request: Any) -> SubmittedTask:
        task = await super().submit(request)
        self.ready_at[task.id] = self.clock.now + self.durations[len(self.ready_at)]
        return task

    async def get_task(self, task_id: str) -> Task:
        if self.between_polls is not None:
            await self.between_polls(task_id)
        self.polls[task_id] = self.polls.get(task_id, 0) + 1
        self.poll_times.append(self.clock.now)
        if task_id in self.ready_at and self.clock.now < self.ready_at[task_id]:
            self.poll_script[task_id] = deque(["processing"])
        return await super().get_task(task_id)


async def run_jobs(rig: Rig, reapi: TimedReapi, count: int) -> list[tuple[int, float, float]]:
    """Run ``count`` jobs one after another; (polls, completion → seen, duration) of each, on the fake clock."""
    results = []
    for n in range(count):
        job = await rig.submit(f"job {n}", user_id=1000 + n)
        await rig.settle(job.id)
        done = rig.store.jobs[job.id]
        assert done.state is JobState.DELIVERED
        assert done.task_id is not None
        assert done.submitted_at is not None
        ready = reapi.ready_at[done.task_id]
        assert done.completed_at is not None
        results.append((reapi.polls[done.task_id], done.completed_at - ready, ready - done.submitted_at))
    return results


def timed_rig(durations: list[float], store: FakeStore | None = None, **jobs: Any) -> tuple[Rig, TimedReapi]:
    # progress_interval 0: the queue-place refresh must not move the shared fake clock between a submit and its polls.
    store = store or FakeStore(FakeClock())
    reapi = TimedReapi(store.clock, durations)
    settings = {"poll_interval": 1.5, "max_poll_interval": 2.5, "progress_interval": 0.0, **jobs}
    return make_rig(store, reapi=reapi, **settings), reapi


def shuffled_durations(count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [MEDIAN * math.exp(SIGMA * rng.gauss()) for _ in range(count)]


async def test_the_runner_learns_the_durations_and_then_polls_less_and_sees_completion_sooner() -> None:
    durations = shuffled_durations(120, seed=3)
    adaptive, reapi = timed_rig(durations)
    fixed, fixed_reapi = timed_rig(durations, adaptive_polling=False)
    learned = (await run_jobs(adaptive, reapi, 120))[40:]  # after a warm-up the plan learned from
    baseline = (await run_jobs(fixed, fixed_reapi, 120))[40:]
    assert adaptive.runner._steps.watch.polls.plan(MODEL) is not None

    def figures(results: list[tuple[int, float, float]]) -> tuple[float, float]:
        lags = [lag for _, lag, _ in results]
        rate = statistics.fmean(polls / (took + lag) for polls, lag, took in results)
        return statistics.median(lags), rate

    lag, rate = figures(learned)
    fixed_lag, fixed_rate = figures(baseline)
    # On the fake clock the bot's own overhead is zero, so these are the schedule's own share of the delay.
    assert lag <= 0.4
    assert rate <= 0.6
    assert fixed_lag > lag
    assert fixed_rate > rate


async def test_a_new_job_with_history_waits_for_its_first_planned_poll() -> None:
    rig, reapi = timed_rig([8.0])
    for seconds in lognormal_points(50):
        rig.runner._steps.watch.polls.observe(MODEL, seconds)
    plan = rig.runner._steps.watch.polls.plan(MODEL)
    assert plan is not None
    job = await rig.submit()
    await rig.settle(job.id)
    done = rig.store.jobs[job.id]
    assert done.state is JobState.DELIVERED
    assert done.submitted_at is not None
    assert reapi.poll_times[0] - done.submitted_at == pytest.approx(plan.times[0])


async def test_a_resumed_job_is_polled_at_once_even_early_in_the_plan() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(stored_job(clock, JobState.RUNNING, task_id="task_resumed", submitted_at=clock.now - 3, charged=True))
    rig, reapi = timed_rig([], store=store)
    for seconds in lognormal_points(50):
        rig.runner._steps.watch.polls.observe(MODEL, seconds)
    resumed_at = clock.now
    await rig.runner.start()
    await rig.settle()
    assert store.jobs["a0a0a0a0a0a0"].state is JobState.DELIVERED
    assert reapi.poll_times == [resumed_at]  # polled before any wait, though the plan's first poll is later


async def test_a_job_keeps_the_plan_it_started_with_while_others_complete() -> None:
    rig, reapi = timed_rig([12.0])
    schedule = rig.runner._steps.watch.polls
    for seconds in lognormal_points(100):
        schedule.observe(MODEL, seconds)
    plan = schedule.plan(MODEL)
    assert plan is not None
    shifts = iter(range(1, 1000))

    async def meanwhile(task_id: str) -> None:
        # Other jobs complete between this job's polls, each a little later than the last: the schedule re-plans.
        schedule.observe(MODEL, MEDIAN * (1 + 0.05 * next(shifts)))

    reapi.between_polls = meanwhile
    job = await rig.submit()
    await rig.settle(job.id)
    done = rig.store.jobs[job.id]
    assert done.state is JobState.DELIVERED
    assert done.submitted_at is not None
    assert schedule.plan(MODEL) != plan  # the schedule did move on
    offsets = [t - done.submitted_at for t in reapi.poll_times]
    assert len(offsets) > 3
    assert all(any(math.isclose(o, t, abs_tol=1e-6) for t in plan.times) for o in offsets)


async def test_the_overhead_it_learns_ends_when_discord_took_the_image_not_when_the_job_was_settled() -> None:
    rig, _ = timed_rig([2.0])
    settle = rig.store.finish_job

    async def slow_settlement(*args: Any, **kwargs: Any) -> Any:
        rig.clock.now += 5.0  # a settlement slow on the fake clock: the member already has the image
        return await settle(*args, **kwargs)

    rig.store.finish_job = slow_settlement  # type: ignore[method-assign]
    job = await rig.submit()
    await rig.settle(job.id)
    assert rig.store.jobs[job.id].state is JobState.DELIVERED
    overheads = rig.runner._steps.watch.polls._model(MODEL).overheads
    assert len(overheads) == 1
    assert overheads.quantile(0.5) < 1.0
