"""The rig the notifier's tests share: a bare discord.py client, recording stand-ins and job and placeholder makers.

The client runs against the fake Discord on loopback (``tests/fakes/fake_discord.py``); its fixtures are in
``tests/surface/conftest.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import discord

from bot.engine.images import PreparedImage
from bot.store import Job, JobKind, JobState
from tests.fakes.discord_payloads import SEND_MESSAGES
from tests.fakes.probe_bot import png

if TYPE_CHECKING:
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

__all__ = [
    "IMAGE",
    "Alerts",
    "Client",
    "Journal",
    "channel_placeholder",
    "channel_posts",
    "interaction_placeholder",
    "make_job",
]

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
        self.places: dict[int, tuple[int | None, bool]] = {}  # message id → (DM channel id, ephemeral)

    async def posting(self) -> None:
        self.calls.append(("posting", None))

    async def posted(self, message_id: int, *, channel_id: int | None = None, ephemeral: bool = False) -> None:
        self.calls.append(("posted", message_id))
        self.places[message_id] = (channel_id, ephemeral)


class Alerts:
    """Records owner alerts."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    def notify(self, text: str, *, key: str | None = None) -> None:
        self.sent.append((text, key))

    async def close(self) -> None:
        return None


def make_job(fake: FakeDiscord, **values: object) -> Job:
    """A delivering job of the fake's member in the fake's channel; ``values`` override any field."""
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


async def refuse_channel_and_kill_token(fake: FakeDiscord, client: Client, inter: FakeInteraction) -> None:
    """The last-resort case: the channel refuses the bot's messages (seen by the client) and Discord has killed the
    interaction's token early (the bot's clock still says it lives)."""
    await fake.set_bot_channel_permissions(fake.channel_id, deny=SEND_MESSAGES)
    channel = client.get_channel(int(fake.channel_id))
    assert isinstance(channel, discord.TextChannel)
    for _ in range(500):
        if not channel.permissions_for(channel.guild.me).send_messages:
            break
        await asyncio.sleep(0.01)
    fake.expire_token(inter)


def channel_posts(fake: FakeDiscord) -> list[int]:
    """The ids of the messages the bot posted in the fake's channel, in order."""
    return [r.response["id"] for r in fake.requests_matching("POST", rf"/channels/{fake.channel_id}/messages")]
