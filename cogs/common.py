"""Option types every command shares: prompts, aspect ratios and bounded numbers and texts, checked in the bot.

Discord shows choices and enforces min/max only in its own clients; a modified client can send any value, so each
transformer here checks the value again and refuses it with a clear ephemeral message before anything is stored.
"""

from __future__ import annotations

from typing import cast

import discord
from discord import app_commands

from bot.reapi import AspectRatio
from bot.reapi.specs import RESOLUTION_PIXELS
from bot.surface import texts, texts_models
from bot.surface.errors import InvalidInput
from bot.surface.intake import MAX_PROMPT_CHARS, clean_prompt

__all__ = [
    "ASPECT_CHOICES",
    "AspectRatioOption",
    "FlagOption",
    "IntOption",
    "PromptTransformer",
    "ResolutionOption",
    "TextOption",
]

ASPECT_CHOICES = [
    app_commands.Choice(name=texts.ASPECT_LABELS.get(ratio.value, ratio.value), value=ratio.value)
    for ratio in AspectRatio
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
            raise InvalidInput(texts.PROMPT_NOT_TEXT)
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
        raise InvalidInput(texts.aspect_ratio_not_listed(allowed))


class ResolutionOption(app_commands.Transformer[discord.Client]):
    """A resolution any model offers, as choices; whether the chosen model offers it is the runner's check."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    @property
    def choices(self) -> list[app_commands.Choice[int | float | str]]:
        return [app_commands.Choice(name=r, value=r) for r in RESOLUTION_PIXELS]

    async def transform(self, interaction: discord.Interaction[discord.Client], value: object, /) -> str:
        text = value.strip().lower() if isinstance(value, str) else ""
        if text in RESOLUTION_PIXELS:
            return text
        raise InvalidInput(texts_models.resolution_not_listed(", ".join(RESOLUTION_PIXELS)))


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
        raise InvalidInput(texts.number_out_of_range(self._name, self._low, self._high))


class TextOption(_BoundedOption):
    """A text of ``low`` to ``high`` characters, checked again in the bot."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    async def transform(self, interaction: discord.Interaction[discord.Client], value: object, /) -> str:
        if isinstance(value, str) and self._low <= len(value) <= self._high:
            return value
        raise InvalidInput(texts.text_out_of_range(self._name, self._low, self._high))


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
        raise InvalidInput(texts.not_a_flag(self._name))
