"""The job runner: queue → submit → poll → download → deliver, each state stored before its side effect."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING

from bot import ui
from bot.credits import ban_applying, insufficient_credits_error
from bot.errors import Banned, QueueFull
from bot.images import ImageTooLarge, fit_to_limit
from bot.messenger import DeliveryFailed
from bot.queue import FairQueue
from bot.reapi import (
    AspectRatio,
    BadRequest,
    ContentPolicy,
    DownloadError,
    GenerationRequest,
    InsufficientFunds,
    NotSent,
    RateLimited,
    ReapiError,
    TaskFailed,
    TaskNotFound,
    Unauthorized,
)
from bot.store import InsufficientBalance, JobState, SpendCapExceeded

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

    from bot.config import JobsSettings
    from bot.cooldown import Cooldown
    from bot.credits import CreditLedger
    from bot.messenger import JobMessenger
    from bot.reapi import ReapiClient, Task
    from bot.spend import SpendGuard
    from bot.store import Job, NewJob, Store

__all__ = ["JobFailure", "JobRunner"]

log = logging.getLogger(__name__)


class JobFailure(Exception):
    """A job cannot produce an image; ``reason`` is shown to the member, ``code`` is stored."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def failure_for(exc: ReapiError) -> JobFailure:
    """Translate a reAPI error into what the member is told (never a raw body, never a secret)."""
    if isinstance(exc, ContentPolicy):
        return JobFailure("content_policy", "reAPI's content filter refused this request. Try rewording it.")
    if isinstance(exc, TaskFailed):
        return JobFailure("task_failed", f"reAPI could not make this image ({exc.code}).")
    if isinstance(exc, InsufficientFunds):
        return JobFailure("reapi_402", "The bot's reAPI account is out of credits. The bot owner has to top it up.")
    if isinstance(exc, Unauthorized):
        return JobFailure("reapi_401", "The bot is not set up correctly (its reAPI key was refused).")
    if isinstance(exc, RateLimited | NotSent):
        return JobFailure("reapi_unavailable", "reAPI is busy or unreachable right now. Please try again shortly.")
    if isinstance(exc, BadRequest):
        return JobFailure("reapi_400", f"reAPI rejected the request: {ui.shorten(exc.message, 300)}")
    if isinstance(exc, TaskNotFound):
        return JobFailure("task_lost", "reAPI no longer knows this task.")
    if isinstance(exc, DownloadError):
        return JobFailure("download_failed", "The finished image could not be downloaded from reAPI.")
    # OutcomeUnknown, ServerError on submit: the POST may have created a task; reAPI has no idempotency.
    return JobFailure(
        "outcome_unknown",
        "reAPI did not confirm the request. To avoid paying twice it was not sent again.",
    )


class _Superseded(Exception):
    """The job's row was moved by someone else (another process or a resume); this task lets go."""


