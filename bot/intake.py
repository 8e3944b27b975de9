"""Turning an interaction into a job: the public placeholder, the job request, and errors after the ack."""

from __future__ import annotations

import contextlib
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import UserFacingError
from bot.store import NewJob

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from bot.store import JobKind

__all__ = ["job_request", "public_placeholder"]


@asynccontextmanager
async def public_placeholder(interaction: discord.Interaction[Any]) -> AsyncIterator[int]:
    """Acknowledge at once with a public "thinking" placeholder and yield its message id.

    A UserFacingError raised inside (bad input found after the ack, no credits …) removes the placeholder
    and propagates, so the error handler answers ephemerally and nothing public is left behind.
    """
    callback = await interaction.response.defer(thinking=True)
    if callback is not None and callback.message_id is not None:
        placeholder = callback.message_id
    else:
        placeholder = (await interaction.original_response()).id
    try:
        yield placeholder
    except UserFacingError:
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
        raise


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
    assert interaction.channel_id is not None  # application commands and components always have a channel
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
