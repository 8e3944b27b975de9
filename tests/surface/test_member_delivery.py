"""Private results (bot/surface/member_delivery.py) through a real discord.py client and the fake Discord: where
each goes, what the journal records of it, and exactly once across a resume."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot.store.members import MemberPreferences
from bot.surface.member_delivery import MemberDeliveryNotifier
from tests.surface.notifier_rig import (
    IMAGE,
    Client,
    Journal,
    channel_placeholder,
    interaction_placeholder,
    make_job,
    refuse_channel_and_kill_token,
)

if TYPE_CHECKING:
    from bot.engine.members import Preferences
    from tests.fakes.fake_discord import FakeDiscord


class _Asked:
    """The preferences these tests need: every member asked for private results ``private`` (and a mention)."""

    def __init__(self, private: str, *, notify: bool = False) -> None:
        self.private = private
        self.notify = notify

    async def get(self, user_id: int) -> MemberPreferences:
        return MemberPreferences(user_id, private=self.private, notify=self.notify)


def _notifier(client: Client, private: str, *, notify: bool = False) -> MemberDeliveryNotifier:
    prefs: Preferences = _Asked(private, notify=notify)  # type: ignore[assignment]
    return MemberDeliveryNotifier(client, preferences=prefs, progress_interval=0.0)


async def test_a_private_dm_result_is_recorded_in_the_dm(fake: FakeDiscord, client: Client) -> None:
    placeholder = await channel_placeholder(fake, client)
    journal = Journal()
    message_id = await _notifier(client, "dm").deliver(
        make_job(fake, placeholder_message_id=placeholder), IMAGE, journal=journal
    )
    dm = fake.dm_channel(fake.member_user)
    assert [int(m["id"]) for m in fake.channel_messages(dm["id"])] == [message_id]
    assert journal.calls == [("posting", None), ("posted", message_id)]
    assert journal.places[message_id] == (int(dm["id"]), False)


async def test_a_resumed_private_dm_delivery_adopts_the_dm_an_interrupted_attempt_sent(
    fake: FakeDiscord, client: Client
) -> None:
    placeholder = await channel_placeholder(fake, client)
    job = make_job(fake, placeholder_message_id=placeholder)
    # The first attempt sent the DM, and the process died before "posted" was stored.
    first = await _notifier(client, "dm").deliver(job, IMAGE, journal=Journal())

    resumed = make_job(fake, placeholder_message_id=placeholder, post_started_at=time.time() - 5)
    journal = Journal()
    again = await _notifier(client, "dm").deliver(resumed, IMAGE, journal=journal)
    dm = fake.dm_channel(fake.member_user)
    assert again == first
    assert len(fake.channel_messages(dm["id"])) == 1  # the member got the image once
    assert journal.calls == [("posted", first)]
    assert journal.places[first] == (int(dm["id"]), False)


async def test_a_result_the_channel_refused_goes_by_dm_without_a_mention_in_that_channel(
    fake: FakeDiscord, client: Client
) -> None:
    # The member asked to be mentioned when an image is ready; the token is dead and the channel refuses the bot, so
    # the image goes by DM, which notifies them itself. A mention in the channel would be refused, and would link
    # to the DM's message as if it were in the channel.
    inter, token = await interaction_placeholder(fake, client)
    await refuse_channel_and_kill_token(fake, client, inter)
    journal = Journal()
    message_id = await _notifier(client, "off", notify=True).deliver(make_job(fake, **token), IMAGE, journal=journal)

    dm = fake.dm_channel(fake.member_user)
    assert [int(m["id"]) for m in fake.channel_messages(dm["id"])] == [message_id]
    assert journal.places[message_id] == (int(dm["id"]), False)
    posts = fake.requests_matching("POST", rf"/channels/{fake.channel_id}/messages")
    assert [r.status for r in posts] == [403]  # the result's own attempt; no mention after it
