"""The floor for loads and start-up: a bare discord.py bot; imports discord.py and nothing of the bot's."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import TYPE_CHECKING

import discord
import yarl
from discord import app_commands

if TYPE_CHECKING:
    import aiohttp

__all__ = ["HoldingFloorBot"]


class HoldingFloorBot(discord.Client):
    """The floor for a load: /imagine defers, holds the job ``hold`` seconds (a sleep), then posts once.

    ``/credits`` defers ephemerally and answers at once (the probe). Nothing else: no database, no polling.
    """

    def __init__(self, hold: float, *, http_trace: aiohttp.TraceConfig | None = None) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            max_messages=None,
            http_trace=http_trace,  # type: ignore[arg-type]  # None is discord.py's default; its hint says otherwise
        )
        self.tree: app_commands.CommandTree[HoldingFloorBot] = app_commands.CommandTree(self)

        @self.tree.command(name="imagine", description="The floor: defer, wait, post.")
        async def imagine(interaction: discord.Interaction[HoldingFloorBot], prompt: str) -> None:
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(hold)
            await interaction.followup.send(f"done: {prompt}", allowed_mentions=discord.AllowedMentions.none())

        @self.tree.command(name="credits", description="The floor's probe: defer and answer.")
        async def credits(interaction: discord.Interaction[HoldingFloorBot]) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send("0", ephemeral=True)


async def _run_floor(api_base_url: str, gateway_url: str) -> None:
    """A floor process for start-up: connects to the fake Discord at these addresses and runs until terminated."""
    discord.http.Route.BASE = api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    async with HoldingFloorBot(hold=0) as bot:
        await bot.start(os.environ["IMAGINEBOT_DISCORD__TOKEN"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.floorbot", description=__doc__)
    parser.add_argument("api_base_url")
    parser.add_argument("gateway_url")
    arguments = parser.parse_args()
    asyncio.run(_run_floor(arguments.api_base_url, arguments.gateway_url))
