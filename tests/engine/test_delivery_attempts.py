"""Attempts at showing a result (bot/engine/delivery_attempts.py) through the runner with fakes of its ports: the
fallback post is journaled so a resume never posts twice, and a put-off delivery is retried, bounded and stored."""

from __future__ import annotations

import asyncio

from bot.config import JobsSettings
from bot.engine.failures import FailureCode
from bot.store import JobState
from tests.engine.fakes import FakeClock, FakeStore
from tests.engine.test_runner import _stop_runners, make_rig, stored_job

__all__ = ["_stop_runners"]  # the runner tests' autouse fixture: every rig made here is stopped too


# -- C4: the fallback post is a recorded step -------------------------------------------------------------


async def test_the_fallback_post_is_recorded_before_and_after_it_is_sent() -> None:
    rig = make_rig()
    rig.notifier.placeholder_gone = True
    job = await rig.submit()
    await rig.settle()
    done = rig.store.jobs[job.id]
    assert done.state is JobState.DELIVERED
    assert done.post_started_at is not None
    assert done.result_message_id == rig.notifier.posts[0].message_id


async def test_where_the_fallback_post_went_is_recorded_with_it() -> None:
    """A DM or an ephemeral follow-up: /history must know, or its link leads nowhere."""
    for place in ({"channel_id": 4242}, {"ephemeral": True}):
        rig = make_rig()
        rig.notifier.placeholder_gone = True
        rig.notifier.post_place = place
        job = await rig.submit()
        await rig.settle()
        done = rig.store.jobs[job.id]
        assert done.state is JobState.DELIVERED
        assert done.result_message_id == rig.notifier.posts[0].message_id
        expected = (place.get("channel_id"), place.get("ephemeral", False))
        assert (done.result_channel_id, done.result_ephemeral) == expected
        await rig.runner.stop()


async def test_a_crash_between_posting_and_recording_never_posts_twice_on_resume() -> None:
    rig = make_rig()
    rig.notifier.placeholder_gone = True
    rig.notifier.crash_after_post = True
    job = await rig.submit()
    for _ in range(2000):
        if rig.notifier.posts:
            break
        await asyncio.sleep(0)
    await rig.runner.stop()
    assert rig.store.jobs[job.id].state is JobState.DELIVERING  # the process "died" before recording the id
    assert rig.store.jobs[job.id].post_started_at is not None

    rig.clock.now += JobsSettings().lease_seconds + 1  # the dead process's lease runs out
    resumed = make_rig(rig.store)
    resumed.notifier.placeholder_gone = True
    resumed.notifier.posts = rig.notifier.posts  # the same channel
    await resumed.runner.start()
    await resumed.settle()
    assert len(resumed.notifier.posts) == 1
    assert resumed.store.jobs[job.id].result_message_id == resumed.notifier.posts[0].message_id
    assert resumed.store.settles(job.id) == ["capture"]


async def test_discord_refusing_every_way_of_showing_the_image_refunds_it() -> None:
    rig = make_rig()
    rig.notifier.refuse_delivery = True
    job = await rig.submit()
    await rig.settle()
    assert rig.store.jobs[job.id].error_code == FailureCode.DISCORD
    assert rig.store.settles(job.id) == ["refund"]


async def test_a_delivery_discord_puts_off_is_retried_with_backoff_and_delivered_not_refunded() -> None:
    rig = make_rig()
    rig.notifier.defer_deliveries = 3
    rig.notifier.defer_retry_after = 7.0
    job = await rig.submit()
    await rig.settle()
    done = rig.store.jobs[job.id]
    assert done.state is JobState.DELIVERED
    assert rig.store.settles(job.id) == ["capture"]
    assert rig.notifier.deliveries == [job.id] * 4
    assert done.delivery_attempts == 3  # each put-off attempt was stored
    # Backoff doubles from 2 s, never sooner than Discord asked (7 s).
    assert [s for s in rig.clock.slept if s >= 2.0][-3:] == [7.0, 7.0, 8.0]


async def test_a_delivery_discord_keeps_putting_off_ends_refunded_after_a_bounded_number_of_attempts() -> None:
    rig = make_rig()
    rig.notifier.defer_deliveries = 1_000
    job = await rig.submit()
    await rig.settle()
    assert rig.store.jobs[job.id].error_code == FailureCode.DISCORD
    assert rig.store.settles(job.id) == ["refund"]
    assert len(rig.notifier.deliveries) == 8
    waits = [s for s in rig.clock.slept if s >= 2.0]
    assert sum(waits) <= 8 * 120.0


async def test_a_resumed_delivery_waits_out_the_stored_retry_and_counts_the_attempts_already_made() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    waiting = {"delivery_attempts": 7, "delivery_retry_at": clock.now + 30}
    job = store.add(stored_job(clock, JobState.DELIVERING, task_id="task_done", charged=True, **waiting))
    rig = make_rig(store)
    rig.notifier.defer_deliveries = 1
    await rig.runner.start()
    await rig.settle(job.id)
    # The wait stored before the restart was honoured, and the 8th attempt was the last: refunded, bounded.
    assert rig.notifier.deliveries == [job.id]
    assert rig.notifier.delivery_times[0] >= waiting["delivery_retry_at"]
    assert rig.store.jobs[job.id].error_code == FailureCode.DISCORD
