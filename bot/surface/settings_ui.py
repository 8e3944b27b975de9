"""The Discord side of server settings: where a request was made, the /settings embed, moderator alerts."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.engine.credits import refill_time
from bot.engine.server_rules import Place
from bot.surface import texts, texts_settings, ui

if TYPE_CHECKING:
    from bot.engine.credits import CreditLedger
    from bot.engine.guild_settings import GuildSettings
    from bot.engine.server_rules import ServerRules
    from bot.store import SettingsChange

__all__ = ["ModeratorChannelAlerts", "place_of", "place_of_channel", "settings_embed"]

log = logging.getLogger(__name__)

# Field values are limited to 1,024 characters; lists are cut before that.
_FIELD_LIMIT = 1000


def place_of_channel(channel: object, channel_id: int) -> Place:
    """Where a request was made: the channel, a thread's parent, and whether Discord marks it age-restricted."""
    ids = [channel_id]
    parent_id = getattr(channel, "parent_id", None)
    if isinstance(channel, discord.Thread) and parent_id is not None:
        ids.append(parent_id)
    # Threads inherit their parent's flag; DMs and channels discord.py could not resolve are not age-restricted.
    is_nsfw = getattr(channel, "is_nsfw", None)
    age_restricted = bool(is_nsfw()) if callable(is_nsfw) else False
    return Place(channel_ids=tuple(ids), age_restricted=age_restricted)


def place_of(interaction: discord.Interaction[Any]) -> Place:
    """The place of an interaction (read from the interaction itself: no request)."""
    assert interaction.channel_id is not None  # application commands and components always have a channel
    return place_of_channel(interaction.channel, interaction.channel_id)


def _escaped(value: str) -> str:
    return discord.utils.escape_markdown(value).replace("@", "@\u200b")


def _audit_value(setting: str, value: str | None) -> str:
    if value is None or value == "":
        return texts_settings.SETTINGS_NONE
    if setting in ("channels", "log_channel") and value.isdigit():
        return f"<#{value}>"
    if setting == "blocked_terms":
        return f"||{_escaped(value)}||"  # an admin's list may be offensive: hidden until clicked
    return f"`{value.replace('`', 'ˋ')}`"


def _joined(parts: list[str]) -> str:
    text = ", ".join(parts)
    return texts.shorten(text, _FIELD_LIMIT) if len(text) > _FIELD_LIMIT else text


def settings_embed(
    guild_id: int, settings: GuildSettings, rules: ServerRules, ledger: CreditLedger, changes: list[SettingsChange]
) -> discord.Embed:
    """/settings show: every setting of this server, what the bot owner allows, and the latest changes."""
    embed = discord.Embed(title=texts_settings.SETTINGS_TITLE, colour=ui.EMBED_COLOUR)
    limits = rules.limits
    channels = _joined([f"<#{c}>" for c in sorted(settings.channels)])
    embed.add_field(
        name=texts_settings.SETTINGS_CHANNELS,
        value=texts_settings.settings_channels(settings.channel_mode.value, channels),
        inline=False,
    )
    embed.add_field(
        name=texts_settings.SETTINGS_DEFAULTS,
        value=texts_settings.settings_defaults(
            settings.model or limits.models[0],
            settings.aspect_ratio or "auto",
            own_model=settings.model is not None,
            own_ratio=settings.aspect_ratio is not None,
        ),
        inline=False,
    )
    # User id 0 is nobody (never a bot owner): the terms a member without special roles gets here.
    terms = ledger.terms_for(0, guild_id)
    allowance = terms.rules.allowance if terms.rules is not None else 0
    embed.add_field(
        name=texts_settings.SETTINGS_CREDITS,
        value=texts_settings.settings_credits(
            terms.cost,
            allowance,
            own=settings.cost_per_image is not None or settings.allowance is not None,
            low=limits.min_cost,
            high=max(limits.min_cost, limits.max_cost),
            max_allowance=limits.max_allowance,
        ),
        inline=False,
    )
    shown = _joined([f"||{_escaped(t)}||" for t in settings.blocked_terms])
    embed.add_field(
        name=texts_settings.SETTINGS_BLOCKED_TERMS,
        value=texts_settings.settings_terms(len(settings.blocked_terms), shown),
        inline=False,
    )
    embed.add_field(
        name=texts_settings.SETTINGS_NSFW,
        value=texts_settings.settings_nsfw(rules.nsfw_rule(guild_id).value, own=settings.nsfw_rule is not None),
    )
    embed.add_field(
        name=texts_settings.SETTINGS_REPLY_EDIT,
        value=texts_settings.SETTINGS_ON if settings.reply_edit else texts_settings.SETTINGS_OFF,
    )
    log_channel = settings.log_channel_id
    embed.add_field(
        name=texts_settings.SETTINGS_LOG_CHANNEL,
        value=f"<#{log_channel}>" if log_channel is not None else texts_settings.SETTINGS_NO_LOG_CHANNEL,
    )
    lines = [
        texts_settings.settings_change_line(
            refill_time(c.created_at),
            f"<@{c.actor_id}>",
            c.setting,
            _audit_value(c.setting, c.old_value),
            _audit_value(c.setting, c.new_value),
        )
        for c in changes
    ]
    recent = "\n".join(lines) if lines else texts_settings.SETTINGS_NO_CHANGES
    embed.add_field(name=texts_settings.SETTINGS_RECENT, value=texts.shorten(recent, _FIELD_LIMIT), inline=False)
    return embed


class ModeratorChannelAlerts:
    """Posts moderator alerts in a server's log channel (``/settings log_channel``), in the background."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._tasks: set[asyncio.Task[None]] = set()

    def member_paused(self, *, channel_id: int, user_id: int, strikes: int, until: float) -> None:
        """A member reached the day's content-policy strikes: tell the moderators."""
        text = texts_settings.member_paused_alert(f"<@{user_id}>", strikes, refill_time(until))
        task = asyncio.create_task(self._send(channel_id, text), name="moderator-alert")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, channel_id: int, text: str) -> None:
        try:
            await self._client.get_partial_messageable(channel_id).send(text)
        except discord.HTTPException as exc:
            log.warning("could not post a moderator alert in channel %s: %s", channel_id, exc)

    async def close(self) -> None:
        """Give alerts in flight a moment, then drop them."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        for task in set(self._tasks):
            task.cancel()
