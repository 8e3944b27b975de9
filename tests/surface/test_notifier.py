"""The Discord notifier (bot/surface/notifier.py) driven through a real discord.py client and the fake Discord."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import discord
import pytest

from bot.engine.failures import FailureCode, JobFailure
from bot.engine.images import PreparedImage
from bot.engine.ports import DeliveryDeferred, DeliveryFailed
from bot.engine.progress import Progress, Stage
from bot.store import Job, JobKind, JobState
from bot.surface import texts
from bot.surface.alerts import OwnerAlerts
from bot.surface.notifier import DiscordNotifier
from tests.fakes.discord_payloads import SEND_MESSAGES, VIEW_CHANNEL
from tests.fakes.fake_discord import FakeDiscord, redirect_discord_py
from tests.fakes.probe_bot import png

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.fakes.fake_discord import FakeInteraction

IMAGE = PreparedImage(png(4, 4), "image/png")


class Client(discord.Client):
    """A bare client that keeps every interaction it receives (the tests answer them)."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.interactions: dict[int, discord.Interaction] = {}

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.interactions[interaction.id] = interaction


class Journal:
    """Records what the notifier told the delivery journal, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None]] = []

    async def posting(self) -> None:
        self.calls.append(("posting", None))

    async def posted(self, message_id: int) -> None:
        self.calls.append(("posted", message_id))


class Alerts:
    """Records owner alerts."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    def notify(self, text: str, *, key: str | None = None) -> None:
        self.sent.append((text, key))

    async def close(self) -> None:
        return None


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        with redirect_discord_py(server):
            yield server
        assert server.errors == []


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[Client]:
    bot = Client()
    task = asyncio.create_task(bot.start(fake.token))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        yield bot
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


@pytest.fixture
def alerts() -> Alerts:
    return Alerts()


@pytest.fixture
def notifier(client: Client, alerts: Alerts) -> DiscordNotifier:
    return DiscordNotifier(client, progress_interval=0.0, alerts=alerts)


def make_job(fake: FakeDiscord, **values: object) -> Job:
    fields: dict[str, object] = {
        "id": "0000000000a1",
        "kind": JobKind.IMAGINE,
        "state": JobState.DELIVERING,
        "user_id": int(fake.member_user["id"]),
        "guild_id": int(fake.guild_id),
        "channel_id": int(fake.channel_id),
        "prompt": "a lighthouse at dusk",
        "aspect_ratio": "1:1",
        "cost": 1,
        "created_at": time.time(),
    }
    fields.update(values)
    return Job(**fields)  # type: ignore[arg-type]


async def channel_placeholder(fake: FakeDiscord, client: Client) -> int:
    """A placeholder the bot posted in the channel itself (no interaction token)."""
    channel = client.get_partial_messageable(int(fake.channel_id))
    return (await channel.send("⏳ Queued")).id


async def interaction_placeholder(fake: FakeDiscord, client: Client) -> tuple[FakeInteraction, dict[str, object]]:
    """A deferred slash command; returns it and the job fields that point at its placeholder."""
    inter = await fake.send_slash_command("imagine")
    for _ in range(500):
        if int(inter.id) in client.interactions:
            break
        await asyncio.sleep(0.01)
    interaction = client.interactions[int(inter.id)]
    await interaction.response.defer(thinking=True)
    assert inter.original_message_id is not None
    return inter, {
        "application_id": int(fake.application_id),
        "interaction_token": inter.token,
        "interaction_expires_at": interaction.expires_at.timestamp(),
        "placeholder_message_id": int(inter.original_message_id),
    }


def channel_posts(fake: FakeDiscord) -> list[int]:
    return [r.response["id"] for r in fake.requests_matching("POST", rf"/channels/{fake.channel_id}/messages")]


