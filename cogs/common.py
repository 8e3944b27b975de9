"""Pieces every image command shares: prompt validation and aspect-ratio choices."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.intake import MAX_PROMPT_CHARS, clean_prompt
from bot.reapi import AspectRatio

__all__ = ["ASPECT_CHOICES", "PromptTransformer"]

_ASPECT_LABELS = {
    "auto": "auto (the model decides)",
    "1:1": "1:1 square",
    "16:9": "16:9 widescreen",
    "9:16": "9:16 phone / story",
    "4:3": "4:3 classic",
    "3:4": "3:4 portrait",
    "3:2": "3:2 photo",
    "2:3": "2:3 portrait photo",
    "21:9": "21:9 cinema",
}
ASPECT_CHOICES = [
    app_commands.Choice(name=_ASPECT_LABELS.get(ratio.value, ratio.value), value=ratio.value) for ratio in AspectRatio
]


class PromptTransformer(app_commands.Transformer[discord.Client]):
    """A prompt: trimmed, 1 to 6,000 characters (Discord enforces the length before we see it)."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    @property
    def min_value(self) -> int:
        return 1

    @property
    def max_value(self) -> int:
        return MAX_PROMPT_CHARS

    async def transform(self, interaction: discord.Interaction[discord.Client], value: str, /) -> str:
        return clean_prompt(value)
