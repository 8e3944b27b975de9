"""/settings: a server's own settings, shown and changed by its admins (Manage Server) or bot owners."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.surface import texts, texts_settings
from bot.surface.errors import InvalidInput, NotAllowed, UserFacingError
from bot.surface.settings_ui import settings_embed

# Runtime import: discord.py evaluates the command annotations that use these.
from cogs.common import FlagOption, IntOption, TextOption  # noqa: TC001

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.engine.credits import CreditLedger
    from bot.engine.guild_settings import GuildSettings
    from bot.engine.server_rules import ServerRules
    from bot.surface.app import ImagineBot

    Interaction = discord.Interaction[ImagineBot]
    Mutation = Callable[[GuildSettings], tuple[GuildSettings, str | None, str | None]]

__all__ = ["ChoiceOption", "SettingsCog", "SettingsOnly", "setup"]

AnyChannel = app_commands.AppCommandChannel | app_commands.AppCommandThread


class SettingsOnly(UserFacingError, app_commands.CheckFailure):
    """Raised by the cog check, so the tree's error handler answers with this message."""


class ChoiceOption(app_commands.Transformer[discord.Client]):
    """One of a fixed list of strings, offered as choices and checked again in the bot."""

    def __init__(self, *values: str) -> None:
        self._values = values

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    @property
    def choices(self) -> list[app_commands.Choice[int | float | str]]:
        return cast(
            "list[app_commands.Choice[int | float | str]]", [app_commands.Choice(name=v, value=v) for v in self._values]
        )

    async def transform(self, interaction: discord.Interaction[discord.Client], value: object, /) -> str:
        if isinstance(value, str) and value in self._values:
            return value
        raise InvalidInput(texts_settings.not_one_of(", ".join(self._values)))


