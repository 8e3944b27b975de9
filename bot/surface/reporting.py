"""One place that turns any command error into a short, friendly, ephemeral answer."""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from bot.engine.errors import Refusal
from bot.surface import texts, texts_refusals
from bot.surface.errors import UserFacingError

__all__ = ["report_error", "user_message_for"]

log = logging.getLogger(__name__)


def _unwrap(error: BaseException) -> BaseException:
    """discord.py wraps callback errors (CommandInvokeError) and transformer errors (TransformerError)."""
    for _ in range(3):
        if isinstance(error, app_commands.CommandInvokeError):
            error = error.original
        elif isinstance(error, app_commands.TransformerError) and error.__cause__ is not None:
            error = error.__cause__
        else:
            break
    return error


def user_message_for(error: BaseException) -> tuple[str, str | None]:
    """The member-facing text for ``error`` and, for unexpected errors, an id to find it in the log."""
    error = _unwrap(error)
    if isinstance(error, UserFacingError):
        return error.user_message, None
    if isinstance(error, Refusal):
        return texts_refusals.refusal_text(error), None
    if isinstance(error, app_commands.NoPrivateMessage):
        return texts.SERVER_ONLY, None
    if isinstance(error, app_commands.CheckFailure):
        return texts.NOT_ALLOWED_HERE, None
    error_id = secrets.token_hex(4)
    return texts.unexpected_error(error_id), error_id


# Discord's answer to a callback sent after its 3 s (or to a token it dropped): the interaction is gone.
_UNKNOWN_INTERACTION = 10062


async def report_error(interaction: discord.Interaction[discord.Client], error: BaseException) -> None:
    """Answer ``interaction`` ephemerally with what went wrong; log what members cannot see."""
    command = interaction.command.qualified_name if interaction.command else f"interaction type {interaction.type}"
    original = _unwrap(error)
    if isinstance(original, discord.NotFound) and original.code == _UNKNOWN_INTERACTION:
        # Acknowledged too late (an overloaded bot): any answer would fail the same way, and under overload a
        # traceback per interaction costs more CPU than the commands themselves, which makes more of them late.
        log.warning("%s for user %s was acknowledged too late (10062); not answered", command, interaction.user.id)
        return
    message, error_id = user_message_for(error)
    if error_id is not None:
        log.error(
            "error %s in %s (user %s, guild %s)",
            error_id,
            command,
            interaction.user.id,
            interaction.guild_id,
            exc_info=error,
        )
    else:
        log.info("refused %s for user %s: %s", command, interaction.user.id, message)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(message, ephemeral=True)
        elif not interaction.is_expired():
            await interaction.followup.send(message, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not report an error to user %s: %s", interaction.user.id, exc)
