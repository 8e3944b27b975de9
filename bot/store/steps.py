"""A job's named steps, written once over a conditional ``transition``: the SQL store and the tests' fake share them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.store.jobs import JobState

if TYPE_CHECKING:
    from collections.abc import Collection

    from bot.store.jobs import Job

__all__ = ["NamedSteps"]


class NamedSteps:
    """Each step moves a job only from the state it names; the host class provides ``transition``."""

    async def transition(
        self, job_id: str, *, from_states: Collection[JobState], to: JobState, **values: Any
    ) -> Job | None:
        """Move a job to ``to`` only if it is in one of ``from_states`` (the host class's conditional update)."""
        raise NotImplementedError

    async def mark_submitting(self, job_id: str, *, at: float) -> Job | None:
        """queued → submitting, before the POST: from here on reAPI may charge (``charged`` is set)."""
        return await self.transition(
            job_id, from_states=[JobState.QUEUED], to=JobState.SUBMITTING, submit_started_at=at
        )

    async def mark_running(self, job_id: str, *, task_id: str, at: float) -> Job | None:
        """submitting → running, storing the task id reAPI returned."""
        return await self.transition(
            job_id, from_states=[JobState.SUBMITTING], to=JobState.RUNNING, task_id=task_id, submitted_at=at
        )

    async def mark_delivering(self, job_id: str, *, at: float) -> Job | None:
        """running → delivering, when reAPI says the task is completed."""
        return await self.transition(job_id, from_states=[JobState.RUNNING], to=JobState.DELIVERING, completed_at=at)

    async def record_post_started(self, job_id: str, *, at: float) -> Job | None:
        """A delivering job is about to post its result as a new message (a resume then looks for it first)."""
        return await self.transition(
            job_id, from_states=[JobState.DELIVERING], to=JobState.DELIVERING, post_started_at=at
        )

    async def record_delivery_retry(self, job_id: str, *, attempts: int, retry_at: float) -> Job | None:
        """A delivering job's delivery was put off (Discord busy): ``attempts`` so far, the next not before
        ``retry_at``. The job stays delivering, so a restart resumes the wait rather than refunding."""
        return await self.transition(
            job_id,
            from_states=[JobState.DELIVERING],
            to=JobState.DELIVERING,
            delivery_attempts=attempts,
            delivery_retry_at=retry_at,
        )

    async def record_result_message(
        self, job_id: str, *, message_id: int, channel_id: int | None = None, ephemeral: bool = False
    ) -> Job | None:
        """A delivering job's result is in message ``message_id``: in DM channel ``channel_id`` when given, else in
        the job's channel (``ephemeral``: shown to its member only)."""
        return await self.transition(
            job_id,
            from_states=[JobState.DELIVERING],
            to=JobState.DELIVERING,
            result_message_id=message_id,
            result_channel_id=channel_id,
            result_ephemeral=ephemeral,
        )
