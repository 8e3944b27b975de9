"""Progress edits (bot/surface/progress_edits.py) as the notifier sends them through a real discord.py client to the
fake Discord: latest wins, never repeated, a passing stage only if it lasts, never after the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.engine.progress import Progress, Stage
from bot.store import JobState
from bot.surface import texts
from bot.surface.notifier import DiscordNotifier
from tests.surface.notifier_rig import IMAGE, Client, Journal, channel_placeholder, make_job

if TYPE_CHECKING:
    from bot.store import Job
    from tests.fakes.fake_discord import FakeDiscord, HeldRequest


async def test_progress_never_sends_the_same_text_twice(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    job, path = await job_on_a_placeholder(fake, client, JobState.QUEUED)
    notifier.progress(job, Progress(Stage.QUEUED, position=2))
    await fake.wait_for_request("PATCH", path)
    for _ in range(3):
        notifier.progress(job, Progress(Stage.QUEUED, position=2))
        await asyncio.sleep(0.05)
    notifier.progress(job, Progress(Stage.QUEUED, position=1))
    await fake.wait_for_request("PATCH", path, after=fake.requests_matching("PATCH", path)[0].index + 1)
    contents = [r.json["content"] for r in fake.requests_matching("PATCH", path)]
    assert len(contents) == 2
    assert contents[0] != contents[1]


async def test_a_submit_that_passes_quickly_costs_no_edit_of_its_own(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    job, path = await job_on_a_placeholder(fake, client, JobState.SUBMITTING)
    notifier.progress(job, Progress(Stage.SUBMITTING))
    await asyncio.sleep(0.1)
    notifier.progress(job, Progress(Stage.GENERATING))
    await fake.wait_for_request("PATCH", path)
    await asyncio.sleep(0.3)  # room for a wrong second edit
    contents = [r.json["content"] for r in fake.requests_matching("PATCH", path)]
    assert contents == [texts.progress_text(Progress(Stage.GENERATING))]


async def test_a_submit_that_lasts_is_shown(fake: FakeDiscord, client: Client, notifier: DiscordNotifier) -> None:
    job, path = await job_on_a_placeholder(fake, client, JobState.SUBMITTING)
    notifier.progress(job, Progress(Stage.SUBMITTING))
    await fake.wait_for_request("PATCH", path)
    contents = [r.json["content"] for r in fake.requests_matching("PATCH", path)]
    assert contents == [texts.progress_text(Progress(Stage.SUBMITTING))]


async def test_a_line_decided_under_a_lease_that_ran_out_before_it_went_is_dropped(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    # A process that stalled past its job's lease may have lost the job to another process, which may have shown
    # the outcome already (seen in the cluster test under load: "Submitting…" landed over "refunded").
    job, path = await job_on_a_placeholder(fake, client, JobState.SUBMITTING)
    notifier.progress(replace(job, lease_until=time.time() + 0.3), Progress(Stage.SUBMITTING))  # held 1 s first
    await asyncio.sleep(1.5)
    assert fake.requests_matching("PATCH", path) == []
    # The next line, decided under a live lease (the job as the store last returned it), goes as usual.
    notifier.progress(replace(job, lease_until=time.time() + 30), Progress(Stage.GENERATING))
    await fake.wait_for_request("PATCH", path)
    contents = [r.json["content"] for r in fake.requests_matching("PATCH", path)]
    assert contents == [texts.progress_text(Progress(Stage.GENERATING))]


async def test_delivery_waits_for_a_progress_edit_already_on_the_wire(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    placeholder, path, held, delivery = await deliver_behind_a_held_progress_edit(fake, client, notifier)
    # Give a wrong implementation the chance to send the result first; the right one waits for the progress edit.
    with contextlib.suppress(AssertionError):
        await fake.wait_for(lambda: len(fake.requests_matching("PATCH", path)) > 0, timeout=0.5)
    held.release()
    await asyncio.wait_for(delivery, 10)
    shown = fake.message(placeholder)
    assert shown is not None
    assert shown["attachments"]
    assert shown["components"]  # the late progress edit did not strip the result's buttons
    assert [bool(r.json.get("embeds")) for r in fake.requests_matching("PATCH", path)] == [False, True]


async def test_delivery_after_a_progress_edit_on_the_wire_does_not_wait_out_the_progress_interval(
    fake: FakeDiscord, client: Client
) -> None:
    # A long interval: the edit loop, once its edit is answered, would sleep that long before its next pass.
    notifier = DiscordNotifier(client, progress_interval=600.0)
    placeholder, _, held, delivery = await deliver_behind_a_held_progress_edit(fake, client, notifier)
    await asyncio.sleep(0)
    held.release()
    # The image follows the answered edit at once, not after the interval (nor after the 30 s settle timeout).
    await asyncio.wait_for(delivery, 10)
    shown = fake.message(placeholder)
    assert shown is not None
    assert shown["attachments"]


async def deliver_behind_a_held_progress_edit(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> tuple[int, str, HeldRequest, asyncio.Task[int]]:
    """A progress edit the fake holds on the wire, then a delivery of the same job begun behind it.

    Returns the placeholder's id, its route, the held edit and the delivery's task.
    """
    job, path = await job_on_a_placeholder(fake, client)
    held = fake.hold_next("PATCH", path)
    notifier.progress(job, Progress(Stage.UPLOADING))
    await asyncio.wait_for(held.arrived.wait(), 5)
    delivery = asyncio.create_task(notifier.deliver(job, IMAGE, journal=Journal()))
    assert job.placeholder_message_id is not None
    return job.placeholder_message_id, path, held, delivery


async def job_on_a_placeholder(fake: FakeDiscord, client: Client, state: JobState | None = None) -> tuple[Job, str]:
    """A job whose progress shows in a fresh placeholder message in the channel, and that message's route."""
    placeholder = await channel_placeholder(fake, client)
    job = make_job(fake, placeholder_message_id=placeholder, state=state)
    return job, rf"/channels/{fake.channel_id}/messages/{placeholder}"
