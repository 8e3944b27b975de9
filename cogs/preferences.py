"""/preferences: a member's default aspect ratio, model, private results and a mention when an image is ready."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.members import PreferenceRefused
from bot.store.members import PRIVATE_MODES
from bot.surface import texts_members, ui
from bot.surface.errors import InvalidInput

# Runtime import: discord.py evaluates the command annotations that use these.
from cogs.common import FlagOption, ModelRatioOption, TextOption, fit_ratio_choices

if TYPE_CHECKING:
    from bot.engine.members import Preferences
    from bot.engine.pricing import ModelCatalogue
    from bot.store.members import MemberPreferences
    from bot.surface.app import ImagineBot

    Interaction = discord.Interaction[ImagineBot]

__all__ = ["PreferencesCog", "PrivateOption", "preferences_embed", "setup"]

_PRIVATE_CHOICES = [app_commands.Choice(name=texts_members.PRIVATE_CHOICES[m], value=m) for m in PRIVATE_MODES]


class PrivateOption(app_commands.Transformer[discord.Client]):
    """How results are shown: off, dm or ephemeral (choices are not enforced by Discord: checked here)."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    @property
    def choices(self) -> list[app_commands.Choice[int | float | str]]:
        return cast("list[app_commands.Choice[int | float | str]]", _PRIVATE_CHOICES)

    async def transform(self, interaction: discord.Interaction[discord.Client], value: object, /) -> str:
        if isinstance(value, str) and value in PRIVATE_MODES:
            return value
        refusal = PreferenceRefused(field="private", value=str(value), allowed=PRIVATE_MODES)
        raise InvalidInput(texts_members.preference_refused(refusal))


def preferences_embed(prefs: MemberPreferences, *, model: str, saved: bool) -> discord.Embed:
    """What /preferences shows: every preference and its current value."""
    embed = discord.Embed(title=texts_members.PREFERENCES_TITLE, colour=ui.EMBED_COLOUR)
    if saved:
        embed.description = texts_members.PREFERENCES_SAVED
    embed.add_field(name=texts_members.PREF_ASPECT_RATIO, value=prefs.aspect_ratio or texts_members.AUTO_DEFAULT)
    embed.add_field(name=texts_members.PREF_MODEL, value=f"`{model}`")
    embed.add_field(name=texts_members.PREF_PRIVATE, value=texts_members.PRIVATE_LABELS[prefs.private], inline=False)
    embed.add_field(name=texts_members.PREF_NOTIFY, value=texts_members.ON if prefs.notify else texts_members.OFF)
    embed.set_footer(text=texts_members.PREFERENCES_FOOTER)
    return embed


class PreferencesCog(commands.Cog):
    """The /preferences command."""

    def __init__(self, *, preferences: Preferences, catalogue: ModelCatalogue) -> None:
        self._preferences = preferences
        fit_ratio_choices(self.preferences, catalogue)  # a default may be any ratio an enabled model takes

    @app_commands.command(name="preferences")
    async def preferences(
        self,
        interaction: Interaction,
        aspect_ratio: app_commands.Transform[str, ModelRatioOption] | None = None,
        model: app_commands.Transform[str, TextOption(1, 100, name="model")] | None = None,
        private: app_commands.Transform[str, PrivateOption] | None = None,
        notify: app_commands.Transform[bool, FlagOption(name="notify")] | None = None,
        reset: app_commands.Transform[bool, FlagOption(name="reset")] = False,
    ) -> None:
        """Your defaults for new images; with no options, shows them.

        Parameters
        ----------
        aspect_ratio:
            The shape /imagine uses when you give none ("auto" lets the model decide).
        model:
            The image model to use (the bot's enabled models).
        private:
            Show your results only to you: by DM, or as a message only you can see.
        notify:
            Mention you when an image is ready.
        reset:
            Go back to the defaults first.
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        changing = reset or any(v is not None for v in (aspect_ratio, model, private, notify))
        user_id = interaction.user.id
        if changing:
            try:
                prefs = await self._preferences.update(
                    user_id, aspect_ratio=aspect_ratio, model=model, private=private, notify=notify, reset=reset
                )
            except PreferenceRefused as refusal:
                raise InvalidInput(texts_members.preference_refused(refusal)) from None
        else:
            prefs = await self._preferences.get(user_id)
        embed = preferences_embed(prefs, model=self._preferences.model_of(prefs), saved=changing)
        await interaction.followup.send(embed=embed, ephemeral=True)


async def setup(bot: ImagineBot) -> None:
    """Extension entry point: give the cog the services it uses."""
    await bot.add_cog(PreferencesCog(preferences=bot.services.preferences, catalogue=bot.services.runner.catalogue))
