"""Turning an interaction into a job: the public placeholder, the job request, and errors after the ack."""

from __future__ import annotations

import contextlib
import unicodedata
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import discord

from bot.engine.credits import role_ids_of
from bot.reapi import AspectRatio
from bot.store import JobKind, NewJob
from bot.surface import texts
from bot.surface.ack_window import AckWindow
from bot.surface.errors import InvalidInput
from bot.surface.model_choice import KNOWN_RATIOS, choose
from bot.surface.services import services_of
from bot.surface.settings_ui import place_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from bot.engine.runner import JobRunner
    from bot.engine.sources import SourceFetcher, SourceImage

__all__ = [
    "MAX_PROMPT_CHARS",
    "clean_prompt",
    "job_for_reply",
    "job_request",
    "missing_post_permissions",
    "parse_aspect_ratio",
    "public_placeholder",
    "submit_edit",
]

# Discord's upload limit where no interaction or guild tells us a larger one.
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024

# reAPI takes 20,000 characters; Discord's option limit is 6,000 and that is plenty for a prompt.
MAX_PROMPT_CHARS = 6000


# Characters that draw nothing although Unicode does not call them whitespace: Hangul fillers, the blank
# Braille pattern, the Mongolian vowel separator, the combining grapheme joiner.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u034f")
# Categories that are never visible on their own: controls, format characters (zero-width space/joiners,
# bidi marks, soft hyphen), separators, combining marks, surrogates, private use and unassigned.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})


def _visible(char: str) -> bool:
    return char not in _BLANK_LOOKING and unicodedata.category(char) not in _INVISIBLE_CATEGORIES


def clean_prompt(value: str) -> str:
    """Trim a prompt, drop control characters and check its length (1 to 6,000 characters).

    A prompt made only of invisible characters (zero-width, fillers, blank Braille, controls) is empty.
    """
    # Nearly every prompt is printable ASCII, and this runs before the ACK: such a prompt has no control character,
    # and the space is its only character that draws nothing, so no character needs a Unicode lookup.
    prompt = value.strip(" ") if value.isascii() and value.isprintable() else _without_blanks(value)
    if not prompt:
        raise InvalidInput(texts.PROMPT_EMPTY)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidInput(texts.prompt_too_long(len(prompt), MAX_PROMPT_CHARS))
    return prompt


def _without_blanks(value: str) -> str:
    """``value`` without control characters (but new lines and tabs) and trimmed of what draws nothing."""
    # Control characters other than new lines and tabs mean nothing to the model and can upset a terminal.
    prompt = "".join(c for c in value if c in "\n\t" or unicodedata.category(c) != "Cc")
    # Trim what draws nothing: all of it in front, and at the end everything but combining marks (an accent
    # on the last letter is part of it).
    start = next((i for i, c in enumerate(prompt) if _visible(c)), len(prompt))
    end = len(prompt)
    while end > start and not _visible(prompt[end - 1]) and unicodedata.category(prompt[end - 1]) not in ("Mn", "Me"):
        end -= 1
    return prompt[start:end]


def parse_aspect_ratio(value: str | None) -> str:
    """An aspect ratio typed by hand (modals have no choices); blank means auto.

    Any ratio some model takes is accepted here; whether the job's model takes it is the catalogue's check.
    """
    text = (value or "").strip().lower() or AspectRatio.AUTO.value
    if text in KNOWN_RATIOS:
        return text
    shown = text[:20].replace("`", "ˋ")  # inside `code`: a backtick must not end it
    raise InvalidInput(texts.unknown_aspect_ratio(shown, ", ".join(KNOWN_RATIOS)))


# What the bot itself needs in a channel to post a result there once the interaction token has expired.
_POST_PERMISSIONS = ("view_channel", "send_messages", "embed_links", "attach_files")


def missing_post_permissions(interaction: discord.Interaction[Any]) -> list[str]:
    """The permissions the bot lacks to post in this interaction's channel (none outside servers).

    Read from ``app_permissions`` in the interaction itself: no request, so it can run before the ack.
    """
    if interaction.guild_id is None:
        return []
    permissions = interaction.app_permissions
    needed = list(_POST_PERMISSIONS)
    if isinstance(interaction.channel, discord.Thread):
        needed[1] = "send_messages_in_threads"
    return [texts.permission_name(flag) for flag in needed if not getattr(permissions, flag)]


