"""/admin: credits grant|set|reset, ban, unban and usage. Rights are checked here, on every call."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.credits import role_ids_of
from bot.surface import texts_credits
from bot.surface.account_ui import usage_embed
from bot.surface.errors import NotAllowed, UserFacingError
from bot.surface.member_charts import usage_chart_file

# Runtime import: discord.py evaluates the command annotations that use these.
from cogs.common import FlagOption, IntOption, TextOption  # noqa: TC001

if TYPE_CHECKING:
    from bot.engine.accounts import Accounts
    from bot.store import Balance
    from bot.surface.app import ImagineBot

    Interaction = discord.Interaction[ImagineBot]

__all__ = ["AdminCog", "AdminOnly", "setup"]


class AdminOnly(UserFacingError, app_commands.CheckFailure):
    """Raised by the cog check, so the tree's error handler answers with this message."""


@app_commands.default_permissions(manage_guild=True)
class AdminCog(commands.GroupCog, group_name="admin", group_description="Bot administration"):
    """Admin commands. Admin means a bot owner, or Manage Server in this server for this server's things.

    ``default_permissions`` only hides the group in Discord's UI; every call is checked here again.
    """

    credits = app_commands.Group(name="credits", description="Change a member's credits")

    def __init__(self, *, accounts: Accounts, owner_ids: frozenset[int]) -> None:
        self._accounts = accounts
        self._owner_ids = owner_ids
        super().__init__()

    async def interaction_check(self, interaction: Interaction, /) -> bool:  # type: ignore[override]
        """Every /admin command needs a bot owner, or Manage Server in the server it is used in."""
        if self._is_owner(interaction) or self._is_guild_admin(interaction):
            return True
        raise AdminOnly(texts_credits.ADMIN_ONLY)

    # -- /admin credits ---------------------------------------------------------------------------

    @credits.command(name="grant")
    async def grant(
        self,
        interaction: Interaction,
        member: discord.Member | discord.User,
        amount: app_commands.Transform[int, IntOption(1, 1_000_000, name="amount")],
        note: app_commands.Transform[str, TextOption(1, 200, name="note")] | None = None,
    ) -> None:
        """Give a member extra credits (grants may go past the refill cap).

        Parameters
        ----------
        member:
            Who gets the credits.
        amount:
            How many credits to add (1 to 1,000,000).
        note:
            Why (kept in the ledger; up to 200 characters).
        """
        self._require_balance_rights(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        balance = await self._accounts.grant(
            member.id,
            interaction.guild_id,
            amount,
            role_ids=role_ids_of(member),
            actor_id=interaction.user.id,
            note=note,
        )
        await self._done(interaction, texts_credits.granted(amount, member.mention), balance)

    @credits.command(name="set")
    async def set_balance(
        self,
        interaction: Interaction,
        member: discord.Member | discord.User,
        amount: app_commands.Transform[int, IntOption(0, 1_000_000, name="amount")],
        note: app_commands.Transform[str, TextOption(1, 200, name="note")] | None = None,
    ) -> None:
        """Set a member's balance to an exact amount.

        Parameters
        ----------
        member:
            Whose balance to set.
        amount:
            The new balance (0 to 1,000,000).
        note:
            Why (kept in the ledger; up to 200 characters).
        """
        self._require_balance_rights(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        balance = await self._accounts.set_balance(
            member.id,
            interaction.guild_id,
            amount,
            role_ids=role_ids_of(member),
            actor_id=interaction.user.id,
            note=note,
        )
        await self._done(interaction, texts_credits.balance_set(member.mention), balance)

    @credits.command(name="reset")
    async def reset(self, interaction: Interaction, member: discord.Member | discord.User) -> None:
        """Give a member a fresh start: a full allowance and a new refill period.

        Parameters
        ----------
        member:
            Whose balance to reset.
        """
        self._require_balance_rights(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        balance = await self._accounts.reset(
            member.id, interaction.guild_id, role_ids=role_ids_of(member), actor_id=interaction.user.id
        )
        await self._done(interaction, texts_credits.balance_reset(member.mention), balance)

    # -- bans -------------------------------------------------------------------------------------

    @app_commands.command(name="ban")
    async def ban(
        self,
        interaction: Interaction,
        member: discord.Member | discord.User,
        everywhere: app_commands.Transform[bool, FlagOption(name="everywhere")] = False,
        reason: app_commands.Transform[str, TextOption(1, 200, name="reason")] | None = None,
    ) -> None:
        """Stop a member from creating images (here, or everywhere for bot owners).

        Parameters
        ----------
        member:
            Who to ban.
        everywhere:
            Bot owners only: ban on every server and in DMs.
        reason:
            Why (kept with the ban; up to 200 characters).
        """
        scope = self._ban_scope(interaction, everywhere)
        if member.id in self._owner_ids:
            raise NotAllowed(texts_credits.OWNERS_CANNOT_BE_BANNED)
        await interaction.response.defer(ephemeral=True, thinking=True)
        added = await self._accounts.ban(member.id, scope, actor_id=interaction.user.id, reason=reason)
        await interaction.followup.send(texts_credits.ban_result(member.mention, scope, added=added), ephemeral=True)

    @app_commands.command(name="unban")
    async def unban(
        self,
        interaction: Interaction,
        member: discord.Member | discord.User,
        everywhere: app_commands.Transform[bool, FlagOption(name="everywhere")] = False,
    ) -> None:
        """Lift a ban.

        Parameters
        ----------
        member:
            Who to unban.
        everywhere:
            Bot owners only: lift the ban that applies everywhere.
        """
        scope = self._ban_scope(interaction, everywhere)
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self._accounts.unban(member.id, scope)
        await interaction.followup.send(
            texts_credits.unban_result(member.mention, scope, removed=removed), ephemeral=True
        )

    # -- usage ------------------------------------------------------------------------------------

    @app_commands.command(name="usage")
    async def usage(
        self, interaction: Interaction, days: app_commands.Transform[int, IntOption(1, 31, name="days")] = 7
    ) -> None:
        """Images and credits per day, top members and, for bot owners, reAPI spend against the cap.

        Parameters
        ----------
        days:
            How many UTC days to show, today included (1 to 31).
        """
        guild_id = None if self._is_owner(interaction) else interaction.guild_id
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self._accounts.usage(days, guild_id=guild_id)
        embed = usage_embed(report)
        names = [(u.user_id, _display_name(interaction, u.user_id)) for u in report.usage.top_users]
        chart = await usage_chart_file(report, [(i, n) for i, n in names if n])
        if chart is None:
            await interaction.followup.send(embed=embed, ephemeral=True)
            return
        embed.set_image(url=f"attachment://{chart.filename}")
        await interaction.followup.send(embed=embed, file=chart, ephemeral=True)

    # -- rights -----------------------------------------------------------------------------------

    def _is_owner(self, interaction: Interaction) -> bool:
        return interaction.user.id in self._owner_ids

    @staticmethod
    def _is_guild_admin(interaction: Interaction) -> bool:
        return interaction.guild_id is not None and interaction.permissions.manage_guild

    def _require_balance_rights(self, interaction: Interaction) -> None:
        if self._is_owner(interaction):
            return
        if self._accounts.needs_owner(interaction.guild_id):
            raise NotAllowed(texts_credits.BALANCES_SHARED)
        if not self._is_guild_admin(interaction):
            raise NotAllowed(texts_credits.NEED_MANAGE_SERVER_CREDITS)

    def _ban_scope(self, interaction: Interaction, everywhere: bool) -> str:
        if everywhere or interaction.guild_id is None:
            if not self._is_owner(interaction):
                raise NotAllowed(texts_credits.BAN_EVERYWHERE_OWNERS_ONLY)
            return "global"
        if not (self._is_owner(interaction) or self._is_guild_admin(interaction)):
            raise NotAllowed(texts_credits.NEED_MANAGE_SERVER_BANS)
        return f"guild:{interaction.guild_id}"

    async def _done(self, interaction: Interaction, what: str, balance: Balance) -> None:
        text = texts_credits.balance_now(what, balance.balance, everywhere=balance.scope == "global")
        await interaction.followup.send(text, ephemeral=True)


def _display_name(interaction: Interaction, user_id: int) -> str:
    """A member's name from the cache (no request), or "" when unknown."""
    member = interaction.guild.get_member(user_id) if interaction.guild is not None else None
    return member.display_name if member is not None else ""


async def setup(bot: ImagineBot) -> None:
    """Extension entry point: give the cog the services it uses."""
    owner_ids = frozenset(bot.settings.discord.owner_ids)
    await bot.add_cog(AdminCog(accounts=bot.services.accounts, owner_ids=owner_ids))
