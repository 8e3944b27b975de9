"""The job runner: takes jobs in and runs the ones it claims from the database's queue.

The queue is the database: any number of bot processes take turns claiming waiting jobs (fair per member, within
the global and per-member limits, counted across processes), hold a lease on each while they work on it, and
resume the jobs of a process whose leases expired. The runner reaches the world only through the ports in
``bot.engine.ports`` (store, reAPI, notifier, clock) and never imports discord, so every branch is unit-tested with
fakes (``tests/engine/test_runner.py``). What happens to one claimed job is ``bot.engine.steps.JobSteps``'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.engine.claims import ClaimLoop
from bot.engine.credits import insufficient_credits_error
from bot.engine.errors import Banned, InvalidOptions, QueueFull
from bot.engine.failures import FailureCode, JobFailure, failure_for
from bot.engine.notices import LeftNotices
from bot.engine.ports import NullObserver
from bot.engine.pricing import ModelCatalogue
from bot.engine.queue_places import QueuePlaces
from bot.engine.run import Run, Superseded
from bot.engine.steps import JobSteps
from bot.logs import job_fields
from bot.reapi import InsufficientFunds, ReapiError, Unauthorized
from bot.store import (
    ClaimLimits,
    InsufficientBalance,
    JobState,
    QueueLimitExceeded,
    QueueLimits,
    SpendCapExceeded,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

    from bot.config import JobsSettings
    from bot.engine.credits import CreditLedger
    from bot.engine.ports import Clock, Cooldown, ImageService, JobObserver, JobStore, Notifier
    from bot.engine.server_rules import Place, ServerRules
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
        server_rules: ServerRules | None = None,
        catalogue: ModelCatalogue | None = None,
        worker: str = "worker",
        sole_worker: bool = False,
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
        self._server_rules = server_rules
        self._catalogue = catalogue or ModelCatalogue()
        self._sleep = sleep
        self._settling: set[str] = set()  # jobs whose final write went out: their slot goes to the next job
        self._ended: set[str] = set()  # jobs that ended in the store while their task tells the member
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
            on_settling=self._settling_job,
            on_settled=self._ended.add,
        )
        self._worker = worker
        self._sole_worker = sole_worker
        self._limits = ClaimLimits(max_running=settings.max_concurrent, per_user_running=settings.per_user_concurrent)
        self._places = QueuePlaces(store=store, notifier=notifier, interval=settings.progress_interval, sleep=sleep)
        self._tasks: dict[str, asyncio.Task[None]] = {}  # jobs this worker claimed and works on
        self._claims = ClaimLoop(
            store=store,
            worker=worker,
            limits=self._limits,
            lease_seconds=settings.lease_seconds,
            busy=lambda: len(self._tasks.keys() - self._settling),
            start=self._start,
            spend=spend,
        )
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._notices = LeftNotices(
            store=store,
            tell=self._steps.tell,
            spawn=self._in_background,
            busy=self._tasks.__contains__,
            # Two leases: a live process shows a failure moments after its refund; renewals run every third of one.
            patience=2 * settings.lease_seconds,
            every=settings.lease_seconds,
        )
        self._admitting: dict[int, int] = {}  # member -> submissions between the cooldown check and the store
        self._started = False
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start claiming and running jobs until stopped; returns at once, the resume runs in the background.

        The bot connects to Discord (and answers commands) only once this returns, so nothing here waits for the
        database: loading past durations, showing notices a crash left unshown and handing back stale leases
        happen in the claim task, before its first claim. Unfinished jobs are not taken here one by one: the
        claim loop resumes every job whose lease expired (all of them after a restart of a single process; a
        dead process's after its leases run out), within the same slots as new ones.
        """
        if self._started:
            return
        self._started = True
        self._loops = [
            asyncio.create_task(self._resume_then_claim(), name="job-claims"),
            asyncio.create_task(self._renew_loop(), name="job-leases"),
            asyncio.create_task(self._notices.run(), name="job-notices"),
        ]
        log.info("job runner started as worker %s", self._worker)

    async def _resume_then_claim(self) -> None:
        try:
            await self._resume()
        except Exception:
            # Claiming still resumes every job whose lease expires; only this start-up shortcut is lost.
            log.exception("could not prepare the resume of unfinished jobs; they resume as their leases expire")
        await self._claims.run()

    async def _resume(self) -> None:
        """Past durations, notices a crash left unshown, and (sole worker) the leases of the previous run."""
        self._steps.watch.durations.extend(reversed(await self._store.recent_durations(50)))
        # Settled before a stop or crash but never shown: show them all now, however old. Another live process may
        # be showing its own recent ones: only the sole worker takes the ones just settled too.
        await self._notices.show(idle=0.0 if self._sole_worker else None, within=None, limit=None)
        if self._sole_worker:
            # The only process on this database (SQLite): leases its previous run left are stale now, so the
            # jobs resume at once instead of after lease_seconds.
            mine = [job.id for job in await self._store.active_jobs() if job.claimed_by == self._worker]
            if mine:
                await self._store.release(self._worker, mine)

    async def stop(self) -> None:
        """Stop taking work; let in-flight submits store their task id, then hand the rest back for resume."""
        self._stopping = True
        self._claims.stopping = True
        self._places.stop()
        for loop_task in self._loops:
            loop_task.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.shutdown_grace
        for _ in range(100_000):
            if not self._steps.submitting or loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        held = list(self._tasks)
        tasks = [*self._tasks.values(), *self._side_tasks, *self._loops]
        if self._places.refreshing is not None:
            tasks.append(self._places.refreshing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if held:
            # Leases end now instead of at expiry, so the next start (or another process) resumes them at once.
            try:
                await self._store.release(self._worker, held)
            except Exception:
                log.exception("could not hand back %d jobs; they resume when their leases expire", len(held))
        await self._notifier.close()

    # -- intake -----------------------------------------------------------------------------------

    async def submit(self, new: NewJob, *, role_ids: Collection[int] = (), place: Place | None = None) -> Job:
        """Reserve the credits, store the job as queued and schedule it.

        ``role_ids`` are the member's roles in the job's guild (role overrides of the credit rules); ``place``
        says where it was asked for (the server's channel and NSFW rules).

        Raises
        ------
        ModelUnavailable, ModelRefused
            The job's model is not enabled, or would refuse its prompt or options; nothing was stored.
        InvalidOptions
            The options cannot make a valid reAPI request (e.g. an unknown aspect ratio); nothing was stored.
        UnavailableHere, TermBlocked, NsfwNotAllowed, MemberPaused
            The server's settings or the moderation rules forbid it (``ServerRules.check``); nothing was stored.
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
        if not new.model:
            # Entry points without a model option (/edit, the edit modal, reply-to-edit): the operator's default.
            default = self._catalogue.default_model
            ratio = self._catalogue.ratio_for(default, new.aspect_ratio, explicit=False)
            new = replace(new, model=default, aspect_ratio=ratio)
        self._catalogue.check(new)
        try:
            self._steps.request_for(new)
        except ValueError:
            raise InvalidOptions from None
        if self._server_rules is not None:
            new = await self._server_rules.check(new, place)
        if not self._rules.is_owner(new.user_id):
            banned = await self._store.banned_in(new.user_id, self._rules.ban_scopes(new.guild_id))
            if banned is not None:
                raise Banned(banned)
        if self._cooldown is not None:
            self._cooldown.check(new.user_id, pending=self._admitting.get(new.user_id, 0))
        if self._spend is not None:
            await self._spend.refresh()
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
        self._places.accepted(job)
        return job

    async def screen(self, new: NewJob, place: Place | None = None) -> None:
        """Only the server's settings and moderation rules (``submit``'s first check), before slow ones."""
        if self._server_rules is not None:
            await self._server_rules.check(new, place)

    async def _admit(self, new: NewJob, role_ids: Collection[int]) -> Job:
        """Store the job and reserve its credits, turning the store's refusals into the member's."""
        terms = self._rules.terms_for(new.user_id, new.guild_id, role_ids)
        limit = self._spend.limit() if self._spend is not None and not terms.unlimited else None
        queue = QueueLimits(max_queued=self._settings.max_queued, per_user_queued=self._settings.per_user_queued)
        # Priced per model and options: bot credits in proportion to reAPI's price, and reAPI's cost for the cap.
        new = self._catalogue.priced(replace(new, scope=terms.scope, simulated=self._simulated), terms.cost)
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
        self._places.left(job_id)
        log.info("job %s cancelled while queued", job_id, extra=job_fields(job))
        self._places.changed()
        await self._steps.tell(job, JobFailure(FailureCode.CANCELLED))
        return job

    # -- read by the health check and the metrics ------------------------------------------------

    @property
    def catalogue(self) -> ModelCatalogue:
        """The enabled models and their prices (what the commands offer and check against)."""
        return self._catalogue

    @property
    def alive(self) -> bool:
        """Whether the runner has started and is not stopping (it takes and runs jobs)."""
        return self._started and not self._stopping

    def waiting(self) -> list[Job]:
        """The jobs accepted by this process and waiting to be claimed, in no particular order."""
        return self._places.waiting()

    # -- claimed jobs ---------------------------------------------------------------------------

    def _start(self, job: Job) -> None:
        if job.id in self._tasks:  # never run a job twice (a lease renewed late can come back to us)
            return
        self._places.left(job.id)
        self._observer.job_state(job)
        # One caught in 'submitting': its POST may or may not have reached reAPI and there is no idempotency,
        # so it is never re-sent, only refunded.
        work = self._interrupted(job) if job.state is JobState.SUBMITTING else self._run(job)
        self._tasks[job.id] = asyncio.create_task(work, name=f"job-{job.id}")
        self._places.changed()

    async def _interrupted(self, job: Job) -> None:
        try:
            await self._steps.fail(Run(job), JobFailure(FailureCode.INTERRUPTED_SUBMIT))
        finally:
            self._finished(job.id)

    async def _renew_loop(self) -> None:
        """Keep the leases of the jobs this worker runs alive; let go of any another worker has taken over."""
        every = self._settings.lease_seconds / 3
        for _ in range(1_000_000_000):  # until stop() cancels it
            await asyncio.sleep(every)
            held = [job_id for job_id in self._tasks if job_id not in self._ended]  # ended: no lease left to renew
            # Ended jobs still telling the member, and left notices being shown: touched, so that another
            # process does not take a notice as left behind while this one waits on Discord (a 429, a retry).
            showing = [job_id for job_id in self._tasks if job_id in self._ended] + [*self._notices.showing]
            if showing:
                try:
                    await self._store.touch_notices(showing)
                except Exception:
                    log.exception("could not touch %d notices being shown", len(showing))
            if not held:
                continue
            try:
                lost = await self._store.renew_leases(self._worker, held, lease_seconds=self._settings.lease_seconds)
            except Exception:
                log.exception("could not renew %d leases", len(held))
                continue
            for job_id in lost:
                task = self._tasks.get(job_id)
                # A POST under way is let finish: its task id is stored or logged whatever happens to the lease.
                # One settling is ending anyway, and may be telling the member how.
                if task is not None and job_id not in self._steps.submitting and job_id not in self._settling:
                    log.warning("job %s: lease lost to another worker; letting go", job_id, extra={"job_id": job_id})
                    task.cancel()

    def _settling_job(self, job_id: str) -> None:
        """The job's final store write (its capture or refund) is going out: claim the next job now.

        The store counts the slot free only once that write commits (a claim queued behind it on SQLite's writer
        sees it; on PostgreSQL a claim that comes first finds the slot held, and the write's NOTIFY wakes the loop),
        so the limits hold; what is saved is the wait for the write's answer and the Discord call telling the member.
        The task stays in ``_tasks`` until it ends: a stop still cancels it and its lease is renewed until it ended.
        """
        self._settling.add(job_id)
        self._claims.slot_freed()

    def _finished(self, job_id: str) -> None:
        self._observer.job_released(job_id)
        self._tasks.pop(job_id, None)
        self._settling.discard(job_id)
        self._ended.discard(job_id)
        self._claims.slot_freed()

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
