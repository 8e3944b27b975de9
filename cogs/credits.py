"""/credits and /history: a member's balance and their past images, always ephemeral."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands, ui
from discord.ext import commands

from bot.engine.credits import role_ids_of
from bot.surface import texts_credits
from bot.surface.account_ui import history_embed, statement_embed
from bot.surface.errors import NotAllowed
from bot.surface.i18n import Localized, use_interaction_locale
from bot.surface.member_charts import contact_sheet_file, credits_chart_file
from bot.surface.reporting import report_error

# Runtime import: discord.py evaluates the command annotations that use these.
from cogs.common import IntOption  # noqa: TC001

if TYPE_CHECKING:
    from bot.engine.accounts import Accounts, HistoryPage
    from bot.engine.members import Preferences
    from bot.engine.sources import SourceFetcher
    from bot.surface.app import ImagineBot

    Interaction = discord.Interaction[ImagineBot]

__all__ = ["CreditsCog", "HistoryButton", "history_view", "setup"]

# Bounded: a forged custom_id must not reach the store with a page number of a hundred digits.
_HISTORY_ID = re.compile(r"imagine:history:(?P<user_id>\d{1,20}):(?P<page>\d{1,4})")


class HistoryButton(Localized, ui.DynamicItem[ui.Button[ui.View]], template=_HISTORY_ID.pattern):
    """Prev / Next under a /history page; the owner and the page are in the custom_id, so it survives restarts."""

    def __init__(self, user_id: int, page: int, *, label: str | None = None, disabled: bool = False) -> None:
        button: ui.Button[ui.View] = ui.Button(
            label=label or texts_credits.HISTORY_NEXT,
            style=discord.ButtonStyle.secondary,
            custom_id=f"imagine:history:{user_id}:{page}",
            disabled=disabled,
        )
        super().__init__(button)
        self.user_id = user_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> HistoryButton:
        """Rebuild the button from a click."""
        return cls(int(match["user_id"]), int(match["page"]))

    async def interaction_check(self, interaction: Interaction, /) -> bool:  # type: ignore[override]
        """Only the member whose history it is may turn its pages (answered in the clicker's language)."""
        use_interaction_locale(interaction)
        if interaction.user.id == self.user_id:
            return True
        await interaction.response.send_message(texts_credits.SOMEONE_ELSES_HISTORY, ephemeral=True)
        return False

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Show the page this button points at, in the same message."""
        try:
            await interaction.response.defer()
            services = interaction.client.services
            page = await services.accounts.history_page(self.user_id, self.page)
            embed = history_embed(page)
            sheet = await contact_sheet_file(interaction.client, services.sources, page)
            if sheet is not None:
                embed.set_image(url=f"attachment://{sheet.filename}")
            attachments = [sheet] if sheet is not None else []
            await interaction.edit_original_response(embed=embed, view=history_view(page), attachments=attachments)
        except Exception as exc:  # the library would only log it
            await report_error(interaction, exc)


def history_view(page: HistoryPage) -> ui.View:
    """Prev / Next buttons for a history page."""
    view = ui.View(timeout=None)
    view.add_item(
        HistoryButton(page.user_id, max(0, page.page - 1), label=texts_credits.HISTORY_PREV, disabled=page.page <= 1)
    )
    view.add_item(
        HistoryButton(page.user_id, page.page + 1, label=texts_credits.HISTORY_NEXT, disabled=not page.has_next)
    )
    return view


class CreditsCog(commands.Cog):
    """The /credits and /history commands."""

    def __init__(
        self,
        *,
        accounts: Accounts,
        owner_ids: frozenset[int],
        preferences: Preferences,
        sources: SourceFetcher,
    ) -> None:
        self._accounts = accounts
        self._owner_ids = owner_ids
        self._preferences = preferences
        self._sources = sources

    @app_commands.command(name="credits")
    async def credits(self, interaction: Interaction, user: discord.Member | discord.User | None = None) -> None:
        """Your bot credits: balance, next refill and what an image costs.

        Parameters
        ----------
        user:
            Admins only: whose credits to show.
        """
        target = user or interaction.user
        own = target.id == interaction.user.id
        if not own and not self._may_view_others(interaction):
            raise NotAllowed(texts_credits.OTHERS_CREDITS_ADMIN_ONLY)
        await interaction.response.defer(ephemeral=True, thinking=True)
        statement = await self._accounts.statement(target.id, interaction.guild_id, role_ids_of(target))
        embed = statement_embed(statement, name=target.display_name, own=own)
        chart = await credits_chart_file(statement, self._preferences)
        if chart is None:
            await interaction.followup.send(embed=embed, ephemeral=True)
            return
        embed.set_image(url=f"attachment://{chart.filename}")
        await interaction.followup.send(embed=embed, file=chart, ephemeral=True)

    @app_commands.command(name="history")
    async def history(
        self, interaction: Interaction, page: app_commands.Transform[int, IntOption(1, 1000, name="page")] = 1
    ) -> None:
        """Your images, newest first, with links to the results.

        Parameters
        ----------
        page:
            Which page to show (1 to 1,000; 5 images per page).
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self._accounts.history_page(interaction.user.id, page)
        embed, view = history_embed(result), history_view(result)
        sheet = await contact_sheet_file(interaction.client, self._sources, result)
        if sheet is None:
            await interaction.followup.send(embed=embed, view=view, ephemeral=True)
            return
        embed.set_image(url=f"attachment://{sheet.filename}")
        await interaction.followup.send(embed=embed, view=view, file=sheet, ephemeral=True)

    def _may_view_others(self, interaction: Interaction) -> bool:
        if interaction.user.id in self._owner_ids:
            return True
        return interaction.guild_id is not None and interaction.permissions.manage_guild


async def setup(bot: ImagineBot) -> None:
    """Extension entry point: give the cog the services it uses and register the history buttons."""
    bot.add_dynamic_items(HistoryButton)
    owner_ids = frozenset(bot.settings.discord.owner_ids)
    services = bot.services
    cog = CreditsCog(
        accounts=services.accounts, owner_ids=owner_ids, preferences=services.preferences, sources=services.sources
    )
    await bot.add_cog(cog)
