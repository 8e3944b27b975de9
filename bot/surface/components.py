"""Result buttons that survive restarts (DynamicItem, job id in the custom_id) and the edit/reference modal."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import ui

from bot.engine.credits import role_ids_of
from bot.engine.sources import SourceImage, plan_sources
from bot.surface import texts, texts_models
from bot.surface.errors import NotAllowed, UserFacingError
from bot.surface.i18n import Localized, use_interaction_locale
from bot.surface.intake import clean_prompt, job_request, parse_aspect_ratio, public_placeholder, submit_edit
from bot.surface.reporting import report_error
from bot.surface.services import services_of
from bot.surface.settings_ui import place_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.store import Job


__all__ = ["CancelButton", "EditModal", "ResultButton", "cancel_view", "job_id_in", "result_view"]

_ACTIONS: dict[str, tuple[str, discord.ButtonStyle]] = {
    "reroll": ("🔁", discord.ButtonStyle.secondary),
    "edit": ("✏️", discord.ButtonStyle.secondary),
    "ref": ("🖼️", discord.ButtonStyle.secondary),
    "delete": ("🗑️", discord.ButtonStyle.danger),
}
# A result with several images has its own edit/ref buttons per image: ":<n>" names the image (from 1); without
# it (single results, and every result posted before multi-image jobs) the first image is meant.
_CUSTOM_ID = re.compile(r"imagine:(?P<action>reroll|edit|ref|delete):(?P<job_id>[0-9a-f]{12})(?::(?P<n>[1-9]))?")
_PER_IMAGE = ("edit", "ref")


def job_id_in(message: discord.Message) -> str | None:
    """The job id behind one of the bot's result messages (read from its buttons), if any."""
    for row in message.components:
        for child in getattr(row, "children", ()):
            match = _CUSTOM_ID.fullmatch(getattr(child, "custom_id", None) or "")
            if match:
                return match["job_id"]
    return None


def result_view(job_id: str, count: int = 1) -> ui.View:
    """The buttons under a delivered result: for one image, all four in a row; for several (at most 4, so at most
    5 rows), reroll and delete first, then one row per image with its own edit and reference buttons."""
    view = ui.View(timeout=None)
    if count <= 1:
        for action in _ACTIONS:
            view.add_item(ResultButton(action, job_id))
        return view
    for action in ("reroll", "delete"):
        view.add_item(ResultButton(action, job_id, row=0))
    for n in range(1, count + 1):
        for action in _PER_IMAGE:
            view.add_item(ResultButton(action, job_id, n=n, row=n))
    return view


class ResultButton(Localized, ui.DynamicItem[ui.Button[ui.View]], template=_CUSTOM_ID.pattern):
    """One result button; everything it needs is the job id in its custom_id plus the stored job."""

    def __init__(self, action: str, job_id: str, *, n: int | None = None, row: int | None = None) -> None:
        emoji, style = _ACTIONS[action]
        label = texts.BUTTON_LABELS[action] if n is None else texts_models.image_button_label(action, n)
        custom_id = f"imagine:{action}:{job_id}" + (f":{n}" if n is not None else "")
        super().__init__(ui.Button(label=label, emoji=emoji, style=style, custom_id=custom_id, row=row))
        self.action = action
        self.job_id = job_id
        self.n = n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> ResultButton:
        """Rebuild the button from a click, also after a restart."""
        n = match["n"]
        return cls(match["action"], match["job_id"], n=int(n) if n else None)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Dispatch the click; errors get the same friendly ephemeral answer as commands."""
        try:
            await self._act(interaction)
        except Exception as exc:  # the library would only log it
            await report_error(interaction, exc)

    async def _act(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction)
        job = await services.store.get_job(self.job_id)
        if job is None:
            raise UserFacingError(texts.IMAGE_GONE)
        if self.action == "delete":
            _require_requester_or_moderator(interaction, job, texts.ACTION_DELETE)
            await interaction.response.defer()
            await interaction.delete_original_response()
            return
        if self.action == "reroll":
            async with public_placeholder(interaction) as placeholder:
                await services.runner.submit(
                    job_request(
                        interaction,
                        kind=job.kind,
                        prompt=job.prompt,
                        aspect_ratio=job.aspect_ratio,
                        placeholder=placeholder,
                        image_urls=job.image_urls,
                        sources=job.sources,
                        parent_job_id=job.id,
                        model=job.model,
                        resolution=job.resolution,
                        image_count=job.image_count,
                    ),
                    role_ids=role_ids_of(interaction.user),
                    place=place_of(interaction),
                )
            return
        message = interaction.message
        if message is None or not message.attachments:
            raise UserFacingError(texts.IMAGE_MISSING)
        index = (self.n or 1) - 1
        if index >= len(message.attachments):
            raise UserFacingError(texts.IMAGE_MISSING)
        attachment = message.attachments[index]  # its URL is freshly signed: this is what reAPI gets
        source = SourceImage(
            url=attachment.url, link=message.jump_url, label=texts.SOURCE_THIS_IMAGE, size=attachment.size
        )
        reference = self.action == "ref"
        await interaction.response.send_modal(
            EditModal(
                [source],
                parent_job_id=job.id,
                title=texts.MODAL_REFERENCE_TITLE if reference else texts.MODAL_EDIT_THIS_TITLE,
                question=texts.MODAL_REFERENCE_QUESTION if reference else texts.MODAL_EDIT_QUESTION,
                aspect_ratio=job.aspect_ratio,
            )
        )


class CancelButton(Localized, ui.DynamicItem[ui.Button[ui.View]], template=r"imagine:cancel:(?P<job_id>[0-9a-f]{12})"):
    """Shown on a placeholder while its job waits in the queue: cancel it and get the credits back."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            ui.Button(
                label=texts.BUTTON_LABELS["cancel"],
                emoji="✖️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"imagine:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: ui.Item[Any], match: re.Match[str], /
    ) -> CancelButton:
        """Rebuild the button from a click, also after a restart."""
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Cancel if the job has not been sent yet; the runner edits the placeholder and refunds.

        Only the requester (or a moderator) may cancel; checked here rather than in ``interaction_check``, whose
        errors discord.py would only log.
        """
        try:
            services = services_of(interaction)
            # Read before the ack (one primary-key lookup) so a refusal is a plain ephemeral reply.
            job = await services.store.get_job(self.job_id)
            if job is None:
                raise UserFacingError(texts.JOB_GONE)
            _require_requester_or_moderator(interaction, job, texts.ACTION_CANCEL)
            await interaction.response.defer()
            if await services.runner.cancel(self.job_id) is None:
                raise UserFacingError(texts.ALREADY_STARTED)
        except Exception as exc:  # the library would only log it
            await report_error(interaction, exc)


def cancel_view(job_id: str) -> ui.View:
    """The Cancel button under a queued job's placeholder."""
    view = ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


