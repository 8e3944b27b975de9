"""Discord's per-channel write limit (5 per 5 s) on: results go first, progress gives way, nothing paid is refunded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.reapi.simulator import Outcome
from bot.store import JobState, open_store
from tests.e2e.conftest import stop_bot
from tests.e2e.test_edit import png
from tests.e2e.test_resume import finish_all_tasks, wait_for_progress
from tests.fakes.discord_ratelimit import ChannelWriteLimiter

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.store import Job
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

StartBot = Callable[..., Awaitable["ImagineBot"]]
JOBS = 6


JSON = dict[str, Any]


async def all_ended(bot: ImagineBot, inters: list[FakeInteraction], *, timeout: float) -> None:  # noqa: ASYNC109
    """Wait (bounded) until the job of every interaction has ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(100_000):
        ended = [await bot.services.store.history(int(inter.user["id"]), limit=1) for inter in inters]
        if all(ended):
            return
        assert loop.time() < deadline, "jobs still unfinished"
        await asyncio.sleep(0.1)


async def reply_to_edit_jobs(fake: FakeDiscord, count: int) -> list[JSON]:
    """``count`` members each reply to one upload, asking the bot to edit it: jobs whose placeholder, progress
    and result are bot-token messages in one channel. Returns the members."""
    upload = await fake.send_message(
        "my cat", author=fake.owner_user, attachments=[fake.add_attachment("c.png", png())]
    )
    members = []
    for n in range(count):
        member = fake.make_user(f"painter{n}")
        fake.add_member(member)
        members.append(member)
        await fake.send_message(
            f"<@{fake.bot_user['id']}> add hat {n}", author=member, mentions=[fake.bot_user], reply_to=upload
        )
    return members


async def members_ended(bot: ImagineBot, members: list[JSON], *, timeout: float) -> list[Job]:  # noqa: ASYNC109
    """Wait (bounded) until every member has a job and it has ended; return them."""
    store = bot.services.store
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(100_000):
        entries = [await store.history(int(member["id"]), limit=1) for member in members]
        if all(entries) and all(entry[0].state in (JobState.DELIVERED, JobState.FAILED) for entry in entries):
            jobs = [await store.get_job(entry[0].job_id) for entry in entries]
            return [job for job in jobs if job is not None]
        assert loop.time() < deadline, "jobs still unfinished"
        await asyncio.sleep(0.1)
    raise AssertionError("unreachable")


async def test_reply_to_edit_jobs_in_one_channel_stay_under_its_write_limit_and_all_deliver(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    fake.rate_limit = ChannelWriteLimiter(limit=5, window=5.0)
    settings = make_settings(
        images={"allow_private_urls": True},
        discord={"message_content_intent": True},
        jobs={"max_concurrent": JOBS, "progress_interval": 0.2},
    )
    bot = await start_bot(settings)
    members = await reply_to_edit_jobs(fake, JOBS)
    jobs = await members_ended(bot, members, timeout=120)

    assert [job.state for job in jobs] == [JobState.DELIVERED] * JOBS, [(j.error_code, j.error_message) for j in jobs]
    assert all(job.result_message_id == job.placeholder_message_id for job in jobs)  # shown in its placeholder
    uploads = [r for r in fake.requests if r.files and r.status == 200]
    assert len(uploads) == JOBS  # each image exactly once
    assert all(r.path.startswith(f"/channels/{fake.channel_id}/") for r in uploads)  # as the bot, in the channel
    # The bot kept under the channel's limit by itself: Discord never had to refuse it.
    assert fake.rate_limit.total_refused == 0, fake.rate_limit.refused
    # Progress gave way to the placeholders and results: some stage a job went through was never shown.
    shown = {job.id: _contents(fake, job) for job in jobs}
    assert any(not any("Generating" in text for text in texts) for texts in shown.values()), shown


def _contents(fake: FakeDiscord, job: Job) -> list[str]:
    edits = fake.requests_matching("PATCH", rf"/channels/\d+/messages/{job.placeholder_message_id}")
    return [str(r.json.get("content")) for r in edits if isinstance(r.json, dict) and r.status == 200]


async def test_a_result_edit_meeting_429s_in_a_busy_channel_is_retried_later_not_refunded(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    # Webhook writes counted in the channel too, and another sender using up every window there: the result edit
    # meets 429s until discord.py gives up on it.
    fake.rate_limit = limiter = ChannelWriteLimiter(limit=5, window=0.5, webhooks_per_channel=True)
    sim.next_outcomes.append(Outcome.never())
    bot = await start_bot(make_settings())
    inter = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "a mill"}], user=fake.member_user)
    await wait_for_progress(fake, inter, "Generating")
    limiter.other_sender(fake.channel_id, 5)
    finish_all_tasks(sim)
    store = bot.services.store
    put_off: list[Job] = []
    for _ in range(1000):  # bounded: until the put-off delivery is stored (or, without the fix, refunded)
        put_off = await store.active_jobs()
        if not put_off or put_off[0].delivery_attempts >= 1:
            break
        await asyncio.sleep(0.02)
    assert [job.state for job in put_off] == [JobState.DELIVERING]  # waiting to try again, not refunded
    assert limiter.refused.get(fake.channel_id, 0) >= 5
    limiter.other_sender(fake.channel_id, 0)  # the channel calms down

    await all_ended(bot, [inter], timeout=30)
    (done,) = await store.history(int(fake.member_user["id"]), limit=1)
    assert done.state is JobState.DELIVERED
    assert done.result_message_id == int(inter.original_message_id or 0)
    assert sim.submit_count == 1
    assert len([r for r in fake.requests if r.files and r.status == 200]) == 1


async def test_a_delivery_waiting_out_429s_resumes_after_a_restart_and_is_delivered_not_refunded(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    sim.next_outcomes.append(Outcome.never())
    first = await start_bot(settings)
    prompt = [{"name": "prompt", "value": "a lighthouse"}]
    inter = await fake.send_slash_command("imagine", prompt, user=fake.member_user)
    await wait_for_progress(fake, inter, "Generating")
    # Discord refuses every write in the channel for a while: discord.py gives up after its five tries.
    fake.fail_next("PATCH", rf"/webhooks/\d+/{inter.token}/messages/\d+", 429, retry_after=0.05, count=1000)
    finish_all_tasks(sim)
    await fake.wait_for(lambda: sum(1 for r in fake.requests if r.status == 429) >= 5, timeout=10, what="five 429s")
    store = await open_store(settings.database.url)
    try:
        active: list[Job] = []
        for _ in range(500):  # bounded: until the put-off delivery is stored (or, without the fix, refunded)
            active = await store.active_jobs()
            if not active or active[0].delivery_attempts >= 1:
                break
            await asyncio.sleep(0.02)
        # Waiting to try again, not failed and refunded.
        assert [job.state for job in active] == [JobState.DELIVERING]
        assert active[0].delivery_retry_at is not None
    finally:
        await store.close()
    await stop_bot(first)  # the process goes away while the delivery waits

    fake.clear_faults()
    second = await start_bot(settings)
    await all_ended(second, [inter], timeout=30)
    (done,) = await second.services.store.history(int(fake.member_user["id"]), limit=1)
    assert done.state is JobState.DELIVERED
    assert done.result_message_id == int(inter.original_message_id or 0)
    assert sim.submit_count == 1
    assert len([r for r in fake.requests if r.files and r.status == 200]) == 1
