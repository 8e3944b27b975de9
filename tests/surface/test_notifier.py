"""The Discord notifier (bot/surface/notifier.py) driven through a real discord.py client and the fake Discord:
where a result goes, exactly once, and what a refusal or a failure shows."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from bot.engine.failures import FailureCode, JobFailure
from bot.engine.ports import DeliveryDeferred, DeliveryFailed
from bot.surface.alerts import OwnerAlerts
from bot.surface.notifier import DiscordNotifier
from tests.fakes.discord_payloads import SEND_MESSAGES, VIEW_CHANNEL
from tests.surface.notifier_rig import (
    IMAGE,
    Alerts,
    Client,
    Journal,
    channel_placeholder,
    channel_posts,
    interaction_placeholder,
    make_job,
    refuse_channel_and_kill_token,
)

if TYPE_CHECKING:
    from tests.fakes.fake_discord import FakeDiscord


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
    assert journal.places[first] == (None, False)  # found in the job's own channel


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
    await refuse_channel_and_kill_token(fake, client, inter)
    journal = Journal()
    message_id = await notifier.deliver(make_job(fake, **token), IMAGE, journal=journal)

    dm = fake.dm_channel(fake.member_user)
    (sent,) = fake.channel_messages(dm["id"])
    assert int(sent["id"]) == message_id
    assert f"<#{fake.channel_id}>" in sent["content"]
    assert "Send Messages" in sent["content"]
    assert fake.file_bytes(sent["attachments"][0]) == IMAGE.data
    assert journal.calls == [("posting", None), ("posted", message_id)]
    assert journal.places[message_id] == (int(dm["id"]), False)  # where /history must link to
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
