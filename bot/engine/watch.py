"""Watching one submitted reAPI task until it completes: when to poll it, at whose pace, and what each poll teaches.

Kept apart from ``bot.engine.steps`` because it only reads: it polls and shows progress, and never writes the
job's row (the state machine stores what the watch found). It owns what the polls learn across jobs: the poll
schedule (``bot.engine.polling``), the process-wide pace (``bot.engine.pacing``) and recent durations.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import deque
from typing import TYPE_CHECKING

from bot.engine.failures import FailureCode, JobFailure
from bot.engine.pacing import PollPacer
from bot.engine.polling import PollSchedule
from bot.engine.ports import NullObserver
from bot.engine.progress import Progress, Stage
from bot.logs import job_fields
from bot.reapi import ReapiError, TaskFailed, TaskNotFound

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.config import JobsSettings
    from bot.engine.polling import PollPlan
    from bot.engine.ports import Clock, ImageService, JobObserver, Notifier
    from bot.reapi import Task
    from bot.store import Job

__all__ = ["TaskWatch"]

log = logging.getLogger(__name__)

# Hard cap on polls of one task (the timeout normally ends it long before).
_MAX_POLLS = 100_000


class TaskWatch:
    """Polls submitted tasks until they complete, on a schedule learned from recent durations, at a common pace."""

    def __init__(
        self,
        *,
        reapi: ImageService,
        notifier: Notifier,
        settings: JobsSettings,
        observer: JobObserver | None = None,
        clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._reapi = reapi
        self._notifier = notifier
        self._settings = settings
        self._observer = observer or NullObserver()
        self._clock = clock
        self._sleep = sleep
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

    def estimate(self) -> float | None:
        """Typical seconds reAPI takes, from recent jobs."""
        return statistics.median(self.durations) if self.durations else None

    async def until_complete(self, job: Job, *, resumed: bool) -> tuple[Task, float]:
        """Poll ``job``'s task until it completes; return it and when the poll that saw it was sent.

        Raises
        ------
        JobFailure
            The task was not done within the timeout (counted only while this process watched it).
        TaskFailed, TaskNotFound
            reAPI says the task failed or does not know it.
        """
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
