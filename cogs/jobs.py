"""/jobs: a member's waiting and running images, each with a Cancel button only they can use."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands, ui
from discord.ext import commands

from bot.store import JobState
from bot.surface import texts_members
from bot.surface import ui as surface_ui
from bot.surface.errors import NotAllowed, UserFacingError
from bot.surface.i18n import Localized
from bot.surface.reporting import report_error

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.engine.members import Preferences
    from bot.store import Job
    from bot.surface.app import ImagineBot

    Interaction = discord.Interaction[ImagineBot]

__all__ = ["JobCancelButton", "JobsCog", "jobs_embed", "jobs_view", "setup"]

_ID = re.compile(r"imagine:jobs:cancel:(?P<user_id>\d{1,20}):(?P<job_id>[0-9a-f]{12})")


class JobCancelButton(Localized, ui.DynamicItem[ui.Button[ui.View]], template=_ID.pattern):
    """Cancel one job from /jobs: only its owner; a waiting job is refunded, one sent to reAPI cannot be."""

    def __init__(self, user_id: int, job_id: str, *, number: int = 0) -> None:
        button: ui.Button[ui.View] = ui.Button(
            label=texts_members.cancel_label(number),
            style=discord.ButtonStyle.secondary,
            custom_id=f"imagine:jobs:cancel:{user_id}:{job_id}",
        )
        super().__init__(button)
        self.user_id = user_id
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> JobCancelButton:
        """Rebuild the button from a click, also after a restart."""
        return cls(int(match["user_id"]), match["job_id"])

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Cancel through the runner's own path (it refunds and updates the job's placeholder)."""
        try:
            services = interaction.client.services
            # One primary-key read before the ack, so a refusal is a plain ephemeral reply.
            job = await services.store.get_job(self.job_id)
            if job is None or job.user_id != interaction.user.id or self.user_id != interaction.user.id:
                raise NotAllowed(texts_members.JOB_NOT_YOURS)
            await interaction.response.defer(ephemeral=True, thinking=True)
            cancelled = await services.runner.cancel(self.job_id)
            if cancelled is not None:
                await interaction.followup.send(texts_members.job_cancelled(cancelled.cost), ephemeral=True)
                return
            now = await services.store.get_job(self.job_id)
            if now is None or now.state.is_terminal:
                raise UserFacingError(texts_members.JOB_ALREADY_OVER)
            raise UserFacingError(texts_members.JOB_ALREADY_SENT)
        except Exception as exc:  # the library would only log it
            await report_error(interaction, exc)


def jobs_embed(jobs: Sequence[Job]) -> discord.Embed:
    """/jobs: each unfinished job with its number, state, cost and age."""
    embed = discord.Embed(title=texts_members.JOBS_TITLE, colour=surface_ui.EMBED_COLOUR)
    if not jobs:
        embed.description = texts_members.JOBS_NONE
        return embed
    embed.description = "\n".join(texts_members.job_line(n, job) for n, job in enumerate(jobs, start=1))
    embed.set_footer(text=texts_members.JOBS_FOOTER)
    return embed


def jobs_view(user_id: int, jobs: Sequence[Job]) -> ui.View | None:
    """A Cancel button per job (five to a row); None when there is nothing to cancel."""
    if not jobs:
        return None
    view = ui.View(timeout=None)
    for number, job in enumerate(jobs, start=1):
        button = JobCancelButton(user_id, job.id, number=number)
        # A job already sent stays pressable: the answer explains why it cannot be cancelled.
        waiting = job.state is JobState.QUEUED
        button.item.style = discord.ButtonStyle.danger if waiting else discord.ButtonStyle.secondary
        view.add_item(button)
    return view


class JobsCog(commands.Cog):
    """The /jobs command."""

    def __init__(self, *, preferences: Preferences) -> None:
        self._preferences = preferences

    @app_commands.command(name="jobs")
    async def jobs(self, interaction: Interaction) -> None:
        """Your images waiting or being made, with a Cancel button for each."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        jobs = await self._preferences.unfinished_jobs(interaction.user.id)
        view = jobs_view(interaction.user.id, jobs)
        if view is None:
            await interaction.followup.send(embed=jobs_embed(jobs), ephemeral=True)
        else:
            await interaction.followup.send(embed=jobs_embed(jobs), view=view, ephemeral=True)


async def setup(bot: ImagineBot) -> None:
    """Extension entry point: give the cog the services it uses and register the Cancel buttons."""
    bot.add_dynamic_items(JobCancelButton)
    await bot.add_cog(JobsCog(preferences=bot.services.preferences))
