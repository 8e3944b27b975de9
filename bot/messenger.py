"""The Discord side of a job: progress, result and failure, all shown in the job's placeholder message."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from typing import TYPE_CHECKING, Any

import discord

from bot import ui
from bot.ports import DeliveryFailed
from bot.progress import Stage
from bot.views import cancel_view, result_view

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.failures import JobFailure
    from bot.images import PreparedImage
    from bot.ports import DeliveryJournal
    from bot.progress import Progress
    from bot.store import Job

__all__ = ["JobMessenger"]

log = logging.getLogger(__name__)

# Stop using the interaction token a little before Discord's 15 minutes run out.
_TOKEN_MARGIN = 60.0


class _Pending:
    """The newest progress text for one job and the task that will send it."""

    __slots__ = ("cancellable", "job", "last_sent", "task", "text")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.text: str | None = None
        self.cancellable = False
        self.last_sent = float("-inf")
        self.task: asyncio.Task[None] | None = None


class JobMessenger:
    """The Discord Notifier (``bot.ports.Notifier``): progress at most once per interval, then the outcome.

    Editing the one placeholder makes delivery idempotent: a job resumed after a crash edits the same
    message again instead of posting a second image.
    """

    def __init__(
        self,
        client: discord.Client,
        *,
        progress_interval: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._interval = progress_interval
        self._clock = clock
        self._monotonic = monotonic
        self._pending: dict[str, _Pending] = {}

    def progress(self, job: Job, progress: Progress) -> None:
        """Show ``progress`` soon; a newer call before it is sent replaces it."""
        pending = self._pending.get(job.id)
        if pending is None:
            pending = self._pending[job.id] = _Pending(job)
        pending.job = job
        pending.text = ui.progress_text(progress, simulated=job.simulated)
        # Only a job still waiting can be cancelled: once sent, reAPI has charged and cannot cancel.
        pending.cancellable = progress.stage is Stage.QUEUED
        if pending.task is None or pending.task.done():
            pending.task = asyncio.create_task(self._flush(pending), name=f"progress-{job.id}")

    async def deliver(self, job: Job, image: PreparedImage, *, journal: DeliveryJournal) -> int:
        """Replace the placeholder with the image; returns the id of the message that shows it."""
        await self._cancel_progress(job.id)
        filename = image.filename(f"imagine-{job.id}")
        embed = ui.result_embed(job, filename=filename, took=job.duration)
        file = discord.File(io.BytesIO(image.data), filename=filename)
        view = result_view(job.id)
        try:
            return await self._edit(job, content=None, embed=embed, attachments=[file], view=view)
        except (discord.NotFound, DeliveryFailed):
            log.info("placeholder of job %s is gone; posting the result as a new message", job.id)
        file = discord.File(io.BytesIO(image.data), filename=filename)
        await journal.posting()
        try:
            message = await self._client.get_partial_messageable(job.channel_id).send(embed=embed, file=file, view=view)
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"cannot post in channel {job.channel_id}: {exc.status}") from exc
        await journal.posted(message.id)
        return message.id

    async def fail(self, job: Job, failure: JobFailure) -> bool:
        """Replace the placeholder with why the job failed; False when Discord refused (the refund stands)."""
        await self._cancel_progress(job.id)
        text = ui.failure_text(failure, refunded=job.cost)
        try:
            await self._edit(job, content=text, embed=None, attachments=[], view=None)
        except Exception as exc:  # best effort: the job is already settled
            log.warning("could not show the failure of job %s: %s", job.id, exc)
            return False
        return True

    async def close(self) -> None:
        """Stop every pending progress edit."""
        for job_id in list(self._pending):
            await self._cancel_progress(job_id)

    async def _flush(self, pending: _Pending) -> None:
        # Bounded: each pass either sends the newest text or finds nothing new and stops.
        for _ in range(10_000):
            wait = pending.last_sent + self._interval - self._monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            text, pending.text = pending.text, None
            if text is None:
                return
            pending.last_sent = self._monotonic()
            try:
                view = cancel_view(pending.job.id) if pending.cancellable else None
                await self._edit(pending.job, content=text, view=view)
            except Exception as exc:  # progress is cosmetic; the next edit or the result follows anyway
                log.debug("progress edit for job %s failed: %s", pending.job.id, exc)

    async def _cancel_progress(self, job_id: str) -> None:
        pending = self._pending.pop(job_id, None)
        if pending is not None and pending.task is not None and not pending.task.done():
            pending.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending.task

    async def _edit(self, job: Job, **fields: Any) -> int:
        """Edit the placeholder through the interaction webhook while its token lives, else as the bot."""
        if job.placeholder_message_id is None:
            raise DeliveryFailed(f"job {job.id} has no placeholder message")
        fields.setdefault("allowed_mentions", discord.AllowedMentions.none())
        token_alive = (
            job.interaction_token is not None
            and job.application_id is not None
            and job.interaction_expires_at is not None
            and self._clock() < job.interaction_expires_at - _TOKEN_MARGIN
        )
        if token_alive:
            assert job.application_id is not None
            assert job.interaction_token is not None
            webhook = discord.Webhook.partial(job.application_id, job.interaction_token, client=self._client)
            message: discord.abc.Snowflake = await webhook.edit_message(job.placeholder_message_id, **fields)
        else:
            channel = self._client.get_partial_messageable(job.channel_id)
            message = await channel.get_partial_message(job.placeholder_message_id).edit(**fields)
        return message.id
