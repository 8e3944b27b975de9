"""/imagine: text-to-image."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.credits import role_ids_of
from bot.store import JobKind
from bot.surface.intake import job_request, public_placeholder
from bot.surface.model_choice import choose
from bot.surface.services import services_of
from bot.surface.settings_ui import place_of

# Runtime import: discord.py evaluates the command annotations that use these.
from cogs.common import AspectRatioOption, IntOption, PromptTransformer, ResolutionOption, TextOption  # noqa: TC001

if TYPE_CHECKING:
    from bot.engine.members import Preferences
    from bot.engine.runner import JobRunner
    from bot.surface.app import ImagineBot

__all__ = ["ImagineCog", "setup"]


class ImagineCog(commands.Cog):
    """The /imagine command."""

    def __init__(self, *, runner: JobRunner, preferences: Preferences) -> None:
        self._runner = runner
        self._preferences = preferences

    @app_commands.command(name="imagine")
    async def imagine(
        self,
        interaction: discord.Interaction[ImagineBot],
        prompt: app_commands.Transform[str, PromptTransformer],
        aspect_ratio: app_commands.Transform[str, AspectRatioOption] | None = None,
        model: app_commands.Transform[str, TextOption(1, 100, name="model")] | None = None,
        resolution: app_commands.Transform[str, ResolutionOption] | None = None,
        count: app_commands.Transform[int, IntOption(1, 4, name="count")] | None = None,
    ) -> None:
        """Create an image from a description.

        Parameters
        ----------
        prompt:
            What to draw, e.g. "a lighthouse at dusk, watercolour".
        aspect_ratio:
            Shape of the image; "auto" lets the model decide. Default: yours from /preferences, else auto.
        model:
            The image model (the bot's enabled models). Default: yours from /preferences, else the server's.
        resolution:
            0.5k, 1k, 2k or 4k, where the model offers it; larger costs more.
        count:
            How many images (1 to 4, where the model makes several); each one costs.
        """
        # Acknowledge first: everything below may touch the database or the network.
        async with public_placeholder(interaction) as placeholder:
            # After the ack: the member's default may need a query (it is cached after that).
            choice = await choose(
                services_of(interaction),
                interaction.user.id,
                interaction.guild_id,
                model=model,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                count=count,
            )
            await self._runner.submit(
                job_request(interaction, kind=JobKind.IMAGINE, prompt=prompt, placeholder=placeholder, **choice),
                role_ids=role_ids_of(interaction.user),
                place=place_of(interaction),
            )


async def setup(bot: ImagineBot) -> None:
    """Extension entry point: give the cog the services it uses."""
    await bot.add_cog(ImagineCog(runner=bot.services.runner, preferences=bot.services.preferences))
