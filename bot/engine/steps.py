"""The state machine of one job: submit → poll → download → deliver, or fail; each state stored first.

Two rules hold on every path: a POST whose fate is unknown is never re-sent (reAPI has no idempotency), and a
job is settled before anyone is told, so an outcome shown to a member is one the ledger already holds. The
scheduling around it (queue, slots, resume, shutdown) is ``bot.engine.runner.JobRunner``'s.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from bot.engine.failures import FailureCode, JobFailure
from bot.engine.images import ImageTooLarge, fit_to_limit
from bot.engine.pacing import PollPacer
from bot.engine.polling import PollSchedule
from bot.engine.ports import DeliveryDeferred, DeliveryFailed, NullObserver
from bot.engine.progress import Progress, Stage
from bot.logs import job_fields
from bot.reapi import GenerationRequest, ImageOptions, ReapiError, TaskFailed, TaskNotFound
from bot.store import JobState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from bot.config import JobsSettings
    from bot.engine.images import PreparedImage
    from bot.engine.polling import PollPlan
    from bot.engine.ports import Clock, ImageService, JobObserver, JobStore, Notifier
    from bot.engine.spend import SpendGuard
    from bot.reapi import DownloadedImage, SubmittedTask, Task
    from bot.store import Job, NewJob

__all__ = ["JobSteps", "Run", "Superseded"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# A store write that fails (database briefly locked, connection lost) is retried with backoff before giving up.
_STORE_ATTEMPTS = 5
_STORE_BACKOFF = 0.5
# After the shutdown grace, a POST still in flight gets up to this long more (never more than the grace itself)
# to return its task id, which is then stored.
_SUBMIT_DRAIN = 5.0
# Re-encoding a 4K image takes seconds of CPU: it runs in threads, at most this many at once.
_IMAGE_WORKERS = 2
# Hard cap on polls of one task (the timeout normally ends it long before).
_MAX_POLLS = 100_000
# A delivery Discord cannot take for now (429 past discord.py's own retries, 5xx, no answer) is tried again after
# a backoff (doubling from _DELIVERY_BACKOFF, at most _DELIVERY_MAX_WAIT, never sooner than Discord asked), at
# most _DELIVERY_ATTEMPTS times in all, restarts included; only then is the job refunded as undeliverable.
_DELIVERY_ATTEMPTS = 8
_DELIVERY_BACKOFF = 2.0
_DELIVERY_MAX_WAIT = 120.0


def _ignore(job_id: str) -> None:
    """The default slot callbacks: nobody to tell."""


class Superseded(Exception):
    """The job's row was moved by someone else (a cancel, another process); this task lets go of it."""


@dataclass(slots=True)
class Run:
    """One job as this runner last stored it: every conditional write names ``job.state`` as the state it expects."""

    job: Job
    shown_at: float | None = None  # when Discord took the result (the end of what the poll schedule budgets for)


