"""Restarts: unfinished jobs resume from their stored state; nothing is delivered twice or re-POSTed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.reapi.simulator import Fault, Outcome
from bot.store import JobState, open_store
from tests.e2e.conftest import settled, stop_bot
from tests.e2e.test_imagine import final_edit, imagine

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.e2e.conftest import BotProcess
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

StartBot = Callable[..., Awaitable["ImagineBot"]]
SpawnBot = Callable[["Settings"], Awaitable["BotProcess"]]


async def wait_for_progress(fake: FakeDiscord, inter: FakeInteraction, text: str) -> None:
    await fake.wait_for_request(
        "PATCH",
        rf"/webhooks/\d+/{inter.token}/messages/\d+",
        predicate=lambda r: isinstance(r.json, dict) and text in str(r.json.get("content")),
        timeout=10,
    )


def finish_all_tasks(sim: ReapiSimulator) -> None:
    """Let every task that was told to never finish complete now."""
    for task in sim.tasks.values():
        task.outcome = Outcome.complete()
        task.ready_at = 0.0


async def test_running_job_is_polled_and_delivered_once_after_a_restart(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    sim.next_outcomes.append(Outcome.never())
    first = await start_bot(settings)
    inter = await imagine(fake, "a castle")
    await wait_for_progress(fake, inter, "Generating")
    await stop_bot(first)

    store = await open_store(settings.database.url)
    (job,) = await store.active_jobs()
    assert job.state is JobState.RUNNING
    assert job.task_id is not None
    await store.close()

    finish_all_tasks(sim)
    second = await start_bot(settings)
    final = await final_edit(fake, inter, files=True)
    assert final.path.endswith(f"/messages/{inter.original_message_id}")  # the same placeholder
    assert sim.submit_count == 1
    resumed = await second.services.store.get_job(job.id)
    assert resumed is not None
    assert resumed.state is JobState.DELIVERED
    uploads = [r for r in fake.requests if r.files]
    assert len(uploads) == 1


async def test_job_caught_mid_submit_is_refunded_and_never_reposted(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(jobs={"shutdown_grace": 0.0})
    sim.inject("submit", Fault.slow(30))  # reAPI creates the task but answers only after we are gone
    first = await start_bot(settings)
    inter = await imagine(fake, "a bridge")
    await wait_for_progress(fake, inter, "Submitting")
    await fake.wait_for(lambda: sim.submit_count == 1, timeout=5, what="the POST to arrive")
    await stop_bot(first)

    second = await start_bot(settings)
    final = await final_edit(fake, inter, files=False)
    assert "restarted while sending" in final.json["content"]
    assert "refunded" in final.json["content"]
    await settled(second)
    assert sim.submit_count == 1  # never re-POSTed
    user_id = int(fake.member_user["id"])
    (entry,) = await second.services.store.history(user_id, limit=5)
    assert entry.state is JobState.FAILED
    assert sum(e.delta for e in await second.services.store.ledger(user_id)) == 50


async def test_queued_jobs_show_their_position_and_resume_after_a_restart(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(jobs={"max_concurrent": 1})
    sim.next_outcomes.append(Outcome.never())
    first = await start_bot(settings)
    running = await imagine(fake, "first")
    await wait_for_progress(fake, running, "Generating")
    waiting = await imagine(fake, "second")
    await wait_for_progress(fake, waiting, "Queued: position 1")
    await stop_bot(first)

    finish_all_tasks(sim)
    await start_bot(settings)
    await final_edit(fake, running, files=True)
    await final_edit(fake, waiting, files=True)
    assert sim.submit_count == 2


async def test_sigterm_stops_the_process_cleanly_and_the_job_resumes(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    spawn_bot: SpawnBot,
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    sim.next_outcomes.append(Outcome.never())
    process = await spawn_bot(settings)
    inter = await imagine(fake, "a harbour")
    await wait_for_progress(fake, inter, "Generating")
    code = await process.terminate()
    output = process.output
    assert code == 0, output
    assert "unfinished jobs will resume" in output
    assert settings.reapi.api_key.get_secret_value() not in output
    assert settings.discord.token.get_secret_value() not in output

    finish_all_tasks(sim)
    await start_bot(settings)
    await final_edit(fake, inter, files=True)
    assert sim.submit_count == 1


async def test_a_queued_job_can_be_cancelled_and_is_refunded(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(make_settings(jobs={"max_concurrent": 1}))
    sim.next_outcomes.append(Outcome.never())
    running = await imagine(fake, "first")
    await wait_for_progress(fake, running, "Generating")
    waiting = await imagine(fake, "second")
    await wait_for_progress(fake, waiting, "Queued: position 1")
    placeholder = fake.original_message(waiting)
    assert placeholder is not None
    cancel_id = placeholder["components"][0]["components"][0]["custom_id"]
    assert cancel_id.startswith("imagine:cancel:")

    stranger = fake.make_user(username="stranger")
    fake.add_member(stranger)
    refused = await fake.send_component_click(cancel_id, message=placeholder, user=stranger)
    answer = await fake.wait_for_request("POST", refused.callback_path)
    assert answer.json["data"]["flags"] & 64
    assert "Only the person who asked" in answer.json["data"]["content"]

    await fake.send_component_click(cancel_id, message=placeholder, user=fake.member_user)
    final = await final_edit(fake, waiting, files=False)
    assert final.json["content"].startswith("❌ Cancelled.")
    assert "1 credit was refunded" in final.json["content"]
    assert final.json["components"] == []
    user_id = int(fake.member_user["id"])
    (entry,) = await bot.services.store.history(user_id, limit=5)
    assert entry.state is JobState.FAILED
    assert entry.cost == 0
    assert sim.submit_count == 1  # the cancelled job never reached reAPI

    # The running job shows no Cancel button, and a click on a stale one is answered "too late".
    running_message = fake.original_message(running)
    assert running_message is not None
    assert running_message["components"] == []
    (still_running,) = await bot.services.store.active_jobs()
    stale = {"type": 2, "style": 2, "label": "Cancel", "custom_id": f"imagine:cancel:{still_running.id}"}
    old_copy = await fake.send_message("", author=fake.bot_user, components=[{"type": 1, "components": [stale]}])
    late = await fake.send_component_click(stale["custom_id"], message=old_copy, user=fake.member_user)
    followup = await fake.wait_for_request("POST", rf"/webhooks/\d+/{late.token}")
    assert "can't be cancelled now" in followup.json["content"]
    assert followup.json["flags"] & 64


async def test_a_refund_notice_discord_refused_is_shown_on_a_later_look_without_a_restart(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    # Discord refuses the placeholder's edits for a while: the refund is stored and its notice stays pending. The
    # runner looks for notices left pending (every lease; one untouched for two leases is taken) and shows it once
    # Discord takes edits again.
    settings = make_settings(jobs={"lease_seconds": 2.0})
    sim.next_outcomes.append(Outcome.never())
    bot = await start_bot(settings)
    inter = await imagine(fake, "a lighthouse")
    await fake.wait_for(lambda: sim.submit_count == 1 and bool(sim.tasks), timeout=10, what="the reAPI task")
    placeholder = rf"/webhooks/\d+/{inter.token}/messages/\d+"
    fake.fail_next("PATCH", placeholder, 403, json={"code": 50013, "message": "Missing Access"}, count=1_000)
    for task in sim.tasks.values():
        task.outcome, task.ready_at = Outcome.fail(50123, "The model fell over."), 0.0
    await fake.wait_for_request(  # the failure notice, refused
        "PATCH", placeholder, predicate=lambda r: r.status == 403 and "50123" in str(r.json), timeout=20
    )
    fake.clear_faults()  # Discord takes edits again

    await fake.wait_for_request(
        "PATCH",
        placeholder,
        predicate=lambda r: r.status == 200 and "50123" in str(r.json),
        timeout=30,  # about three leases (6 s); bounded well past that for a loaded machine
    )
    assert "refunded" in str((fake.original_message(inter) or {}).get("content"))
    await settled(bot)
    store = bot.services.store
    (entry,) = await store.history(int(inter.user["id"]), limit=5)
    job = await store.get_job(entry.job_id)
    assert job is not None
    assert job.state is JobState.FAILED
    assert not job.notice_pending  # shown, then cleared
    reasons = [e.reason for e in await store.ledger(int(inter.user["id"])) if e.job_id == job.id]
    assert reasons == ["reserve", "refund"]  # refunded once, shown twice
