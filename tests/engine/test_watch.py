"""Watching a task (bot/engine/watch.py) through the runner with fakes of its ports: a resumed task is polled and
delivered however long the bot was down, and its timeout counts only time watched."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from bot.engine.failures import FailureCode
from bot.reapi import RateLimited
from bot.store import JobState
from tests.engine.fakes import FakeClock, FakeStore
from tests.engine.test_runner import _stop_runners, make_rig, stored_job

if TYPE_CHECKING:
    from tests.engine.test_runner import Rig

__all__ = ["_stop_runners"]  # the runner tests' autouse fixture: every rig made here is stopped too


def resumed(state: JobState, task_id: str, *, ago: float, **options: Any) -> tuple[FakeStore, Rig]:
    """A store holding one charged job in ``state`` whose task was submitted ``ago`` seconds before the bot
    starts, and a rig (not started) around it; ``options`` go to make_rig."""
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(stored_job(clock, state, task_id=task_id, submitted_at=clock.now - ago, charged=True))
    return store, make_rig(store, **options)


# -- C1: resume after a long outage -------------------------------------------------------------------------


async def test_a_job_resumed_after_an_outage_longer_than_the_timeout_is_polled_and_delivered() -> None:
    store, rig = resumed(JobState.RUNNING, "task_old", ago=700)
    await rig.runner.start()
    await rig.settle()
    assert rig.reapi.polled[0] == "task_old"
    assert store.jobs["a0a0a0a0a0a0"].state is JobState.DELIVERED
    assert store.settles("a0a0a0a0a0a0") == ["capture"]


async def test_the_timeout_counts_only_time_watched_since_the_resume() -> None:
    store, rig = resumed(JobState.RUNNING, "task_slow", ago=700, timeout=60.0)
    rig.reapi.default_status = "processing"
    clock = store.clock
    resumed_at = clock.now
    await rig.runner.start()
    await rig.settle()
    job = store.jobs["a0a0a0a0a0a0"]
    assert job.state is JobState.FAILED
    assert job.error_code == FailureCode.TIMEOUT
    assert clock.now - resumed_at >= 60.0  # it watched for the whole timeout, not zero seconds
    assert len(rig.reapi.polled) > 10
    assert job.charged is True  # reAPI charged for the task it accepted


async def test_a_job_resumed_in_delivering_survives_a_transient_poll_error_and_stays_charged() -> None:
    store, rig = resumed(JobState.DELIVERING, "task_done", ago=30)
    rig.reapi.poll_script["task_done"] = deque([RateLimited(429, 42901, "slow down", None), "completed"])
    await rig.runner.start()
    await rig.settle()
    assert store.jobs["a0a0a0a0a0a0"].state is JobState.DELIVERED


async def test_a_resumed_delivery_never_shows_progress_over_an_image_it_may_already_have_posted() -> None:
    _, rig = resumed(JobState.DELIVERING, "task_done", ago=30)
    await rig.runner.start()
    await rig.settle()
    assert rig.notifier.deliveries == ["a0a0a0a0a0a0"]
    assert rig.notifier.progress_calls == []
