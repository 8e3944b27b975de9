"""Queue places: the place in the queue each job accepted here shows until it is claimed.

The queue is the database's, shared by every process, so the places are read from it (``waiting_places``), at
most once per progress interval however busy the queue gets, and a job's placeholder is edited only when its own
shown place (``queue_place``: exact near the front, a range behind) changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.engine.progress import Progress, Stage, queue_place

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.engine.ports import JobStore, Notifier
    from bot.store import Job

__all__ = ["QueuePlaces"]

log = logging.getLogger(__name__)


class QueuePlaces:
    """Shows the queue place of the jobs accepted by this process and not claimed yet."""

    def __init__(
        self,
        *,
        store: JobStore,
        notifier: Notifier,
        interval: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._interval = interval
        self._sleep = sleep
        self._accepted: dict[str, Job] = {}  # accepted here and not claimed yet: this process shows their place
        self._shown: dict[str, tuple[int, int | None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._dirty = False
        self._stopped = False

    def waiting(self) -> list[Job]:
        """The jobs accepted by this process and waiting to be claimed, in no particular order."""
        return list(self._accepted.values())

    def accepted(self, job: Job) -> None:
        """A job joined the queue here: its place is shown from the next refresh on."""
        self._accepted[job.id] = job
        self.changed()

    def left(self, job_id: str) -> None:
        """A job left the queue (claimed here, cancelled): its place is no longer shown. Call ``changed`` too."""
        self._accepted.pop(job_id, None)
        self._shown.pop(job_id, None)

    def changed(self) -> None:
        """The queue changed: refresh the places shown, at most once per interval however busy it gets."""
        self._dirty = True
        if self._stopped or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.create_task(self._refresh(), name="queue-positions")

    def stop(self) -> None:
        """Start no more refreshes (a shutdown); the one under way is ``refreshing``, for the caller to cancel."""
        self._stopped = True

    @property
    def refreshing(self) -> asyncio.Task[None] | None:
        """The refresh task, if one was started (it may have ended)."""
        return self._task

    async def _refresh(self) -> None:
        for _ in range(1_000_000):  # ends as soon as an interval passes with no queue change
            # Wait first: a job claimed within an interval of being accepted never shows (nor pays an edit for)
            # a place in the queue, and its "submitting" progress is not crowded out.
            await self._sleep(self._interval)
            if not self._dirty:
                return
            self._dirty = False
            if self._accepted:
                try:
                    places = await self._store.waiting_places()
                except Exception:
                    log.exception("could not read the queue's places")
                    places = {}
                self._show(places)

    def _show(self, places: dict[str, int]) -> None:
        for job_id, job in list(self._accepted.items()):
            position = places.get(job_id)
            if position is None:  # claimed (here or elsewhere), cancelled, or ended
                self.left(job_id)
                continue
            place = queue_place(position)
            # Only when the job's own shown place changed: a draining queue costs each job a few edits.
            if self._shown.get(job_id) != place:
                self._shown[job_id] = place
                self._notifier.progress(job, Progress(Stage.QUEUED, position=place[0], position_to=place[1]))
