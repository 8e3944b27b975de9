"""Option types every command shares: prompts, aspect ratios and bounded numbers and texts, checked in the bot.

Discord shows choices and enforces min/max only in its own clients; a modified client can send any value, so each
transformer here checks the value again and refuses it with a clear ephemeral message before anything is stored.
"""

from __future__ import annotations

from typing import cast

import discord
from discord import app_commands

from bot.reapi import AspectRatio
from bot.surface.errors import InvalidInput
from bot.surface.intake import MAX_PROMPT_CHARS, clean_prompt

__all__ = ["ASPECT_CHOICES", "AspectRatioOption", "FlagOption", "IntOption", "PromptTransformer", "TextOption"]

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
    """A prompt: trimmed, 1 to 6,000 visible characters (Discord's length check is redone here)."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    @property
    def min_value(self) -> int:
        return 1

    @property
    def max_value(self) -> int:
        return MAX_PROMPT_CHARS

    async def transform(self, interaction: discord.Interaction[discord.Client], value: object, /) -> str:
        if not isinstance(value, str):
            raise InvalidInput("The prompt must be text.")
        return clean_prompt(value)


class AspectRatioOption(app_commands.Transformer[discord.Client]):
    """One of reAPI's aspect ratios, offered as choices; anything else is refused (choices are not enforced)."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    @property
    def choices(self) -> list[app_commands.Choice[int | float | str]]:
        return cast("list[app_commands.Choice[int | float | str]]", ASPECT_CHOICES)

    async def transform(self, interaction: discord.Interaction[discord.Client], value: object, /) -> str:
        if isinstance(value, str):
            try:
                return AspectRatio(value).value
            except ValueError:
                pass
        allowed = ", ".join(r.value for r in AspectRatio)
        raise InvalidInput(f"That is not an aspect ratio I know. Pick one from the list: {allowed}.")


class _BoundedOption(app_commands.Transformer[discord.Client]):
    """An option bounded by ``low`` and ``high`` (a number's value or a text's length), checked again in the bot."""

    def __init__(self, low: int, high: int, *, name: str) -> None:
        self._low = low
        self._high = high
        self._name = name

    @property
    def min_value(self) -> int:
        return self._low

    @property
    def max_value(self) -> int:
        return self._high


class IntOption(_BoundedOption):
    """A whole number from ``low`` to ``high``: Discord's clients enforce it, the bot checks it again."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.integer

    async def transform(self, interaction: discord.Interaction[discord.Client], value: object, /) -> int:
        # bool is an int in Python; a JSON true is not a number a member typed.
        if isinstance(value, int) and not isinstance(value, bool) and self._low <= value <= self._high:
            return value
        raise InvalidInput(f"`{self._name}` must be a whole number from {self._low:,} to {self._high:,}.")


class TextOption(_BoundedOption):
    """A text of ``low`` to ``high`` characters, checked again in the bot."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    async def transform(self, interaction: discord.Interaction[discord.Client], value: object, /) -> str:
        if isinstance(value, str) and self._low <= len(value) <= self._high:
            return value
        raise InvalidInput(f"`{self._name}` must be a text of {self._low:,} to {self._high:,} characters.")


class FlagOption(app_commands.Transformer[discord.Client]):
    """A true/false option; a string such as "false" would otherwise count as true."""

    def __init__(self, *, name: str) -> None:
        self._name = name

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.boolean

    async def transform(self, interaction: discord.Interaction[discord.Client], value: object, /) -> bool:
        if isinstance(value, bool):
            return value
        raise InvalidInput(f"`{self._name}` must be true or false.")
