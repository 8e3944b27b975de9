"""Pieces every image command shares: prompt validation, aspect-ratio choices, job requests from interactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.errors import InvalidInput
from bot.reapi import AspectRatio
from bot.store import JobKind, NewJob

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ASPECT_CHOICES", "MAX_PROMPT_CHARS", "PromptTransformer", "job_request", "placeholder_id"]

# reAPI takes 20,000 characters; Discord's option limit is 6,000 and that is plenty for a prompt.
MAX_PROMPT_CHARS = 6000

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
        prompt = value.strip()
        if not prompt:
            raise InvalidInput("Your prompt is empty. Describe the image you want, e.g. `a fox in the snow`.")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InvalidInput(f"Your prompt is {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}.")
        return prompt


async def placeholder_id(
    interaction: discord.Interaction[Any], callback: discord.InteractionCallbackResponse[Any] | None
) -> int:
    """The id of the deferred "thinking" message that the job will edit."""
    if callback is not None and callback.message_id is not None:
        return callback.message_id
    return (await interaction.original_response()).id


def job_request(
    interaction: discord.Interaction[Any],
    *,
    kind: JobKind,
    prompt: str,
    aspect_ratio: str,
    placeholder: int,
    image_urls: Sequence[str] = (),
    sources: Sequence[str] = (),
    parent_job_id: str | None = None,
) -> NewJob:
    """Describe the job an interaction asks for; the runner adds cost, scope and mode."""
    assert interaction.channel_id is not None  # application commands always come from a channel
    return NewJob(
        kind=kind,
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        prompt=prompt,
        aspect_ratio=aspect_ratio,
        image_urls=tuple(image_urls),
        sources=tuple(sources),
        parent_job_id=parent_job_id,
        application_id=interaction.application_id,
        interaction_token=interaction.token,
        interaction_expires_at=interaction.expires_at.timestamp(),
        placeholder_message_id=placeholder,
        upload_limit=interaction.filesize_limit,
    )