class JobRunner:
    """Runs jobs fairly with bounded concurrency; every step can be resumed after a restart."""

    def __init__(
        self,
        *,
        store: Store,
        reapi: ReapiClient,
        messenger: JobMessenger,
        ledger: CreditLedger,
        settings: JobsSettings,
        max_download_bytes: int,
        simulated: bool = False,
        spend: SpendGuard | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        cooldown: Cooldown | None = None,
    ) -> None:
        self._store = store
        self._cooldown = cooldown  # cooldown
        self._spend = spend
        self._reapi = reapi
        self._messenger = messenger
        self._ledger = ledger
        self._settings = settings
        self._max_download = max_download_bytes
        self._simulated = simulated
        self._clock = clock
        self._sleep = sleep
        self._queue = FairQueue(max_running=settings.max_concurrent, per_user=settings.per_user_concurrent)
        self._waiting: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._submitting: set[str] = set()
        self._durations: deque[float] = deque(maxlen=50)
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load past durations and resume every unfinished job."""
        self._durations.extend(reversed(await self._store.recent_durations(50)))
        for job in await self._store.active_jobs():
            if job.state is JobState.SUBMITTING:
                # The POST may or may not have reached reAPI and there is no idempotency: never re-send.
                await self._fail(
                    job,
                    JobFailure(
                        "interrupted_submit",
                        "The bot restarted while sending this request. To avoid paying twice it was not re-sent.",
                    ),
                )
            elif job.state is JobState.QUEUED:
                self._enqueue(job)
            else:
                self._start_task(job)
        log.info("job runner started: %d queued, %d running", len(self._queue), len(self._tasks))

    async def stop(self) -> None:
        """Stop taking work; let in-flight submits store their task id, then leave the rest for resume."""
        self._stopping = True
        deadline = asyncio.get_running_loop().time() + self._settings.shutdown_grace
        for _ in range(1000):
            if not self._submitting or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.05)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._messenger.close()

    # -- intake -----------------------------------------------------------------------------------

    async def submit(self, new: NewJob, *, role_ids: Collection[int] = ()) -> Job:
        """Reserve the credits, store the job as queued and schedule it.

        ``role_ids`` are the member's roles in the job's guild (role overrides of the credit rules).

        Raises
        ------
        Banned
            An admin banned the member here or everywhere; nothing was stored.
        ReapiPaused
            reAPI recently answered 402; nothing was stored.
        SpendCapReached
            The owner's daily reAPI budget is used up; nothing was stored.
        InsufficientCredits
            The member cannot pay; nothing was stored.
        QueueFull
            Too many jobs are waiting; nothing was stored.
        CooldownActive
            The member's accepted jobs hit the optional cooldown; nothing was stored.
        """
        if self._cooldown is not None:  # cooldown
            self._cooldown.check(new.user_id)  # cooldown
        if len(self._queue) >= self._settings.max_queued:
            raise QueueFull("The queue is full right now. Please try again in a minute.")
        terms = self._ledger.terms_for(new.user_id, new.guild_id, role_ids)
        banned = await ban_applying(self._store, self._ledger, new.user_id, new.guild_id)
        if banned is not None:
            where = "on this bot" if banned == "global" else "in this server"
            raise Banned(f"You are banned from creating images {where}. Nothing was charged.")
        if self._spend is not None:
            self._spend.check_open()
        limit = self._spend.limit() if self._spend is not None and not terms.unlimited else None
        new = replace(new, cost=terms.cost, scope=terms.scope, simulated=self._simulated)
        try:
            job = await self._store.create_job(new, rules=terms.rules, spend=limit)
        except InsufficientBalance as exc:
            raise insufficient_credits_error(exc) from None
        except SpendCapExceeded as exc:
            assert self._spend is not None
            raise await self._spend.refuse(exc) from None
        if self._cooldown is not None:  # cooldown: only accepted (stored) jobs count
            self._cooldown.record(job.user_id)  # cooldown
        log.info("job %s queued (user %s, guild %s, %s)", job.id, job.user_id, job.guild_id, job.kind)
        self._enqueue(job)
        return job

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a job still waiting in the queue and refund it.

        Returns None when the job is already being sent or generated (reAPI has no cancel and has charged
        the owner by then), or is over.
        """
        job = await self._store.finish_job(
            job_id,
            delivered=False,
            error_code="cancelled",
            error_message="Cancelled by the member.",
            only_from=[JobState.QUEUED],
        )
        if job is None:
            return None
        self._queue.discard(job_id)
        self._waiting.pop(job_id, None)
        log.info("job %s cancelled while queued", job_id)
        await self._messenger.fail(job, ui.failure_text("Cancelled.", refunded=job.cost))
        self._pump()
        return job

    def estimate(self) -> float | None:
        """Typical seconds reAPI takes, from recent jobs."""
        return statistics.median(self._durations) if self._durations else None

    # -- scheduling -------------------------------------------------------------------------------

    def _enqueue(self, job: Job) -> None:
        self._waiting[job.id] = job
        self._queue.push(job.id, job.user_id)
        self._pump()

    def _pump(self) -> None:
        if self._stopping:
            return
        for job_id in self._queue.pop_ready():
            self._start_task(self._waiting.pop(job_id))
        waiting = len(self._queue)
        for job_id, position in self._queue.positions().items():
            self._messenger.progress(
                self._waiting[job_id], ui.Progress(ui.Stage.QUEUED, position=position, waiting=waiting)
            )

    def _start_task(self, job: Job) -> None:
        self._tasks[job.id] = asyncio.create_task(self._run(job), name=f"job-{job.id}")

    def _finished(self, job_id: str) -> None:
        self._tasks.pop(job_id, None)
        self._queue.done(job_id)
        self._pump()

    # -- the state machine ------------------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        try:
            await self._advance(job)
        except asyncio.CancelledError:
            log.info("job %s paused for resume", job.id)
            raise
        except _Superseded:
            log.info("job %s is handled elsewhere", job.id)
        except JobFailure as failure:
            await self._fail(job, failure)
        except ReapiError as exc:
            if isinstance(exc, InsufficientFunds) and self._spend is not None:
                await self._spend.pause_after_402()
            await self._fail(job, failure_for(exc))
        except Exception:
            log.exception("job %s crashed", job.id)
            await self._fail(job, JobFailure("internal", f"Something went wrong on our side (error id {job.id})."))
        finally:
            self._finished(job.id)

    async def _advance(self, job: Job) -> None:
        if job.state is JobState.QUEUED:
            job = await self._submit(job)
        task: Task | None = None
        if job.state is JobState.RUNNING:
            job, task = await self._await_completion(job)
        if job.state is JobState.DELIVERING:
            await self._deliver(job, task)

    async def _submit(self, job: Job) -> Job:
        if self._spend is not None and self._spend.paused_until is not None:
            # Queued before reAPI ran out of credits: fail (and refund) now rather than collect another 402.
            raise JobFailure("reapi_paused", "The bot's reAPI account ran out of credits before this job was sent.")
        moved = await self._store.transition(
            job.id, from_states=[JobState.QUEUED], to=JobState.SUBMITTING, submit_started_at=self._clock()
        )
        if moved is None:
            raise _Superseded
        self._messenger.progress(moved, ui.Progress(ui.Stage.SUBMITTING))
        request = GenerationRequest(
            prompt=job.prompt, image_urls=list(job.image_urls), aspect_ratio=AspectRatio(job.aspect_ratio)
        )
        self._submitting.add(job.id)
        try:
            # Shielded: a shutdown must not cut a POST in half and leave its outcome unknown.
            submitted = await asyncio.shield(self._reapi.submit(request))
            running = await self._store.transition(
                job.id,
                from_states=[JobState.SUBMITTING],
                to=JobState.RUNNING,
                task_id=submitted.id,
                submitted_at=self._clock(),
            )
        finally:
            self._submitting.discard(job.id)
        assert running is not None
        log.info("job %s submitted as %s", job.id, submitted.id)
        return running

    async def _await_completion(self, job: Job) -> tuple[Job, Task]:
        assert job.task_id is not None
        assert job.submitted_at is not None
        deadline = job.submitted_at + self._settings.timeout
        estimate = self.estimate()
        # Bounded by the deadline and by a hard cap on polls.
        for _ in range(100_000):
            now = self._clock()
            if now >= deadline:
                raise JobFailure("timeout", f"reAPI did not finish within {self._settings.timeout:.0f}s.")
            try:
                task = await self._reapi.get_task(job.task_id)
            except (TaskNotFound, TaskFailed):
                raise
            except ReapiError as exc:
                log.warning("poll of job %s failed, will retry: %s", job.id, type(exc).__name__)
                task = None
            if task is not None and task.is_failed:
                raise TaskFailed.from_error(task.error)
            if task is not None and task.is_completed:
                moved = await self._store.transition(
                    job.id, from_states=[JobState.RUNNING], to=JobState.DELIVERING, completed_at=self._clock()
                )
                if moved is None:
                    raise _Superseded
                return moved, task
            elapsed = now - job.submitted_at
            self._messenger.progress(job, ui.Progress(ui.Stage.GENERATING, elapsed=elapsed, estimate=estimate))
            await self._sleep(self._poll_delay(elapsed, estimate))
        raise JobFailure("timeout", "reAPI did not finish in time.")

    def _poll_delay(self, elapsed: float, estimate: float | None) -> float:
        # Poll gently early on, and at the normal cadence once completion is plausible.
        if estimate is not None and elapsed < 0.6 * estimate:
            return self._settings.max_poll_interval
        return self._settings.poll_interval

    async def _deliver(self, job: Job, task: Task | None) -> None:
        assert job.task_id is not None
        if task is None:  # resumed after a restart: ask again for the output URL
            task = await self._reapi.get_task(job.task_id)
        if task.output is None or not task.output.image_urls:
            raise JobFailure("no_output", "reAPI finished but returned no image.")
        self._messenger.progress(job, ui.Progress(ui.Stage.UPLOADING))
        image = await self._reapi.download(task.output.image_urls[0], max_bytes=self._max_download)
        try:
            prepared = fit_to_limit(image.data, image.content_type, job.upload_limit)
        except ImageTooLarge as exc:
            raise JobFailure("too_large", "The image is too large to upload here.") from exc
        try:
            message_id = await self._messenger.deliver(job, prepared, took=job.duration)
        except DeliveryFailed as exc:
            raise JobFailure("discord", "The image could not be posted on Discord.") from exc
        finished = await self._store.finish_job(job.id, delivered=True, result_message_id=message_id)
        if finished is not None and finished.duration is not None:
            self._durations.append(finished.duration)
        log.info("job %s delivered as message %s", job.id, message_id)

    async def _fail(self, job: Job, failure: JobFailure) -> None:
        log.info("job %s failed: %s", job.id, failure.code)
        # Tell the member first, then settle: a crash in between repeats the (idempotent) edit on resume.
        try:
            await self._messenger.fail(job, ui.failure_text(failure.reason, refunded=job.cost))
        except Exception:  # showing the failure is best effort; the refund below is not
            log.exception("could not show the failure of job %s", job.id)
        await self._store.finish_job(job.id, delivered=False, error_code=failure.code, error_message=failure.reason)
