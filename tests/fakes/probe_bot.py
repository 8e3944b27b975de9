"""A minimal real discord.py bot that exercises the fake Discord (``tests/e2e/test_fake_discord.py``)."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib

import discord
from discord import ui
from discord.ext import commands

__all__ = ["PNG", "ProbeBot", "png"]


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG of the given size (a gradient, so it compresses but not to nothing)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # one filter byte per row, then RGB pixels
    raw = b"".join(
        b"\x00" + b"".join(bytes([x * 40 % 256, y * 60 % 256, 200]) for x in range(width)) for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PNG = png(3, 2)


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
    """Slash commands, a modal, a context menu and listeners: one of each thing the fake must serve."""

    def __init__(self) -> None:
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before on_ready (default 2 s).
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.resumed = asyncio.Event()
        self.messages: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.modal_values: asyncio.Future[tuple[str, str]] = loop.create_future()
        self.edited: asyncio.Future[discord.InteractionMessage] = loop.create_future()
        self.interactions: dict[int, discord.Interaction] = {}  # every interaction seen, by id
        self.release_slow = asyncio.Event()
        self.slow_ack: asyncio.Future[discord.HTTPException | None] = loop.create_future()
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

        @self.tree.command(name="hold", description="an ephemeral defer and nothing else (the test goes on)")
        async def hold(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)

        @self.tree.command(name="slow", description="acknowledges only when the test says so")
        async def slow(interaction: discord.Interaction) -> None:
            await self.release_slow.wait()
            try:
                await interaction.response.defer(thinking=True)
            except discord.HTTPException as exc:
                self.slow_ack.set_result(exc)
            else:
                self.slow_ack.set_result(None)

        @self.tree.context_menu(name="Reimagine")
        async def reimagine(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(f"reimagining {message.id}: {message.content}", ephemeral=True)

    async def on_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.interactions[interaction.id] = interaction

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot:
            self.messages.put_nowait(message)
