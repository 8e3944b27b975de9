"""Delivery end to end: every way Discord can refuse the result still shows it exactly once, or says why."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.reapi.simulator import Outcome
from bot.store import JobState, open_store
from tests.e2e.conftest import settled, stop_bot
from tests.e2e.test_imagine import final_edit, imagine
from tests.e2e.test_resume import finish_all_tasks, wait_for_progress
from tests.fakes.discord_payloads import SEND_MESSAGES

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord

StartBot = Callable[..., Awaitable["ImagineBot"]]


async def test_a_deleted_placeholder_gets_exactly_one_fallback_post(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    sim.next_outcomes.append(Outcome.never())
    bot = await start_bot()
    inter = await imagine(fake, "a heron")
    await wait_for_progress(fake, inter, "Generating")
    assert inter.original_message_id is not None
    await fake.delete_message(inter.original_message_id)
    finish_all_tasks(sim)
    await settled(bot)

    (job,) = await bot.services.store.history(int(fake.member_user["id"]), limit=1)
    assert job.state is JobState.DELIVERED
    posts = fake.requests_matching("POST", rf"/webhooks/\d+/{inter.token}|/channels/\d+/messages")
    assert len(posts) == 1  # one follow-up (the token still lives), no channel post, nothing twice
    assert posts[0].files
    assert job.result_message_id == int(posts[0].response["id"])


async def test_a_resumed_delivery_adopts_the_result_already_in_the_channel(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    sim.next_outcomes.append(Outcome.never())
    first = await start_bot(settings)
    inter = await imagine(fake, "a lantern")
    await wait_for_progress(fake, inter, "Generating")
    await stop_bot(first)

    # The earlier run was posting the result when it crashed: the post reached Discord, its id was never stored.
    store = await open_store(settings.database.url)
    try:
        (job,) = await store.active_jobs()
        moved = await store.transition(
            job.id,
            from_states=[JobState.RUNNING],
            to=JobState.DELIVERING,
            completed_at=time.time(),
            post_started_at=time.time(),
        )
        assert moved is not None
    finally:
        await store.close()
    assert inter.original_message_id is not None
    await fake.delete_message(inter.original_message_id)
    posted = await fake.send_message(
        "",
        author=fake.bot_user,
        embeds=[{"description": "a lantern", "footer": {"text": f"aspect 1:1 · job {job.id}"}}],
    )
    before = len(fake.requests)
    finish_all_tasks(sim)
    second = await start_bot(settings)
    await settled(second)

    resumed = await second.services.store.get_job(job.id)
    assert resumed is not None
    assert resumed.state is JobState.DELIVERED
    assert resumed.result_message_id == int(posted["id"])
    reposts = fake.requests_matching("POST", rf"/webhooks/\d+/{inter.token}|/channels/\d+/messages")
    assert [r for r in reposts if r.index >= before] == []


async def test_dead_token_and_a_refusing_channel_dm_the_member_and_alert_the_owners(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    sim.next_outcomes.append(Outcome.never())
    bot = await start_bot(make_settings(discord={"owner_ids": [int(fake.owner_user["id"])]}))
    inter = await imagine(fake, "a comet")
    await wait_for_progress(fake, inter, "Generating")
    await fake.set_bot_channel_permissions(fake.channel_id, deny=SEND_MESSAGES)
    fake.expire_token(inter)  # Discord drops the token early: the bot's clock still says it lives
    finish_all_tasks(sim)
    await settled(bot)

    (dm,) = fake.channel_messages(fake.dm_channel(fake.member_user)["id"])
    assert dm["attachments"], "the member got the image"
    assert f"<#{fake.channel_id}>" in dm["content"]
    assert "Send Messages" in dm["content"]
    (job,) = await bot.services.store.history(int(fake.member_user["id"]), limit=1)
    assert job.state is JobState.DELIVERED
    assert job.result_message_id == int(dm["id"])

    await fake.wait_for(
        lambda: fake.channel_messages(fake.dm_channel(fake.owner_user)["id"]) or None, what="owner alert"
    )
    (alert,) = fake.channel_messages(fake.dm_channel(fake.owner_user)["id"])
    assert fake.channel_id in alert["content"]
    assert "Send Messages" in alert["content"]


async def test_an_image_over_the_upload_limit_is_re_encoded_to_fit(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    fake.upload_limit = 2000  # the simulator's 256 px PNG is about 3.5 kB
    bot = await start_bot()
    inter = await imagine(fake, "a glacier")
    await final_edit(fake, inter, files=True)
    await settled(bot)

    (job,) = await bot.services.store.history(int(fake.member_user["id"]), limit=1)
    assert job.state is JobState.DELIVERED
    shown = fake.original_message(inter)
    assert shown is not None
    (attachment,) = shown["attachments"]
    assert attachment["size"] <= 2000
    assert attachment["content_type"] == "image/webp"
    uploads = [r for r in fake.requests if r.files]
    assert [r.status for r in uploads] == [200]
