"""A job's result as Discord shows it: the image files, their embeds and buttons, for an edit or a new message.

Kept apart from the notifier because it is pure presentation (no request is made here) and two notifiers send it
(``bot.surface.notifier`` and ``bot.surface.member_delivery``), each down several paths.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import discord

from bot.surface import ui
from bot.surface.components import result_view

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.engine.images import PreparedImage
    from bot.store import Job

__all__ = ["ResultMessage"]


class ResultMessage:
    """A result as Discord shows it; a ``discord.File`` can be sent once, so each send gets fresh fields."""

    def __init__(
        self, job: Job, image: PreparedImage, *, more: Sequence[PreparedImage] = (), note: str | None = None
    ) -> None:
        self._job = job
        self._note = note
        images = [image, *more]
        # One image keeps the name results always had; several are numbered in order (the buttons' "Edit 2").
        stems = [f"imagine-{job.id}"] if len(images) == 1 else [f"imagine-{job.id}-{n}" for n in range(1, 5)]
        self._images = [(i.data, i.filename(stem)) for i, stem in zip(images, stems, strict=False)]
        first = self._images[0][1]
        self._embeds = [ui.result_embed(job, filename=first, took=job.duration)]
        self._embeds += [ui.extra_image_embed(name) for _, name in self._images[1:]]

    def _files(self) -> list[discord.File]:
        return [discord.File(io.BytesIO(data), filename=name) for data, name in self._images]

    def edit_fields(self) -> dict[str, Any]:
        """Keyword arguments that turn a message into the result (its text cleared)."""
        return {
            "content": self._note,
            "embeds": self._embeds,
            "attachments": self._files(),
            "view": result_view(self._job.id, len(self._images)),
        }

    def send_fields(self, *, buttons: bool = True) -> dict[str, Any]:
        """Keyword arguments for a new message with the result (no pings)."""
        fields: dict[str, Any] = {
            "embeds": self._embeds,
            "files": self._files(),
            "allowed_mentions": discord.AllowedMentions.none(),
        }
        if self._note is not None:
            fields["content"] = self._note
        if buttons:
            fields["view"] = result_view(self._job.id, len(self._images))
        return fields