_MODES = ChoiceOption("everywhere", "only_listed", "except_listed")
_NSFW = ChoiceOption("allow", "age_restricted_only", "never", "default")


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SettingsCog(commands.GroupCog, group_name="settings", group_description="This server's bot settings"):
    """Per-server settings. ``default_permissions`` only hides the group; every call is checked here again."""

    def __init__(self, *, rules: ServerRules, ledger: CreditLedger, owner_ids: frozenset[int]) -> None:
        self._rules = rules
        self._ledger = ledger
        self._owner_ids = owner_ids
        super().__init__()

    async def interaction_check(self, interaction: Interaction, /) -> bool:  # type: ignore[override]
        """A server, and a bot owner or a member with Manage Server there."""
        if interaction.guild_id is None:
            raise SettingsOnly(texts.SERVER_ONLY)
        if interaction.user.id in self._owner_ids or interaction.permissions.manage_guild:
            return True
        raise SettingsOnly(texts_settings.SETTINGS_ONLY)

    @app_commands.command(name="show")
    async def show(self, interaction: Interaction) -> None:
        """Show this server's settings, what the bot owner allows, and the latest changes."""
        guild_id = self._guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._rules.refresh()  # after the ack: show what every process will apply, not an old copy
        changes = await self._rules.audit(guild_id)
        embed = settings_embed(guild_id, self._rules.get(guild_id), self._rules, self._ledger, changes)
        await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="channels")
    async def channels(self, interaction: Interaction, mode: app_commands.Transform[str, _MODES]) -> None:
        """Where the bot may be used: everywhere, only in the listed channels, or everywhere but them.

        Parameters
        ----------
        mode:
            everywhere, only_listed (an allow-list) or except_listed (a deny-list).
        """
        await self._change(
            interaction, "channel_mode", lambda s: (s.with_channel_mode(mode), s.channel_mode.value, mode)
        )

    @app_commands.command(name="channel")
    async def channel(
        self,
        interaction: Interaction,
        channel: AnyChannel,
        listed: app_commands.Transform[bool, FlagOption(name="listed")] = True,
    ) -> None:
        """Put a channel on this server's channel list, or take it off.

        Parameters
        ----------
        channel:
            The channel (a thread counts as its parent channel too).
        listed:
            True to add it (the default), false to remove it.
        """
        limits = self._rules.limits

        def mutate(s: GuildSettings) -> tuple[GuildSettings, str | None, str | None]:
            new = s.with_channel(channel.id, listed=listed, limits=limits)
            return new, None if listed else str(channel.id), str(channel.id) if listed else None

        await self._change(interaction, "channels", mutate)

    @app_commands.command(name="defaults")
    async def defaults(
        self,
        interaction: Interaction,
        model: app_commands.Transform[str, TextOption(1, 100, name="model")] | None = None,
        aspect_ratio: app_commands.Transform[str, TextOption(1, 20, name="aspect_ratio")] | None = None,
    ) -> None:
        """The model and aspect ratio used when a member does not choose ("default": the bot owner's).

        Parameters
        ----------
        model:
            A model the bot offers, or "default".
        aspect_ratio:
            e.g. 1:1, 16:9, 9:16, or "default" (auto).
        """
        limits = self._rules.limits
        model_value = model.strip().lower() if model is not None else None
        ratio_value = aspect_ratio.strip().lower() if aspect_ratio is not None else None
        setting = "model" if ratio_value is None else "aspect_ratio" if model_value is None else "defaults"

        def mutate(s: GuildSettings) -> tuple[GuildSettings, str | None, str | None]:
            new = s.with_defaults(model=model_value, aspect_ratio=ratio_value, limits=limits)
            return new, _pair(s.model, s.aspect_ratio), _pair(new.model, new.aspect_ratio)

        await self._change(interaction, setting, mutate)

    @app_commands.command(name="credits")
    async def credits(
        self,
        interaction: Interaction,
        cost_per_image: app_commands.Transform[int, IntOption(0, 1_000_000, name="cost_per_image")] | None = None,
        allowance: app_commands.Transform[int, IntOption(0, 1_000_000, name="allowance")] | None = None,
        reset: app_commands.Transform[bool, FlagOption(name="reset")] = False,
    ) -> None:
        """What an image costs here and the allowance per refill, within the bot owner's limits.

        Parameters
        ----------
        cost_per_image:
            Credits one image costs in this server.
        allowance:
            Credits a member gets per refill in this server.
        reset:
            True: go back to the bot owner's values.
        """
        limits = self._rules.limits

        def mutate(s: GuildSettings) -> tuple[GuildSettings, str | None, str | None]:
            new = s.with_credits(cost_per_image=cost_per_image, allowance=allowance, reset=reset, limits=limits)
            return new, _pair(s.cost_per_image, s.allowance), _pair(new.cost_per_image, new.allowance)

        await self._change(interaction, "credits", mutate)

    @app_commands.command(name="block")
    async def block(
        self, interaction: Interaction, term: app_commands.Transform[str, TextOption(1, 100, name="term")]
    ) -> None:
        """Refuse prompts holding a term (whole words, any case or accents; * stands for any letters).

        Parameters
        ----------
        term:
            A word or phrase, e.g. "gore" or "blood*".
        """
        await self._term(interaction, term, blocked=True)

    @app_commands.command(name="unblock")
    async def unblock(
        self, interaction: Interaction, term: app_commands.Transform[str, TextOption(1, 100, name="term")]
    ) -> None:
        """Take a term off this server's blocked list.

        Parameters
        ----------
        term:
            The term as listed in /settings show.
        """
        await self._term(interaction, term, blocked=False)

    @app_commands.command(name="nsfw")
    async def nsfw(self, interaction: Interaction, rule: app_commands.Transform[str, _NSFW]) -> None:
        """Where prompts that look NSFW may be used.

        Parameters
        ----------
        rule:
            allow, age_restricted_only, never, or default (the bot owner's rule).
        """
        await self._change(
            interaction,
            "nsfw_rule",
            lambda s: (s.with_nsfw_rule(rule), s.nsfw_rule.value if s.nsfw_rule else "default", rule),
        )

    @app_commands.command(name="reply_edit")
    async def reply_edit(
        self, interaction: Interaction, enabled: app_commands.Transform[bool, FlagOption(name="enabled")]
    ) -> None:
        """Turn reply-to-edit (mention the bot in a reply to an image) on or off here.

        Parameters
        ----------
        enabled:
            True: on; false: off.
        """
        await self._change(
            interaction, "reply_edit", lambda s: (s.with_reply_edit(enabled), _flag(s.reply_edit), _flag(enabled))
        )

    @app_commands.command(name="log_channel")
    async def log_channel(self, interaction: Interaction, channel: AnyChannel | None = None) -> None:
        """Where moderator alerts go (a member paused after content-policy failures); leave empty for none.

        Parameters
        ----------
        channel:
            The moderators' channel; leave it out to stop the alerts.
        """
        new_id = channel.id if channel is not None else None

        def mutate(s: GuildSettings) -> tuple[GuildSettings, str | None, str | None]:
            old = s.log_channel_id
            return s.with_log_channel(new_id), str(old) if old else None, str(new_id) if new_id else None

        await self._change(interaction, "log_channel", mutate)

    # -- helpers ----------------------------------------------------------------------------------

    async def _term(self, interaction: Interaction, term: str, *, blocked: bool) -> None:
        limits = self._rules.limits

        def mutate(s: GuildSettings) -> tuple[GuildSettings, str | None, str | None]:
            new, cleaned = s.with_term(term, blocked=blocked, limits=limits)
            return new, None if blocked else cleaned, cleaned if blocked else None

        await self._change(interaction, "blocked_terms", mutate)

    async def _change(self, interaction: Interaction, setting: str, mutate: Mutation) -> None:
        guild_id = self._guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._rules.change(guild_id, actor_id=interaction.user.id, setting=setting, mutate=mutate)
        await interaction.followup.send(texts_settings.settings_changed(setting), ephemeral=True)

    @staticmethod
    def _guild(interaction: Interaction) -> int:
        if interaction.guild_id is None:
            raise NotAllowed(texts.SERVER_ONLY)
        return interaction.guild_id


def _pair(first: object, second: object) -> str:
    return f"{'-' if first is None else first} / {'-' if second is None else second}"


def _flag(value: bool) -> str:
    return texts_settings.SETTINGS_ON if value else texts_settings.SETTINGS_OFF


async def setup(bot: ImagineBot) -> None:
    """Extension entry point: give the cog the services it uses."""
    services = bot.services
    owner_ids = frozenset(bot.settings.discord.owner_ids)
    await bot.add_cog(SettingsCog(rules=services.server_rules, ledger=services.ledger, owner_ids=owner_ids))