async def test_placeholder_edit_carries_the_image_and_buttons(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    inter, token = await interaction_placeholder(fake, client)
    journal = Journal()
    message_id = await notifier.deliver(make_job(fake, **token), IMAGE, journal=journal)
    assert message_id == int(inter.original_message_id or 0)
    shown = fake.original_message(inter)
    assert shown is not None
    assert shown["attachments"][0]["filename"] == "imagine-0000000000a1.png"
    assert shown["components"]  # the result buttons
    assert "job 0000000000a1" in shown["embeds"][0]["footer"]["text"]
    assert journal.calls == []  # no new message, nothing to record


async def test_placeholder_deleted_means_exactly_one_recorded_post(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    placeholder = await channel_placeholder(fake, client)
    await client.get_partial_messageable(int(fake.channel_id)).get_partial_message(placeholder).delete()
    journal = Journal()
    message_id = await notifier.deliver(make_job(fake, placeholder_message_id=placeholder), IMAGE, journal=journal)
    assert channel_posts(fake) == [str(placeholder), str(message_id)]
    assert journal.calls == [("posting", None), ("posted", message_id)]


async def test_placeholder_deleted_while_the_token_lives_is_a_follow_up(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    inter, token = await interaction_placeholder(fake, client)
    await (
        client.get_partial_messageable(int(fake.channel_id))
        .get_partial_message(int(inter.original_message_id or 0))
        .delete()
    )
    await fake.set_bot_channel_permissions(fake.channel_id, deny=SEND_MESSAGES)  # follow-ups need no permission
    journal = Journal()
    message_id = await notifier.deliver(make_job(fake, **token), IMAGE, journal=journal)
    assert inter.followup_message_ids == [str(message_id)]
    assert channel_posts(fake) == []
    assert journal.calls == [("posting", None), ("posted", message_id)]


async def test_a_resumed_delivery_adopts_the_message_an_interrupted_attempt_posted(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    placeholder = await channel_placeholder(fake, client)
    await client.get_partial_messageable(int(fake.channel_id)).get_partial_message(placeholder).delete()
    job = make_job(fake, placeholder_message_id=placeholder)
    first = await notifier.deliver(job, IMAGE, journal=Journal())  # the crash came before "posted" was stored
    other = make_job(fake, id="0000000000b2", placeholder_message_id=placeholder)
    await notifier.deliver(other, IMAGE, journal=Journal())  # a newer result of another job in the channel

    resumed = DiscordNotifier(client, progress_interval=0.0)
    journal = Journal()
    again = await resumed.deliver(
        make_job(fake, placeholder_message_id=placeholder, post_started_at=time.time() - 5), IMAGE, journal=journal
    )
    assert again == first
    assert len(channel_posts(fake)) == 3  # placeholder, the two results: nothing posted on resume
    assert journal.calls == [("posted", first)]


async def test_a_resumed_delivery_that_cannot_search_for_now_waits_instead_of_posting_again(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    placeholder = await channel_placeholder(fake, client)
    await client.get_partial_messageable(int(fake.channel_id)).get_partial_message(placeholder).delete()
    first = await notifier.deliver(make_job(fake, placeholder_message_id=placeholder), IMAGE, journal=Journal())
    resumed = make_job(fake, placeholder_message_id=placeholder, post_started_at=time.time() - 5)

    # Discord cannot list the channel for now: that says nothing about whether the result is there.
    fake.fail_next("GET", rf"/channels/{fake.channel_id}/messages", 503)
    journal = Journal()
    with pytest.raises(DeliveryDeferred):
        await DiscordNotifier(client, progress_interval=0.0).deliver(resumed, IMAGE, journal=journal)
    assert journal.calls == []
    assert len(channel_posts(fake)) == 2  # the placeholder and the one result: nothing posted twice

    journal = Journal()  # the runner tries again later; Discord answers now
    assert await DiscordNotifier(client, progress_interval=0.0).deliver(resumed, IMAGE, journal=journal) == first
    assert journal.calls == [("posted", first)]
    assert len(channel_posts(fake)) == 2


async def test_a_resumed_delivery_posts_when_the_interrupted_attempt_did_not(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    placeholder = await channel_placeholder(fake, client)
    await client.get_partial_messageable(int(fake.channel_id)).get_partial_message(placeholder).delete()
    job = make_job(fake, placeholder_message_id=placeholder, post_started_at=time.time() - 5)
    journal = Journal()
    message_id = await notifier.deliver(job, IMAGE, journal=journal)
    assert channel_posts(fake) == [str(placeholder), str(message_id)]
    assert journal.calls == [("posting", None), ("posted", message_id)]


async def test_a_recorded_result_is_adopted_without_a_request(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    before = len(fake.requests)
    job = make_job(fake, placeholder_message_id=123, result_message_id=456)
    assert await notifier.deliver(job, IMAGE, journal=Journal()) == 456
    assert fake.requests[before:] == []


async def test_dead_token_and_a_refusing_channel_dm_the_member_and_alert_the_owners(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier, alerts: Alerts
) -> None:
    inter, token = await interaction_placeholder(fake, client)
    await fake.set_bot_channel_permissions(fake.channel_id, deny=SEND_MESSAGES)
    channel = client.get_channel(int(fake.channel_id))
    assert isinstance(channel, discord.TextChannel)
    for _ in range(500):
        if not channel.permissions_for(channel.guild.me).send_messages:
            break
        await asyncio.sleep(0.01)
    fake.expire_token(inter)  # Discord killed it early: the bot's clock still says it lives
    journal = Journal()
    message_id = await notifier.deliver(make_job(fake, **token), IMAGE, journal=journal)

    dm = fake.dm_channel(fake.member_user)
    (sent,) = fake.channel_messages(dm["id"])
    assert int(sent["id"]) == message_id
    assert f"<#{fake.channel_id}>" in sent["content"]
    assert "Send Messages" in sent["content"]
    assert fake.file_bytes(sent["attachments"][0]) == IMAGE.data
    assert journal.calls == [("posting", None), ("posted", message_id)]
    ((alert, key),) = alerts.sent
    assert fake.channel_id in alert
    assert "Send Messages" in alert
    assert key is not None
    # The webhook answered 401 once; after that the bot used the channel, not the dead token again.
    assert [r.status for r in fake.requests_matching("*", rf"/webhooks/\d+/{inter.token}.*")] == [401]


async def test_everything_refused_is_delivery_failed(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    inter, token = await interaction_placeholder(fake, client)
    await fake.set_bot_channel_permissions(fake.channel_id, deny=VIEW_CHANNEL)
    fake.expire_token(inter)
    fake.refuse_dms(fake.member_user)
    journal = Journal()
    with pytest.raises(DeliveryFailed):
        await notifier.deliver(make_job(fake, **token), IMAGE, journal=journal)
    assert journal.calls == [("posting", None)]


async def test_an_upload_discord_refuses_as_too_large_is_delivery_failed(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    fake.upload_limit = 100
    placeholder = await channel_placeholder(fake, client)
    with pytest.raises(DeliveryFailed):
        await notifier.deliver(make_job(fake, placeholder_message_id=placeholder), IMAGE, journal=Journal())


async def test_owner_alerts_with_one_key_are_sent_once_a_day(fake: FakeDiscord, client: Client) -> None:
    now = [1000.0]
    owner_alerts = OwnerAlerts(client, owner_ids=[int(fake.owner_user["id"])], clock=lambda: now[0])
    owner_alerts.notify("channel 1 refuses", key="c1")
    owner_alerts.notify("channel 1 refuses", key="c1")
    owner_alerts.notify("channel 2 refuses", key="c2")
    now[0] += 24 * 3600 + 1
    owner_alerts.notify("channel 1 still refuses", key="c1")
    await owner_alerts.close()
    sent = [m["content"] for m in fake.channel_messages(fake.dm_channel(fake.owner_user)["id"])]
    assert sorted(sent) == ["channel 1 refuses", "channel 1 still refuses", "channel 2 refuses"]


async def test_progress_never_sends_the_same_text_twice(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    placeholder = await channel_placeholder(fake, client)
    job = make_job(fake, placeholder_message_id=placeholder, state=JobState.QUEUED)
    path = rf"/channels/{fake.channel_id}/messages/{placeholder}"
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
    placeholder = await channel_placeholder(fake, client)
    job = make_job(fake, placeholder_message_id=placeholder, state=JobState.SUBMITTING)
    path = rf"/channels/{fake.channel_id}/messages/{placeholder}"
    notifier.progress(job, Progress(Stage.SUBMITTING))
    await asyncio.sleep(0.1)
    notifier.progress(job, Progress(Stage.GENERATING))
    await fake.wait_for_request("PATCH", path)
    await asyncio.sleep(0.3)  # room for a wrong second edit
    contents = [r.json["content"] for r in fake.requests_matching("PATCH", path)]
    assert contents == [texts.progress_text(Progress(Stage.GENERATING))]


async def test_a_submit_that_lasts_is_shown(fake: FakeDiscord, client: Client, notifier: DiscordNotifier) -> None:
    placeholder = await channel_placeholder(fake, client)
    job = make_job(fake, placeholder_message_id=placeholder, state=JobState.SUBMITTING)
    path = rf"/channels/{fake.channel_id}/messages/{placeholder}"
    notifier.progress(job, Progress(Stage.SUBMITTING))
    await fake.wait_for_request("PATCH", path)
    contents = [r.json["content"] for r in fake.requests_matching("PATCH", path)]
    assert contents == [texts.progress_text(Progress(Stage.SUBMITTING))]


async def test_delivery_waits_for_a_progress_edit_already_on_the_wire(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    placeholder = await channel_placeholder(fake, client)
    job = make_job(fake, placeholder_message_id=placeholder)
    path = rf"/channels/{fake.channel_id}/messages/{placeholder}"
    held = fake.hold_next("PATCH", path)
    notifier.progress(job, Progress(Stage.UPLOADING))
    await asyncio.wait_for(held.arrived.wait(), 5)
    delivery = asyncio.create_task(notifier.deliver(job, IMAGE, journal=Journal()))
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
    placeholder = await channel_placeholder(fake, client)
    job = make_job(fake, placeholder_message_id=placeholder)
    path = rf"/channels/{fake.channel_id}/messages/{placeholder}"
    held = fake.hold_next("PATCH", path)
    notifier.progress(job, Progress(Stage.UPLOADING))
    await asyncio.wait_for(held.arrived.wait(), 5)
    delivery = asyncio.create_task(notifier.deliver(job, IMAGE, journal=Journal()))
    await asyncio.sleep(0)
    held.release()
    # The image follows the answered edit at once, not after the interval (nor after the 30 s settle timeout).
    await asyncio.wait_for(delivery, 10)
    shown = fake.message(placeholder)
    assert shown is not None
    assert shown["attachments"]


async def test_fail_shows_the_reason_and_reports_refusal(
    fake: FakeDiscord, client: Client, notifier: DiscordNotifier
) -> None:
    placeholder = await channel_placeholder(fake, client)
    job = make_job(fake, placeholder_message_id=placeholder)
    assert await notifier.fail(job, JobFailure(FailureCode.TIMEOUT)) is True
    shown = fake.message(placeholder)
    assert shown is not None
    assert "refunded" in shown["content"]
    gone = make_job(fake, id="0000000000b2", placeholder_message_id=placeholder + 1)
    assert await notifier.fail(gone, JobFailure(FailureCode.TIMEOUT)) is False
