"""The state machine of one job: submit → poll → download → deliver, or fail; each state stored first.

Two rules hold on every path: a POST whose fate is unknown is never re-sent (reAPI has no idempotency), and a
job is settled before anyone is told, so an outcome shown to a member is one the ledger already holds. The
scheduling around it (queue, slots, resume, shutdown) is ``bot.engine.runner.JobRunner``'s.

The parts a state hands over to live beside it: watching a submitted task (``bot.engine.watch``), the attempts at
showing a result (``bot.engine.delivery_attempts``) and the job as held, with its retried store writes
(``bot.engine.run``). What stays here is the order of the states and what each stores.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from bot.engine.delivery_attempts import DeliveryAttempts
from bot.engine.failures import FailureCode, JobFailure
from bot.engine.images import ImageTooLarge, PreparedImage, fit_to_limit
from bot.engine.ports import NullObserver
from bot.engine.progress import Progress, Stage
from bot.engine.run import Run, Superseded, retrying
from bot.engine.watch import TaskWatch
from bot.logs import job_fields
from bot.reapi import GenerationRequest, ImageOptions
from bot.store import JobState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.config import JobsSettings
    from bot.engine.ports import Clock, ImageService, JobObserver, JobStore, Notifier
    from bot.engine.spend import SpendGuard
    from bot.reapi import DownloadedImage, SubmittedTask, Task
    from bot.store import Job, NewJob

__all__ = ["JobSteps"]

log = logging.getLogger(__name__)

# After the shutdown grace, a POST still in flight gets up to this long more (never more than the grace itself)
# to return its task id, which is then stored.
_SUBMIT_DRAIN = 5.0
# Re-encoding a 4K image takes seconds of CPU: it runs in threads, at most this many at once.
_IMAGE_WORKERS = 2


def _ignore(job_id: str) -> None:
    """The default slot callbacks: nobody to tell."""


class JobSteps:
    """Moves one job through its states; the runner decides when (slots) and handles what it raises."""

    def __init__(
        self,
        *,
        store: JobStore,
        reapi: ImageService,
        notifier: Notifier,
        settings: JobsSettings,
        max_download_bytes: int,
        spend: SpendGuard | None = None,
        observer: JobObserver | None = None,
        clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_settling: Callable[[str], None] | None = None,
        on_settled: Callable[[str], None] | None = None,
    ) -> None:
        """``on_settling(job_id)``: a job's final write (capture or refund) is about to go out, so its slot may be
        claimed for the next job; ``on_settled(job_id)``: the job has ended in the store (it holds no lease)."""
        self._store = store
        self._on_settling = on_settling or _ignore
        self._on_settled = on_settled or _ignore
        self._observer = observer or NullObserver()
        self._reapi = reapi
        self._notifier = notifier
        self._settings = settings
        self._max_download = max_download_bytes
        self._spend = spend
        self._clock = clock
        self._sleep = sleep
        self._image_slots = asyncio.Semaphore(_IMAGE_WORKERS)
        self.watch = TaskWatch(
            reapi=reapi, notifier=notifier, settings=settings, observer=self._observer, clock=clock, sleep=sleep
        )
        self._attempts = DeliveryAttempts(store=store, notifier=notifier, clock=clock, sleep=sleep)
        self.submitting: set[str] = set()  # jobs whose POST is under way (a shutdown waits for them)

    async def advance(self, run: Run) -> None:
        """Take a claimed job from its stored state to its delivery; a failure is raised for ``fail`` to settle."""
        resumed = run.job.state is not JobState.QUEUED  # a resumed job polls at once: it may be long done
        if run.job.state is JobState.QUEUED:
            await self._submit(run)
        if run.job.state in (JobState.RUNNING, JobState.DELIVERING):
            # A resumed DELIVERING job polls too: reAPI is asked again for the output URL, with the same
            # tolerance for transient errors as any poll. Its placeholder may already show the image (the
            # crash came before the capture), so it gets no "uploading" progress over it, only the result again.
            resumed_delivery = run.job.state is JobState.DELIVERING
            task, polled_at = await self.watch.until_complete(run.job, resumed=resumed)
            if run.job.state is JobState.RUNNING:
                await self._mark_delivering(run)
            await self._deliver(run, task, announce=not resumed_delivery)
            if not resumed and run.shown_at is not None:
                # What the bot itself adds to every delivery (the poll's round trip, download, post; not the
                # settlement after it, which the member never waits for): the poll schedule leaves room for it.
                self.watch.polls.observe_overhead(run.job.model, run.shown_at - polled_at)

    @staticmethod
    def request_for(job: NewJob) -> GenerationRequest:
        """The reAPI request a job makes (raises ValueError when its options are not valid for reAPI)."""
        return GenerationRequest(
            model=job.model,
            prompt=job.prompt,
            image_urls=list(job.image_urls),
            options=ImageOptions(ratio=job.aspect_ratio, resolution=job.resolution, count=job.image_count),
        )

    async def _submit(self, run: Run) -> None:
        job = run.job
        reason = self._spend.pause_reason if self._spend is not None else None
        if reason is not None:
            # Queued before reAPI refused us: fail (and refund) now rather than collect another refusal.
            raise JobFailure(FailureCode.REAPI_PAUSED, reason, charged=False)
        try:
            request = self.request_for(job)  # built before 'submitting', so a bad row never counts as charged
        except ValueError:
            log.exception("job %s has options reAPI cannot take", job.id, extra=job_fields(job))
            raise JobFailure(FailureCode.INTERNAL, job.id, charged=False) from None
        moved = await self._store.mark_submitting(job.id, at=self._clock())
        if moved is None:
            raise Superseded
        run.job = moved
        self._observer.job_state(moved)
        self._notifier.progress(moved, Progress(Stage.SUBMITTING))
        post = asyncio.ensure_future(self._reapi.submit(request))
        self.submitting.add(job.id)
        try:
            try:
                # Shielded: a shutdown must not cut a POST in half and leave its outcome unknown.
                submitted = await asyncio.shield(post)
            except asyncio.CancelledError:
                await self._drain_submit(run, post)
                raise
        finally:
            self.submitting.discard(job.id)
        await self._store_task_id(run, submitted.id)

    async def _drain_submit(self, run: Run, post: asyncio.Future[SubmittedTask]) -> None:
        """Shutdown cut in while the POST was under way: give it a last bounded wait and keep its task id."""
        try:
            # A shutdown_grace of 0 means "stop now": then there is no extra wait either.
            submitted = await asyncio.wait_for(post, timeout=min(_SUBMIT_DRAIN, self._settings.shutdown_grace))
        except Exception as exc:
            log.warning(
                "job %s: the POST in flight at shutdown did not answer (%s)",
                run.job.id,
                type(exc).__name__,
                extra=job_fields(run.job),
            )
            return
        await self._store_task_id(run, submitted.id)

    async def _store_task_id(self, run: Run, task_id: str) -> None:
        # Logged before it is stored: a charged task id is never lost, even if the write below fails.
        log.info("job %s submitted as reAPI task %s", run.job.id, task_id, extra=job_fields(run.job, task_id=task_id))
        running = await retrying(
            lambda: self._store.mark_running(run.job.id, task_id=task_id, at=self._clock()),
            f"store the task id of job {run.job.id}",
            sleep=self._sleep,
        )
        if running is None:
            log.error(
                "job %s: reAPI task %s was created but the job had moved on",
                run.job.id,
                task_id,
                extra=job_fields(run.job, task_id=task_id),
            )
            raise Superseded
        run.job = running
        self._observer.job_state(running)

    async def _mark_delivering(self, run: Run) -> None:
        """Store that reAPI has finished the task: from here on a resume delivers it, however late."""
        moved = await self._store.mark_delivering(run.job.id, at=self._clock())
        if moved is None:
            raise Superseded
        run.job = moved
        self._observer.job_state(moved)

    async def _deliver(self, run: Run, task: Task, *, announce: bool) -> None:
        job = run.job
        if task.output is None or not task.output.image_urls:
            raise JobFailure(FailureCode.NO_OUTPUT)
        # A task asked for n images returns n URLs; each is downloaded (capped) and fitted off the event loop. A
        # stray extra URL is not shown: the member paid for image_count images.
        urls = task.output.image_urls[: max(1, job.image_count)]
        images = await asyncio.gather(*(self._reapi.download(url, max_bytes=self._max_download) for url in urls))
        if announce and (len(images) > 1 or any(len(image.data) > job.upload_limit for image in images)):
            # Only when getting it ready takes a while (a re-encode, several images): a plain image is on Discord
            # a moment later, and an edit saying so would be one more request in its way (and in the channel's).
            self._notifier.progress(job, Progress(Stage.UPLOADING))
        prepared = await asyncio.gather(*(self._prepare(image, job.upload_limit) for image in images))
        message_id = await self._attempts.show(run, prepared)
        run.shown_at = self._clock()
        # The image is on Discord: from here on nothing may turn this job into a failure (or strip the image).
        self._on_settling(job.id)
        try:
            finished = await retrying(
                lambda: self._store.finish_job(
                    job.id, delivered=True, result_message_id=message_id, only_from=[run.job.state]
                ),
                f"settle delivered job {job.id}",
                sleep=self._sleep,
            )
        except Exception:
            log.exception(
                "job %s was delivered as message %s but not settled; a restart settles it",
                job.id,
                message_id,
                extra=job_fields(job),
            )
            return
        if finished is None:
            log.warning(
                "job %s was delivered as message %s but had already been settled",
                job.id,
                message_id,
                extra=job_fields(job),
            )
            return
        self._on_settled(job.id)
        self._observer.job_finished(finished)
        if finished.duration is not None:
            self.watch.durations.append(finished.duration)
        log.info("job %s delivered as message %s", job.id, message_id, extra=job_fields(job))

    async def _prepare(self, image: DownloadedImage, limit: int) -> PreparedImage:
        """Fit the image to the upload limit in a worker thread (seconds of CPU for a 4K image).

        An image that fits as it is (nearly every one) needs no work: it takes no thread and no slot, so it never
        waits behind another job's re-encode.
        """
        if len(image.data) <= limit:
            return PreparedImage(image.data, image.content_type)
        async with self._image_slots:
            try:
                return await asyncio.to_thread(fit_to_limit, image.data, image.content_type, limit)
            except ImageTooLarge as exc:
                raise JobFailure(FailureCode.TOO_LARGE) from exc

    async def fail(self, run: Run, failure: JobFailure) -> None:
        """Settle first (refund, conditional on the state this runner holds), then tell, only if we settled it.

        The slot is handed on as the refund goes out, not after the member is told (``on_settling``).
        """
        job = run.job
        self._on_settling(job.id)
        log.info("job %s failed: %s", job.id, failure.code.value, extra=job_fields(job))
        try:
            ended = await retrying(
                lambda: self._store.finish_job(
                    job.id,
                    delivered=False,
                    error_code=failure.code.value,
                    error_message=failure.detail,
                    only_from=[job.state],
                    charged=failure.charged,
                    notice_pending=True,
                ),
                f"refund job {job.id}",
                sleep=self._sleep,
            )
        except Exception:
            log.exception(
                "job %s failed (%s) but could not be refunded; a restart retries",
                job.id,
                failure.code,
                extra=job_fields(job),
            )
            return
        if ended is None:
            # Someone else ended it (delivered, cancelled, another process): its message is theirs to show.
            log.info("job %s had already been settled; its message is left alone", job.id, extra=job_fields(job))
            return
        self._on_settled(job.id)
        self._observer.job_finished(ended)
        await self.tell(ended, failure)

    async def tell(self, job: Job, failure: JobFailure) -> None:
        """Show a settled failure; once shown, the pending notice is cleared (else a restart shows it again)."""
        try:
            shown = await self._notifier.fail(job, failure)
        except Exception:
            log.exception("could not show the failure of job %s", job.id, extra=job_fields(job))
            shown = False
        if shown:
            try:
                await self._store.clear_notice(job.id)
            except Exception:
                log.exception("could not clear the notice of job %s", job.id, extra=job_fields(job))