def _require_requester_or_moderator(interaction: discord.Interaction[Any], job: Job, what: str) -> None:
    """Allow the job's requester, bot owners and members who can manage messages; refuse others politely."""
    if job.user_id != interaction.user.id and not _is_moderator(interaction):
        raise NotAllowed(texts.requester_only(what))


def _is_moderator(interaction: discord.Interaction[Any]) -> bool:
    owners = set(interaction.client.settings.discord.owner_ids)
    return interaction.user.id in owners or interaction.permissions.manage_messages


class EditModal(ui.Modal):
    """Asks for the instruction (and optionally an aspect ratio), then runs the same edit flow as /edit."""

    def __init__(
        self,
        sources: Sequence[SourceImage],
        *,
        parent_job_id: str | None = None,
        title: str | None = None,
        question: str | None = None,
        aspect_ratio: str = "auto",
    ) -> None:
        # The defaults are read here, not at import: in the language of the member who opens the modal.
        super().__init__(title=title or texts.MODAL_EDIT_TITLE, timeout=900)
        question = question or texts.MODAL_EDIT_QUESTION
        self.sources = plan_sources(sources)
        self.parent_job_id = parent_job_id
        self.instruction: ui.TextInput[EditModal] = ui.TextInput(
            custom_id="instruction",
            style=discord.TextStyle.paragraph,
            min_length=1,
            max_length=4000,
            placeholder=texts.MODAL_INSTRUCTION_PLACEHOLDER,
        )
        self.aspect: ui.TextInput[EditModal] = ui.TextInput(
            custom_id="aspect_ratio",
            required=False,
            max_length=5,
            default=aspect_ratio,
            placeholder=texts.MODAL_ASPECT_PLACEHOLDER,
        )
        self.add_item(ui.Label(text=question, component=self.instruction))
        self.add_item(ui.Label(text=texts.MODAL_ASPECT_LABEL, component=self.aspect))

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """The submit is answered in the member's language (discord.py runs this first, in the same task)."""
        use_interaction_locale(interaction)
        return True

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        """Validate, acknowledge with a placeholder, check the images, queue the job."""
        prompt = clean_prompt(self.instruction.value)
        aspect_ratio = parse_aspect_ratio(self.aspect.value)
        services = services_of(interaction)
        await submit_edit(
            interaction,
            runner=services.runner,
            fetcher=services.sources,
            prompt=prompt,
            aspect_ratio=aspect_ratio,
            sources=self.sources,
            parent_job_id=self.parent_job_id,
        )

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception, /) -> None:  # type: ignore[override]  # Modal.on_error takes no item; the stubs give it BaseView's
        """Every failure ends in one friendly ephemeral answer."""
        with contextlib.suppress(discord.HTTPException):
            await report_error(interaction, error)