class _Journal:
    """The runner's side of ``DeliveryJournal``: records a fallback post before and after it is sent."""

    def __init__(self, steps: JobSteps, run: Run) -> None:
        self._steps = steps
        self._run = run

    async def posting(self) -> None:
        """Store that a new message is about to be posted (a resume then looks for it before posting again)."""
        store, job_id, at = self._steps._store, self._run.job.id, self._steps._clock()
        if await self._steps._record(self._run, lambda: store.record_post_started(job_id, at=at)) is None:
            raise Superseded

    async def posted(self, message_id: int) -> None:
        """Store the id of the message that now holds the image."""
        store, job_id = self._steps._store, self._run.job.id
        await self._steps._record(self._run, lambda: store.record_result_message(job_id, message_id=message_id))


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
        self.durations: deque[float] = deque(maxlen=50)
        self.polls = PollSchedule(
            fallback=settings.poll_interval,
            target_median=settings.poll_target_median,
            target_p95=settings.poll_target_p95,
            min_interval=settings.min_poll_interval,
            window=settings.poll_history,
        )
        # A tenth of a second's turns may go back to back: enough to absorb a few polls falling due together,
        # too few to hold the event loop up.
        self.pacer = PollPacer(
            settings.max_polls_per_second,
            burst=max(1, round(settings.max_polls_per_second / 10)),
            clock=clock,
            sleep=sleep,
        )
        self.submitting: set[str] = set()  # jobs whose POST is under way (a shutdown waits for them)

    def estimate(self) -> float | None:
        """Typical seconds reAPI takes, from recent jobs."""
        return statistics.median(self.durations) if self.durations else None

    async def advance(self, run: Run) -> None:
        resumed = run.job.state is not JobState.QUEUED  # a resumed job polls at once: it may be long done
        if run.job.state is JobState.QUEUED:
            await self._submit(run)
        if run.job.state in (JobState.RUNNING, JobState.DELIVERING):
            # A resumed DELIVERING job polls too: reAPI is asked again for the output URL, with the same
            # tolerance for transient errors as any poll. Its placeholder may already show the image (the
            # crash came before the capture), so it gets no "uploading" progress over it, only the result again.
            resumed_delivery = run.job.state is JobState.DELIVERING
            task, polled_at = await self._await_completion(run, resumed=resumed)
            await self._deliver(run, task, announce=not resumed_delivery)
            if not resumed and run.shown_at is not None:
                # What the bot itself adds to every delivery (the poll's round trip, download, post; not the
                # settlement after it, which the member never waits for): the poll schedule leaves room for it.
                self.polls.observe_overhead(run.job.model, run.shown_at - polled_at)

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
        running = await self._retrying(
            lambda: self._store.mark_running(run.job.id, task_id=task_id, at=self._clock()),
            f"store the task id of job {run.job.id}",
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

    async def _await_completion(self, run: Run, *, resumed: bool) -> tuple[Task, float]:
        """Poll until the task completes; return it and when the poll that saw it was sent."""
        job = run.job
        if job.task_id is None:
            raise JobFailure(FailureCode.INTERNAL, job.id)
        estimate = self.estimate()
        model = job.model
        if self.polls.history(model) == 0:
            # After a restart: the stored durations (completion as the bot saw it) until fresher ones come in.
            for seconds in self.durations:
                self.polls.observe(model, seconds)
        # The deadline counts only time this process has watched the task, never a downtime: a task that
        # finished while the bot was down is polled once and delivered, however late.
        watched_since = self._clock()
        started = job.submitted_at if job.submitted_at is not None else watched_since
        progress = Progress(Stage.GENERATING, started_at=started, estimate=estimate)
        # One plan for the whole watch: the schedule re-plans as other jobs complete, and switching plans midway
        # would put polls of both between two of either.
        plan = self.polls.plan(model) if self._settings.adaptive_polling else None
        if not resumed:
            # Shown before the first poll, whenever that is: its turn may wait behind other jobs' polls (the
            # pace), and a new task is not done by its first poll anyway.
            self._notifier.progress(job, progress)
            wait = self._next_poll(plan, watched_since - started, estimate, since_poll=None)
            if wait > 0:
                await self._sleep(wait)
        previous: float | None = None  # when this watch's previous poll was sent
        for _ in range(_MAX_POLLS):
            await self.pacer.turn()
            self._observer.job_polled(job)
            sent = self._clock()
            try:
                task = await self._reapi.get_task(job.task_id)
            except (TaskNotFound, TaskFailed):
                raise
            except ReapiError as exc:
                log.warning("poll of job %s failed, will retry: %s", job.id, type(exc).__name__, extra=job_fields(job))
                task = None
            if task is not None and task.is_failed:
                raise TaskFailed.from_error(task.error)
            now = self._clock()
            if task is not None and task.is_completed:
                self._learn(model, started, previous, sent, resumed=resumed)
                if run.job.state is JobState.RUNNING:
                    moved = await self._store.mark_delivering(job.id, at=now)
                    if moved is None:
                        raise Superseded
                    run.job = moved
                    self._observer.job_state(moved)
                return task, sent
            if now - watched_since >= self._settings.timeout:
                raise JobFailure(FailureCode.TIMEOUT, f"{self._settings.timeout:.0f}")
            # The same snapshot every poll: the notifier sends it once (it never repeats an identical edit).
            self._notifier.progress(job, progress)
            previous = sent
            await self._sleep(self._next_poll(plan, now - started, estimate, since_poll=now - sent))
        raise JobFailure(FailureCode.TIMEOUT)

    def _learn(self, model: str, started: float, previous: float | None, seen: float, *, resumed: bool) -> None:
        """Teach the poll schedule when this task completed: between the last two polls, or before the first."""
        if previous is not None:
            self.polls.observe(model, (previous + seen) / 2 - started)
        elif not resumed:
            # Done by the first poll: all that is known is "shorter than that". Its rank is what the schedule's
            # quartile fit uses, so it is stored below every later completion, never dropped (dropping the fast
            # ones would teach the schedule that tasks are slower than they are, and push the first poll later).
            self.polls.observe(model, (seen - started) / 2)

    def _next_poll(
        self, plan: PollPlan | None, elapsed: float, estimate: float | None, *, since_poll: float | None
    ) -> float:
        """Seconds until the next poll, ``elapsed`` seconds after the submit and ``since_poll`` after the last."""
        if plan is not None:
            # Never two polls closer than the plan's spacing allows, even when one was slow to answer.
            return max(plan.next_delay(elapsed), self.polls.floor - (since_poll or 0.0))
        # Fixed intervals (adaptive polling off, or too little history): a new task is polled at once.
        return 0.0 if since_poll is None else self._poll_delay(elapsed, estimate)

    def _poll_delay(self, elapsed: float, estimate: float | None) -> float:
        # Poll gently early on, and at the normal cadence once completion is plausible.
        if estimate is not None and elapsed < 0.6 * estimate:
            return self._settings.max_poll_interval
        return self._settings.poll_interval

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
        message_id = await self._show(run, prepared)
        run.shown_at = self._clock()
        # The image is on Discord: from here on nothing may turn this job into a failure (or strip the image).
        self._on_settling(job.id)
        try:
            finished = await self._retrying(
                lambda: self._store.finish_job(
                    job.id, delivered=True, result_message_id=message_id, only_from=[run.job.state]
                ),
                f"settle delivered job {job.id}",
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
            self.durations.append(finished.duration)
        log.info("job %s delivered as message %s", job.id, message_id, extra=job_fields(job))

    async def _show(self, run: Run, prepared: Sequence[PreparedImage]) -> int:
        """Hand the image to the notifier; when Discord cannot take it for now, wait and try again (bounded).

        Each put-off attempt is stored before the wait (the job stays delivering), so a restart during the wait
        resumes it, counting the attempts already made, instead of refunding a job reAPI has charged.
        """
        for _ in range(_DELIVERY_ATTEMPTS + 1):
            job = run.job
            wait = (job.delivery_retry_at or 0.0) - self._clock()
            if wait > 0:
                await self._sleep(min(wait, _DELIVERY_MAX_WAIT))
            try:
                return await self._notifier.deliver(
                    run.job, prepared[0], journal=_Journal(self, run), more=tuple(prepared[1:])
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

    async def _prepare(self, image: DownloadedImage, limit: int) -> PreparedImage:
        """Fit the image to the upload limit in a worker thread (seconds of CPU for a 4K image)."""
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
            ended = await self._retrying(
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

    async def _record(self, run: Run, write: Callable[[], Awaitable[Job | None]]) -> Job | None:
        """Store a delivery fact on a delivering job (the journal's writes), retried like any store write."""
        moved = await self._retrying(write, f"record delivery of job {run.job.id}")
        if moved is not None:
            run.job = moved
        return moved

    async def _retrying(self, write: Callable[[], Awaitable[T]], what: str) -> T:
        """Retry a store write with backoff: a briefly locked or lost database must not strand a job."""
        for attempt in range(_STORE_ATTEMPTS - 1):
            try:
                return await write()
            except Exception as exc:
                log.warning("could not %s (attempt %d): %s", what, attempt + 1, exc)
                await self._sleep(_STORE_BACKOFF * 2**attempt)
        return await write()
