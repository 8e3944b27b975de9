"""QueuePlaces on its own: one refresh per interval however busy the queue, and a place shown only when it changes.

The runner's tests drive it through submits, claims and cancels (``test_runner.py``: a draining queue costs each
job a few edits); these pin the class's own contract with a fake store and notifier.
"""

from __future__ import annotations

import asyncio

from bot.engine.progress import Stage
from bot.engine.queue_places import QueuePlaces
from bot.store import JobState
from tests.engine.fakes import FakeClock, FakeNotifier, FakeStore
from tests.engine.test_runner import stored_job

INTERVAL = 3.0


class CountingStore(FakeStore):
    """A FakeStore that counts the reads of the queue's places."""

    reads = 0

    async def waiting_places(self) -> dict[str, int]:
        self.reads += 1
        return await super().waiting_places()


def setup(jobs: int) -> tuple[FakeClock, CountingStore, FakeNotifier, QueuePlaces]:
    clock = FakeClock()
    store = CountingStore(clock)
    for n in range(jobs):
        store.add(stored_job(clock, JobState.QUEUED, id=f"q{n:02d}", user_id=100 + n, created_at=clock.now + n))
    notifier = FakeNotifier(store=store)
    places = QueuePlaces(store=store, notifier=notifier, interval=INTERVAL, sleep=clock.sleep)
    return clock, store, notifier, places


async def refreshed(places: QueuePlaces) -> None:
    """Let the refresh under way (if any) run to its end; bounded."""
    for _ in range(1_000):
        task = places.refreshing
        if task is None or task.done():
            return
        await asyncio.sleep(0)
    raise AssertionError("the refresh never ended")


async def test_a_burst_of_changes_costs_one_read_and_one_edit_per_job() -> None:
    _, store, notifier, places = setup(3)
    for job in list(store.jobs.values()):
        places.accepted(job)
    for _ in range(50):
        places.changed()  # however busy the queue is within one interval
    await refreshed(places)
    assert store.reads == 1
    shown = [(job_id, p.stage, p.position) for job_id, p in notifier.progress_calls]
    assert shown == [("q00", Stage.QUEUED, 1), ("q01", Stage.QUEUED, 2), ("q02", Stage.QUEUED, 3)]


async def test_an_unchanged_place_is_never_shown_again() -> None:
    _, store, notifier, places = setup(2)
    for job in list(store.jobs.values()):
        places.accepted(job)
    await refreshed(places)
    places.changed()  # something changed elsewhere; these two jobs kept their places
    await refreshed(places)
    assert store.reads == 2
    assert [job_id for job_id, _ in notifier.progress_calls] == ["q00", "q01"]


async def test_a_job_that_left_the_queue_is_dropped_and_the_one_behind_moves_up() -> None:
    _, store, notifier, places = setup(2)
    for job in list(store.jobs.values()):
        places.accepted(job)
    await refreshed(places)
    places.left("q00")  # claimed here
    del store.jobs["q00"]
    places.changed()
    await refreshed(places)
    assert [job.id for job in places.waiting()] == ["q01"]
    assert [(job_id, p.position) for job_id, p in notifier.progress_calls] == [("q00", 1), ("q01", 2), ("q01", 1)]


async def test_after_stop_no_refresh_starts() -> None:
    _, store, notifier, places = setup(1)
    places.stop()
    places.accepted(store.jobs["q00"])
    assert places.refreshing is None
    assert store.reads == 0
    assert notifier.progress_calls == []
