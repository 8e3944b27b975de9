"""The job runner: takes jobs in, schedules them fairly within the slots, resumes them after a restart.

It reaches the world only through the ports in ``bot.engine.ports`` (store, reAPI, notifier, clock) and never
imports discord, so every branch is unit-tested with fakes (``tests/engine/test_runner.py``). What happens to one
job once it holds a slot is ``bot.engine.steps.JobSteps``'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.engine.credits import insufficient_credits_error
from bot.engine.errors import Banned, InvalidOptions, QueueFull
from bot.engine.failures import FailureCode, JobFailure, failure_for, stored_failure
from bot.engine.ports import NullObserver
from bot.engine.progress import Progress, Stage, queue_place
from bot.engine.queue import FairQueue
from bot.engine.steps import JobSteps, Run, Superseded
from bot.logs import job_fields
from bot.reapi import InsufficientFunds, ReapiError, Unauthorized
from bot.store import InsufficientBalance, JobState, QueueLimitExceeded, QueueLimits, SpendCapExceeded

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

    from bot.config import JobsSettings
    from bot.engine.credits import CreditLedger
    from bot.engine.ports import Clock, Cooldown, ImageService, JobObserver, JobStore, Notifier
    from bot.engine.spend import SpendGuard
    from bot.store import Job, NewJob

__all__ = ["JobRunner"]

log = logging.getLogger(__name__)


class JobRunner:
    """Runs jobs fairly with bounded concurrency; every step can be resumed after a restart."""

    def __init__(
        self,
        *,
        store: JobStore,
        reapi: ImageService,
        notifier: Notifier,
        credit_rules: CreditLedger,
        settings: JobsSettings,
        max_download_bytes: int,
        simulated: bool = False,
        spend: SpendGuard | None = None,
        cooldown: Cooldown | None = None,
        observer: JobObserver | None = None,
        clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._observer = observer or NullObserver()
        self._notifier = notifier
        self._rules = credit_rules
        self._settings = settings
        self._simulated = simulated
        self._spend = spend
        self._cooldown = cooldown
        self._sleep = sleep
        self._steps = JobSteps(
            store=store,
            reapi=reapi,
            notifier=notifier,
            settings=settings,
            max_download_bytes=max_download_bytes,
            spend=spend,
            observer=self._observer,
            clock=clock,
            sleep=sleep,
        )
        self._queue = FairQueue(max_running=settings.max_concurrent, per_user=settings.per_user_concurrent)
        self._waiting: dict[str, Job] = {}
        self._shown_places: dict[str, tuple[int, int | None]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._positions_task: asyncio.Task[None] | None = None
        self._positions_dirty = False
        self._admitting: dict[int, int] = {}  # member -> submissions between the cooldown check and the store
        self._started = False
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load past durations and resume every unfinished job; Discord edits happen in the background."""
        self._steps.durations.extend(reversed(await self._store.recent_durations(50)))
        for job in await self._store.pending_notices():
            # Settled before a crash but never shown: show it now.
            self._in_background(self._steps.tell(job, stored_failure(job)))
        resumed: list[Job] = []
        for job in await self._store.active_jobs():
            self._observer.job_state(job)
            if job.state is JobState.SUBMITTING:
                # The POST may or may not have reached reAPI and there is no idempotency: never re-send.
                self._in_background(self._steps.fail(Run(job), JobFailure(FailureCode.INTERRUPTED_SUBMIT)))
            elif job.state is JobState.QUEUED:
                self._waiting[job.id] = job
                self._queue.push(job.id, job.user_id)
            else:
                resumed.append(job)
        # Resumed jobs hold slots like new ones; those reAPI already has go first, oldest first (each push
        # goes to the front, hence the newest is pushed first).
        for job in reversed(resumed):
            self._waiting[job.id] = job
            self._queue.push(job.id, job.user_id, first=True)
        self._pump()
        self._started = True
        log.info("job runner started: %d waiting, %d running", len(self._queue), len(self._tasks))

    async def stop(self) -> None:
        """Stop taking work; let in-flight submits store their task id, then leave the rest for resume."""
        self._stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.shutdown_grace
        for _ in range(100_000):
            if not self._steps.submitting or loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        tasks = [*self._tasks.values(), *self._side_tasks]
        if self._positions_task is not None:
            tasks.append(self._positions_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._notifier.close()

    # -- intake -----------------------------------------------------------------------------------

    async def submit(self, new: NewJob, *, role_ids: Collection[int] = ()) -> Job:
        """Reserve the credits, store the job as queued and schedule it.

        ``role_ids`` are the member's roles in the job's guild (role overrides of the credit rules).

        Raises
        ------
        InvalidOptions
            The options cannot make a valid reAPI request (e.g. an unknown aspect ratio); nothing was stored.
        Banned
            An admin banned the member here or everywhere; nothing was stored.
        CooldownActive
            The member's configured cooldown has not passed; nothing was stored.
        ReapiPaused
            reAPI recently answered 402 or 401; nothing was stored.
        SpendCapReached
            The owner's daily reAPI budget is used up; nothing was stored.
        QueueFull
            Too many jobs are waiting (the member's or everyone's); nothing was stored.
        InsufficientCredits
            The member cannot pay; nothing was stored.
        """
        try:
            self._steps.request_for(new)
        except ValueError:
            raise InvalidOptions from None
        if not self._rules.is_owner(new.user_id):
            banned = await self._store.banned_in(new.user_id, self._rules.ban_scopes(new.guild_id))
            if banned is not None:
                raise Banned(banned)
        if self._cooldown is not None:
            self._cooldown.check(new.user_id, pending=self._admitting.get(new.user_id, 0))
        if self._spend is not None:
            self._spend.check_open()
        self._admitting[new.user_id] = self._admitting.get(new.user_id, 0) + 1
        try:
            job = await self._admit(new, role_ids)
        finally:
            left = self._admitting.pop(new.user_id) - 1
            if left:
                self._admitting[new.user_id] = left
        log.info("job %s queued (%s)", job.id, job.kind, extra=job_fields(job))
        self._observer.job_accepted(job)
        self._waiting[job.id] = job
        self._queue.push(job.id, job.user_id)
        self._pump()
        return job

    async def _admit(self, new: NewJob, role_ids: Collection[int]) -> Job:
        """Store the job and reserve its credits, turning the store's refusals into the member's."""
        terms = self._rules.terms_for(new.user_id, new.guild_id, role_ids)
        limit = self._spend.limit() if self._spend is not None and not terms.unlimited else None
        queue = QueueLimits(max_queued=self._settings.max_queued, per_user_queued=self._settings.per_user_queued)
        new = replace(new, cost=terms.cost, scope=terms.scope, simulated=self._simulated)
        try:
            job = await self._store.create_job(new, rules=terms.rules, spend=limit, queue=queue)
        except InsufficientBalance as exc:
            raise insufficient_credits_error(exc) from None
        except SpendCapExceeded as exc:
            assert self._spend is not None  # only a capped creation can exceed the cap
            raise await self._spend.refuse(exc) from None
        except QueueLimitExceeded as exc:
            raise QueueFull(limit=exc.limit, per_user=exc.per_user) from None
        if self._cooldown is not None:  # cooldown: only accepted jobs count
            self._cooldown.record(new.user_id)
        return job

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a job still waiting in the queue and refund it.

        Returns None when the job is already being sent or generated (reAPI has no cancel and has charged
        the owner by then), is over, or does not exist.
        """
        job = await self._store.finish_job(
            job_id,
            delivered=False,
            error_code=FailureCode.CANCELLED.value,
            only_from=[JobState.QUEUED],
            charged=False,
            notice_pending=True,
        )
        if job is None:
            return None
        self._observer.job_finished(job)
        self._forget_waiting(job_id)
        log.info("job %s cancelled while queued", job_id, extra=job_fields(job))
        self._mark_positions()
        await self._steps.tell(job, JobFailure(FailureCode.CANCELLED))
        return job

    def estimate(self) -> float | None:
        """Typical seconds reAPI takes, from recent jobs."""
        return self._steps.estimate()

    # -- read by the health check and the metrics ------------------------------------------------

    @property
    def alive(self) -> bool:
        """Whether the runner has started and is not stopping (it takes and runs jobs)."""
        return self._started and not self._stopping

    def waiting(self) -> list[Job]:
        """The jobs waiting for a slot (new ones, and resumed ones), in no particular order."""
        return list(self._waiting.values())

    # -- scheduling -------------------------------------------------------------------------------

    def _pump(self) -> None:
        if self._stopping:
            return
        for job_id in self._queue.pop_ready():
            job = self._waiting.pop(job_id)
            self._shown_places.pop(job_id, None)
            self._tasks[job.id] = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self._mark_positions()

    def _forget_waiting(self, job_id: str) -> None:
        self._queue.discard(job_id)
        self._waiting.pop(job_id, None)
        self._shown_places.pop(job_id, None)

    def _mark_positions(self) -> None:
        """Queue changed: refresh the places shown, at most once per progress interval however busy it gets."""
        self._positions_dirty = True
        if self._stopping or (self._positions_task is not None and not self._positions_task.done()):
            return
        self._positions_task = asyncio.create_task(self._refresh_positions(), name="queue-positions")

    async def _refresh_positions(self) -> None:
        for _ in range(1_000_000):  # ends as soon as an interval passes with no queue change
            if not self._positions_dirty:
                return
            self._positions_dirty = False
            for job_id, position in self._queue.positions().items():
                job = self._waiting[job_id]
                place = queue_place(position)
                # Only queued jobs show a place (a resumed one waiting for a slot keeps its stage), and only
                # when their own shown place changed.
                if job.state is JobState.QUEUED and self._shown_places.get(job_id) != place:
                    self._shown_places[job_id] = place
                    self._notifier.progress(job, Progress(Stage.QUEUED, position=place[0], position_to=place[1]))
            await self._sleep(self._settings.progress_interval)

    def _finished(self, job_id: str) -> None:
        self._observer.job_released(job_id)
        self._tasks.pop(job_id, None)
        self._queue.done(job_id)
        self._pump()

    def _in_background(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job work failed")

        task = asyncio.create_task(run())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # -- one job ----------------------------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        run = Run(job)
        try:
            await self._steps.advance(run)
        except asyncio.CancelledError:
            log.info("job %s paused for resume", job.id, extra=job_fields(run.job))
            raise
        except Superseded:
            log.info("job %s is handled elsewhere", job.id, extra=job_fields(run.job))
        except JobFailure as failure:
            await self._steps.fail(run, failure)
        except ReapiError as exc:
            submitting = run.job.state is JobState.SUBMITTING
            if self._spend is not None and submitting and isinstance(exc, InsufficientFunds):
                await self._spend.pause_after_402()
            elif self._spend is not None and submitting and isinstance(exc, Unauthorized):
                await self._spend.pause_after_401()
            await self._steps.fail(run, failure_for(exc, submitting=submitting))
        except Exception:
            log.exception("job %s crashed", job.id, extra=job_fields(run.job))
            await self._steps.fail(run, JobFailure(FailureCode.INTERNAL, job.id))
        finally:
            self._finished(job.id)
