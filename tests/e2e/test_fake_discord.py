"""Proves tests/fakes/fake_discord.py against a REAL (unmodified) discord.py 2.7 bot."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import struct
import zlib
from typing import TYPE_CHECKING, Any

import discord
import pytest
from discord import ui
from discord.ext import commands

from tests.fakes.fake_discord import FakeDiscord, redirect_discord_py

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # one filter byte per row, then RGB pixels
    raw = b"".join(
        b"\x00" + b"".join(bytes([x * 40 % 256, y * 60 % 256, 200]) for x in range(width)) for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PNG = _png(3, 2)


class PromptModal(ui.Modal, title="Describe it"):
    # discord.py 2.6+ layout (Label wrapping a TextInput) next to a legacy bare TextInput (ActionRow).
    prompt: ui.Label[PromptModal] = ui.Label(text="Prompt", component=ui.TextInput(custom_id="prompt"))
    style: ui.TextInput[PromptModal] = ui.TextInput(label="Style", custom_id="style", required=False)

    def __init__(self, sink: asyncio.Future[tuple[str, str]]) -> None:
        super().__init__(custom_id="prompt-modal")
        self.sink = sink

    async def on_submit(self, interaction: discord.Interaction) -> None:
        text_input = self.prompt.component
        assert isinstance(text_input, ui.TextInput)
        self.sink.set_result((text_input.value, self.style.value))
        await interaction.response.send_message("thanks", ephemeral=True)


class FormView(ui.View):
    def __init__(self, sink: asyncio.Future[tuple[str, str]]) -> None:
        super().__init__(timeout=60)
        self.sink = sink

    @ui.button(label="Open", custom_id="open-form")
    async def open_form(self, interaction: discord.Interaction, button: ui.Button[FormView]) -> None:
        await interaction.response.send_modal(PromptModal(self.sink))

    @ui.button(label="Close", custom_id="close-form")
    async def close_form(self, interaction: discord.Interaction, button: ui.Button[FormView]) -> None:
        await interaction.response.edit_message(content="closed", view=None)


class ProbeBot(commands.Bot):
    def __init__(self) -> None:
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before on_ready (default 2 s).
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.resumed = asyncio.Event()
        self.messages: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.modal_values: asyncio.Future[tuple[str, str]] = loop.create_future()
        self.edited: asyncio.Future[discord.InteractionMessage] = loop.create_future()
        self._add_commands()

    def _add_commands(self) -> None:
        @self.tree.command(name="ping", description="pong with a picture")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            message = await interaction.edit_original_response(
                content="pong", attachments=[discord.File(io.BytesIO(PNG), "x.png")]
            )
            self.edited.set_result(message)

        @self.tree.command(name="later", description="ephemeral defer, then follow-ups")
        async def later(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send("first")
            await interaction.followup.send("second")

        @self.tree.command(name="describe", description="look at an attachment")
        async def describe(interaction: discord.Interaction, image: discord.Attachment, note: str = "") -> None:
            data = await image.read()
            await interaction.response.send_message(f"{image.filename} {len(data)} {image.content_type} {note}")

        @self.tree.command(name="form", description="button -> modal")
        async def form(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("fill the form", view=FormView(self.modal_values))

        @self.tree.context_menu(name="Reimagine")
        async def reimagine(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(f"reimagining {message.id}: {message.content}", ephemeral=True)

    async def on_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot:
            self.messages.put_nowait(message)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server
        assert server.errors == []


@pytest.fixture
async def bot(fake: FakeDiscord, caplog: pytest.LogCaptureFixture) -> AsyncIterator[ProbeBot]:
    caplog.set_level(logging.WARNING)
    with redirect_discord_py(fake):
        client = ProbeBot()
        start = asyncio.create_task(client.start(fake.token))
        try:
            done, _ = await asyncio.wait({start, client.ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            if start in done:
                start.result()  # raises whatever stopped the bot
            assert client.ready in done, "bot never became ready"
            yield client
        finally:
            await client.close()
            await asyncio.wait_for(start, timeout=5)
            gc.collect()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []  # no unclosed sessions, no exceptions in handlers/parsers


async def test_login_identify_and_ready(fake: FakeDiscord, bot: ProbeBot) -> None:
    assert bot.user is not None
    assert str(bot.user.id) == fake.bot_user["id"]
    assert bot.application_id == int(fake.application_id)
    assert fake.identify_payloads[0]["intents"] == discord.Intents.default().value
    assert fake.identify_payloads[0]["token"] == "<redacted>"
    startup = [(r.method, r.path, r.bot_auth) for r in fake.requests[:2]]
    assert startup == [("GET", "/users/@me", True), ("GET", "/oauth2/applications/@me", True)]
    guild = bot.get_guild(int(fake.guild_id))
    assert guild is not None
    assert guild.me is not None
    assert not guild.unavailable
    assert guild.owner_id == int(fake.owner_user["id"])
    channel = guild.get_channel(int(fake.channel_id))
    assert isinstance(channel, discord.TextChannel)
    assert channel.permissions_for(guild.me).attach_files


async def test_slash_defer_then_edit_with_png(fake: FakeDiscord, bot: ProbeBot) -> None:
    inter = await fake.send_slash_command("ping")

    callback = await fake.wait_for_request("POST", inter.callback_path)
    assert callback.json == {"type": 5}
    assert callback.query == {"with_response": "1"}
    assert not callback.bot_auth

    edit = await fake.wait_for_request("PATCH", inter.original_path)
    assert edit.json is not None
    assert edit.json["content"] == "pong"
    assert [a["filename"] for a in edit.json["attachments"]] == ["x.png"]
    assert [(f.field_name, f.filename, f.data) for f in edit.files] == [("files[0]", "x.png", PNG)]

    original = fake.original_message(inter)
    assert original is not None
    assert (original["content"], original["flags"], original["type"]) == ("pong", 0, 20)
    attachment = original["attachments"][0]
    assert (attachment["content_type"], attachment["width"], attachment["height"]) == ("image/png", 3, 2)
    assert fake.file_bytes(attachment) == PNG

    message = await asyncio.wait_for(bot.edited, 5)
    assert message.content == "pong"
    assert message.interaction_metadata is not None
    assert await message.attachments[0].read() == PNG  # downloaded over HTTP from the fake


async def test_followup_after_ephemeral_defer_replaces_loading_message(fake: FakeDiscord, bot: ProbeBot) -> None:
    inter = await fake.send_slash_command("later")
    callback = await fake.wait_for_request("POST", inter.callback_path)
    assert callback.json == {"type": 5, "data": {"flags": 64}}
    assert callback.response["interaction"]["response_message_loading"] is True
    second = await fake.wait_for_request("POST", inter.webhook_path, predicate=lambda r: r.json["content"] == "second")
    assert second.query["wait"] == "1"
    original = fake.original_message(inter)
    assert original is not None
    assert (original["content"], original["flags"]) == ("first", 64)  # LOADING (128) cleared, still ephemeral
    assert [m["content"] for m in fake.followup_messages(inter)] == ["second"]


async def test_attachment_option_is_resolved(fake: FakeDiscord, bot: ProbeBot) -> None:
    attachment = fake.add_attachment("cat.png", PNG, "image/png")
    options: list[dict[str, Any]] = [{"name": "image", "value": attachment}, {"name": "note", "value": "hi"}]
    inter = await fake.send_slash_command("describe", options)
    assert inter.payload["data"]["options"][0] == {"name": "image", "type": 11, "value": attachment["id"]}
    callback = await fake.wait_for_request("POST", inter.callback_path)
    assert callback.json == {"type": 4, "data": {"tts": False, "content": f"cat.png {len(PNG)} image/png hi"}}
    await fake.wait_for_request("GET", rf"/attachments/{fake.channel_id}/{attachment['id']}/cat\.png")


async def test_button_modal_round_trip(fake: FakeDiscord, bot: ProbeBot) -> None:
    inter = await fake.send_slash_command("form")
    await fake.wait_for_request("POST", inter.callback_path)
    message = fake.original_message(inter)
    assert message is not None
    assert message["content"] == "fill the form"

    click = await fake.send_component_click("open-form", message=message)
    callback = await fake.wait_for_request("POST", click.callback_path)
    assert callback.json is not None
    assert callback.json["type"] == 9
    modal = fake.modal("prompt-modal")
    assert modal is not None
    assert [c["type"] for c in modal["components"]] == [18, 1]  # ui.Label, then a bare TextInput in an ActionRow

    submit = await fake.send_modal_submit("prompt-modal", {"prompt": "a cat in the rain", "style": "oil"})
    assert [c["type"] for c in submit.payload["data"]["components"]] == [18, 1]
    assert submit.message_id == message["id"]
    assert await asyncio.wait_for(bot.modal_values, 5) == ("a cat in the rain", "oil")
    answer = await fake.wait_for_request("POST", submit.callback_path)
    assert answer.json == {"type": 4, "data": {"tts": False, "content": "thanks", "flags": 64}}


async def test_component_update_message(fake: FakeDiscord, bot: ProbeBot) -> None:
    inter = await fake.send_slash_command("form")
    await fake.wait_for_request("POST", inter.callback_path)
    message = fake.original_message(inter)
    assert message is not None
    click = await fake.send_component_click("close-form", message=message)
    callback = await fake.wait_for_request("POST", click.callback_path)
    assert callback.json == {"type": 7, "data": {"tts": False, "content": "closed", "components": []}}
    assert (message["content"], message["components"]) == ("closed", [])  # the fake's copy was updated in place
    assert message["edited_timestamp"] is not None
    assert any(e["t"] == "MESSAGE_UPDATE" and e["d"]["id"] == message["id"] for e in fake.events)


async def test_command_sync_and_dm_interaction(fake: FakeDiscord, bot: ProbeBot) -> None:
    synced = await bot.tree.sync()
    assert sorted(c.name for c in synced) == ["Reimagine", "describe", "form", "later", "ping"]
    assert [c["name"] for c in fake.commands()] == [c.name for c in synced]
    inter = await fake.send_slash_command("ping", dm=True)
    assert inter.payload["data"]["id"] == str(next(c.id for c in synced if c.name == "ping"))
    assert inter.guild_id is None
    await fake.wait_for_request("PATCH", inter.original_path)
    original = fake.original_message(inter)
    assert original is not None
    assert fake.channel(original["channel_id"]) == fake.dm_channel(fake.member_user)


async def test_message_context_menu(fake: FakeDiscord, bot: ProbeBot) -> None:
    target = await fake.send_message("a sunny beach")
    inter = await fake.send_message_command("Reimagine", target)
    callback = await fake.wait_for_request("POST", inter.callback_path)
    assert callback.json is not None
    assert callback.json["data"]["content"] == f"reimagining {target['id']}: a sunny beach"
    original = fake.original_message(inter)
    assert original is not None
    assert (original["flags"], original["type"]) == (64, 23)


async def test_message_create_mentions_reference_and_reply(fake: FakeDiscord, bot: ProbeBot) -> None:
    first = await fake.send_message("no mention, so no content without the intent")
    seen = await asyncio.wait_for(bot.messages.get(), 5)
    assert seen.id == int(first["id"])
    assert seen.content == ""

    mention = await fake.send_message(f"<@{fake.bot_user['id']}> make it night", reply_to=first)
    seen = await asyncio.wait_for(bot.messages.get(), 5)
    assert seen.id == int(mention["id"])
    assert seen.content == f"<@{fake.bot_user['id']}> make it night"
    assert bot.user in seen.mentions
    assert isinstance(seen.author, discord.Member)
    assert seen.reference is not None
    assert seen.reference.message_id == int(first["id"])

    before = len(fake.requests)
    reply = await seen.reply("on it")
    request = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages", after=before)
    assert request.json is not None
    assert request.json["message_reference"]["message_id"] == int(mention["id"])
    stored = fake.message(reply.id)
    assert stored is not None
    assert (stored["type"], stored["content"]) == (19, "on it")


async def test_gateway_drop_resumes_and_replays(fake: FakeDiscord, bot: ProbeBot) -> None:
    marker = len(fake.gateway_received)
    await fake.drop_gateway()
    missed = await fake.send_message("sent while the bot was disconnected")  # queued for replay
    resume = await fake.wait_for_gateway_op(6, after=marker)
    assert resume.d["session_id"] == fake.session_id
    assert resume.d["token"] == "<redacted>"
    await asyncio.wait_for(bot.resumed.wait(), 5)
    seen = await asyncio.wait_for(bot.messages.get(), 5)
    assert seen.id == int(missed["id"])
    assert (fake.connection_count, len(fake.identify_payloads), fake.resume_count) == (2, 1, 1)


async def test_rate_limited_channel_post_is_retried(fake: FakeDiscord, bot: ProbeBot) -> None:
    fake.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.05)
    channel = bot.get_channel(int(fake.channel_id))
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("hello")
    posts = fake.requests_matching("POST", rf"/channels/{fake.channel_id}/messages")
    assert [r.status for r in posts] == [429, 200]
    assert posts[1].time - posts[0].time >= 0.05
    assert sent.id == int(posts[1].response["id"])


async def test_unknown_route_is_recorded(fake: FakeDiscord, bot: ProbeBot) -> None:
    with pytest.raises(discord.NotFound):
        await bot.http.get_all_custom_emojis(int(fake.guild_id))
    assert [r.path for r in fake.unknown_requests] == [f"/guilds/{fake.guild_id}/emojis"]


async def test_wrong_token_is_rejected(fake: FakeDiscord) -> None:
    with redirect_discord_py(fake):
        client = discord.Client(intents=discord.Intents.none())
        try:
            with pytest.raises(discord.LoginFailure):
                await client.login("not-the-token")
        finally:
            await client.close()
    assert [(r.path, r.status, r.bot_auth, r.has_auth) for r in fake.requests] == [("/users/@me", 401, False, True)]