@asynccontextmanager
async def public_placeholder(interaction: discord.Interaction[Any]) -> AsyncIterator[int]:
    """Acknowledge at once with a public "thinking" placeholder and yield its message id.

    Any error raised inside (bad input found after the ack, no credits, a database failure …) removes the
    placeholder and propagates, so the error handler answers ephemerally and nothing public is left behind.
    The delete must come first: after a public defer, Discord turns the first follow-up into the placeholder
    itself and ignores ``ephemeral``.

    When the bot could not post in the channel by itself (see :func:`missing_post_permissions`), the job is
    still accepted and the member gets one ephemeral heads-up once it is.
    """
    missing = missing_post_permissions(interaction)
    callback = await interaction.response.defer(thinking=True)
    if callback is not None and callback.message_id is not None:
        placeholder = callback.message_id
    else:
        placeholder = (await interaction.original_response()).id
    warn = bool(missing)
    if warn:
        # Replace the "thinking" state first, so the heads-up below is a follow-up of its own (and ephemeral)
        # rather than the placeholder itself. The runner's progress edits overwrite this line.
        try:
            await interaction.edit_original_response(content=texts.QUEUED)
        except discord.HTTPException:
            warn = False
    window = getattr(interaction.client, "ack_window", None)
    if isinstance(window, AckWindow):
        # ACK first: this command's work (a store read and write, the job's start) goes behind the ACKs of the
        # interactions that came before it, which it would otherwise hold up.
        await window.after_earlier_acks()
    try:
        yield placeholder
    except Exception:
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
        raise
    if warn:
        with contextlib.suppress(discord.HTTPException):
            await interaction.followup.send(texts.permissions_heads_up(missing), ephemeral=True)


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
    model: str = "",
    resolution: str | None = None,
    image_count: int = 1,
) -> NewJob:
    """Describe the job an interaction asks for; the runner adds cost, scope and mode (and, when ``model`` is
    empty, the operator's default model)."""
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
        locale=str(interaction.locale.value),
        model=model,
        resolution=resolution,
        image_count=image_count,
    )


async def submit_edit(
    interaction: discord.Interaction[Any],
    *,
    runner: JobRunner,
    fetcher: SourceFetcher,
    prompt: str,
    aspect_ratio: str | None,
    sources: Sequence[SourceImage],
    parent_job_id: str | None = None,
    model: str | None = None,
    resolution: str | None = None,
    count: int | None = None,
) -> None:
    """The edit flow every entry point shares: placeholder, the server's rules, probe the sources, queue the job.

    The model follows /imagine's precedence (option > /preferences > server default > operator); no ratio, or
    "auto", lets the model decide where it can. A model that cannot edit (Z-Image) or options it does not take
    are refused before any image is fetched, and nothing is charged.
    """
    async with public_placeholder(interaction) as placeholder:
        place = place_of(interaction)
        choice = await choose(
            services_of(interaction),
            interaction.user.id,
            interaction.guild_id,
            model=model,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            count=count,
            preferred_ratio=False,
        )
        request = job_request(
            interaction,
            kind=JobKind.EDIT,
            prompt=prompt,
            placeholder=placeholder,
            image_urls=[s.url for s in sources],
            sources=list(dict.fromkeys(s.link for s in sources)),
            parent_job_id=parent_job_id,
            **choice,
        )
        # A blocked instruction or a model that would refuse is refused before any image is fetched (submit
        # checks both again, from memory).
        await runner.screen(request, place)
        runner.catalogue.check(request)
        await fetcher.check(sources)
        await runner.submit(request, role_ids=role_ids_of(interaction.user), place=place)


def job_for_reply(
    message: discord.Message,
    *,
    prompt: str,
    placeholder: int,
    image_urls: Sequence[str],
    sources: Sequence[str],
    parent_job_id: str | None,
    model: str = "",
    aspect_ratio: str = AspectRatio.AUTO.value,
) -> NewJob:
    """Describe an edit asked for by replying to an image; progress is shown by editing ``placeholder``.

    ``model`` empty: the runner applies the operator's default.
    """
    return NewJob(
        kind=JobKind.EDIT,
        user_id=message.author.id,
        guild_id=message.guild.id if message.guild else None,
        channel_id=message.channel.id,
        prompt=prompt,
        aspect_ratio=aspect_ratio,
        image_urls=tuple(image_urls),
        sources=tuple(sources),
        parent_job_id=parent_job_id,
        placeholder_message_id=placeholder,
        upload_limit=message.guild.filesize_limit if message.guild else DEFAULT_UPLOAD_LIMIT,
        locale=str(message.guild.preferred_locale.value) if message.guild else None,
        model=model,
    )
