"""Option types every command shares: prompts, aspect ratios and bounded numbers and texts, checked in the bot.

Discord shows choices and enforces min/max only in its own clients; a modified client can send any value, so each
transformer here checks the value again and refuses it with a clear ephemeral message before anything is stored.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands

from bot.reapi import AspectRatio
from bot.reapi.specs import MODELS, RESOLUTION_PIXELS
from bot.surface import texts, texts_models
from bot.surface.errors import InvalidInput
from bot.surface.intake import MAX_PROMPT_CHARS, clean_prompt
from bot.surface.model_choice import KNOWN_RATIOS, ratios_of

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bot.engine.pricing import ModelCatalogue

__all__ = [
    "ASPECT_CHOICES",
    "AspectRatioOption",
    "FlagOption",
    "IntOption",
    "ModelRatioOption",
    "PromptTransformer",
    "ResolutionOption",
    "TextOption",
    "fit_model_options",
    "fit_ratio_choices",
]


def aspect_choices(ratios: Iterable[str]) -> list[app_commands.Choice[str]]:
    """The choices offering ``ratios``, each with its label where it has one (translated when synced)."""
    return [_choice(texts.ASPECT_LABELS.get(ratio, ratio), ratio) for ratio in ratios]


def _choice(name: str, value: str) -> app_commands.Choice[str]:
    # A locale_str name is what the translator sees at sync time; discord.py only converts plain names for the
    # choices a command had when it was created, not for those fit_model_options puts in later.
    return app_commands.Choice(name=app_commands.locale_str(name), value=value)


ASPECT_CHOICES = aspect_choices(ratio.value for ratio in AspectRatio)


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


class ModelRatioOption(AspectRatioOption):
    """An aspect ratio for a job: any ratio some model takes (the chosen model's spec is checked later).

    :func:`fit_model_options` narrows the choices to the enabled models' ratios when the command is registered.
    """

    async def transform(self, interaction: discord.Interaction[discord.Client], value: object, /) -> str:
        text = value.strip().lower() if isinstance(value, str) else ""
        if text in KNOWN_RATIOS:
            return text
        raise InvalidInput(texts.aspect_ratio_not_listed(", ".join(KNOWN_RATIOS)))


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


def fit_model_options(command: app_commands.Command[Any, ..., Any], catalogue: ModelCatalogue) -> None:
    """Offer on ``command`` only the model options the operator's enabled models make useful (before the sync).

    ``model`` goes when a single model is enabled, ``resolution`` when none offers more than one, ``count`` when
    none makes several images; the ratio and resolution choices become those of the enabled models and ``count``'s
    maximum their largest. A default install thus shows exactly the options it always did. A removed option a
    modified client sends anyway is ignored (its default applies); the job is still checked against the spec.
    """
    specs = [MODELS[m] for m in catalogue.enabled]
    params = command._params  # discord.py has no public way to drop or re-shape a parameter
    if len(specs) < 2:
        params.pop("model", None)
    resolutions = [r for r in RESOLUTION_PIXELS if any(r in s.resolutions for s in specs)]
    if "resolution" in params:
        if len(resolutions) < 2:
            del params["resolution"]
        else:
            choices = cast("list[app_commands.Choice[int | float | str]]", [_choice(r, r) for r in resolutions])
            params["resolution"] = dataclasses.replace(params["resolution"], choices=choices)
    most = max(s.max_count for s in specs)
    if "count" in params:
        if most < 2:
            del params["count"]
        else:
            params["count"] = dataclasses.replace(params["count"], max_value=most)
    fit_ratio_choices(command, catalogue)


def fit_ratio_choices(command: app_commands.Command[Any, ..., Any], catalogue: ModelCatalogue) -> None:
    """Offer on ``command``'s ``aspect_ratio`` every ratio some enabled model takes (before the sync)."""
    params = command._params  # as above: no public way to re-shape a parameter
    if "aspect_ratio" in params:
        ratios = aspect_choices(ratios_of(catalogue.enabled))
        params["aspect_ratio"] = dataclasses.replace(
            params["aspect_ratio"], choices=cast("list[app_commands.Choice[int | float | str]]", ratios)
        )
