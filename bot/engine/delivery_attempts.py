"""Handing a prepared result to the notifier until Discord takes it: bounded, stored attempts, journaled posts.

Kept apart from ``bot.engine.steps`` because it is the one place that talks to the notifier about a result, and
it needs only that and three store writes: the journal of a fallback post (``DeliveryJournal``, so a resume never
posts twice) and each put-off attempt (so a restart resumes the count instead of refunding a charged job).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.engine.failures import FailureCode, JobFailure
from bot.engine.ports import DeliveryDeferred, DeliveryFailed
from bot.engine.run import Superseded, retrying
from bot.logs import job_fields

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from bot.engine.images import PreparedImage
    from bot.engine.ports import Clock, JobStore, Notifier
    from bot.engine.run import Run
    from bot.store import Job

    # Stores one delivery fact on a run's job, retried (DeliveryAttempts._record); None: the job moved on.
    _Record = Callable[[Run, Callable[[], Awaitable[Job | None]]], Awaitable[Job | None]]

__all__ = ["DeliveryAttempts"]

log = logging.getLogger(__name__)

# A delivery Discord cannot take for now (429 past discord.py's own retries, 5xx, no answer) is tried again after
# a backoff (doubling from _DELIVERY_BACKOFF, at most _DELIVERY_MAX_WAIT, never sooner than Discord asked), at
# most _DELIVERY_ATTEMPTS times in all, restarts included; only then is the job refunded as undeliverable.
_DELIVERY_ATTEMPTS = 8
_DELIVERY_BACKOFF = 2.0
_DELIVERY_MAX_WAIT = 120.0


class _Journal:
    """The runner's side of ``DeliveryJournal``: records a fallback post before and after it is sent."""

    def __init__(self, run: Run, *, store: JobStore, clock: Clock, record: _Record) -> None:
        self._run = run
        self._store = store
        self._clock = clock
        self._record = record

    async def posting(self) -> None:
        """Store that a new message is about to be posted (a resume then looks for it before posting again)."""
        store, job_id, at = self._store, self._run.job.id, self._clock()
        if await self._record(self._run, lambda: store.record_post_started(job_id, at=at)) is None:
            raise Superseded

    async def posted(self, message_id: int, *, channel_id: int | None = None, ephemeral: bool = False) -> None:
        """Store the id of the message that now holds the image, and where it is (/history links to it)."""
        store, job_id = self._store, self._run.job.id
        await self._record(
            self._run,
            lambda: store.record_result_message(
                job_id, message_id=message_id, channel_id=channel_id, ephemeral=ephemeral
            ),
        )


class DeliveryAttempts:
    """Shows a job's prepared images through the notifier, waiting and trying again while Discord puts it off."""

    def __init__(
        self, *, store: JobStore, notifier: Notifier, clock: Clock, sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._sleep = sleep

    async def show(self, run: Run, prepared: Sequence[PreparedImage]) -> int:
        """Hand the image to the notifier; when Discord cannot take it for now, wait and try again (bounded).

        Each put-off attempt is stored before the wait (the job stays delivering), so a restart during the wait
        resumes it, counting the attempts already made, instead of refunding a job reAPI has charged.

        Raises
        ------
        JobFailure
            Discord refused the result, or put it off ``_DELIVERY_ATTEMPTS`` times (``FailureCode.DISCORD``).
        Superseded
            The job's row moved on meanwhile.
        """
        for _ in range(_DELIVERY_ATTEMPTS + 1):
            job = run.job
            wait = (job.delivery_retry_at or 0.0) - self._clock()
            if wait > 0:
                await self._sleep(min(wait, _DELIVERY_MAX_WAIT))
            try:
                return await self._notifier.deliver(
                    run.job,
                    prepared[0],
                    journal=_Journal(run, store=self._store, clock=self._clock, record=self._record),
                    more=tuple(prepared[1:]),
                )
            except DeliveryDeferred as exc:
                attempts = run.job.delivery_attempts + 1
                if attempts >= _DELIVERY_ATTEMPTS:
                    log.warning(
                        "job %s could not be shown on Discord after %d attempts: %s",
                        job.id,
                        attempts,
                        exc,
                        extra=job_fields(job),
                    )
                    raise JobFailure(FailureCode.DISCORD) from exc
                backoff = min(_DELIVERY_MAX_WAIT, _DELIVERY_BACKOFF * 2 ** (attempts - 1))
                delay = min(_DELIVERY_MAX_WAIT, max(backoff, exc.retry_after or 0.0))
                log.info(
                    "job %s: Discord cannot take the result now (%s); attempt %d again in %.0f s",
                    job.id,
                    exc,
                    attempts + 1,
                    delay,
                    extra=job_fields(job),
                )
                if await self._record_retry(run, attempts, self._clock() + delay) is None:
                    raise Superseded from exc
            except DeliveryFailed as exc:
                log.warning("job %s could not be shown on Discord: %s", job.id, exc, extra=job_fields(job))
                raise JobFailure(FailureCode.DISCORD) from exc
        raise JobFailure(FailureCode.DISCORD)

    async def _record_retry(self, run: Run, attempts: int, retry_at: float) -> Job | None:
        """Store a put-off delivery on the job before waiting (None: the job moved on)."""
        store, job_id = self._store, run.job.id

        async def write() -> Job | None:
            return await store.record_delivery_retry(job_id, attempts=attempts, retry_at=retry_at)

        return await self._record(run, write)

    async def _record(self, run: Run, write: Callable[[], Awaitable[Job | None]]) -> Job | None:
        """Store a delivery fact on a delivering job (the journal's writes), retried like any store write."""
        moved = await retrying(write, f"record delivery of job {run.job.id}", sleep=self._sleep)
        if moved is not None:
            run.job = moved
        return moved
