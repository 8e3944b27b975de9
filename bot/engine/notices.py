"""Failure notices left unshown: settled (refunded) and stored as pending, but the member was never told.

A job's failure is stored first and shown after (``JobSteps.fail``), so a process that stops, crashes or meets a
Discord refusal between the two leaves the notice pending in the database. A restart shows it, but in a cluster
the process may never come back: so every runner also looks for notices nobody has touched for a while and
shows them. The store's take touches what it returns, so two live processes do not show the same notice at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.engine.failures import stored_failure
from bot.logs import job_fields

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.engine.failures import JobFailure
    from bot.engine.ports import JobStore
    from bot.store import Job

__all__ = ["PER_LOOK", "RETRY_WINDOW", "LeftNotices"]

log = logging.getLogger(__name__)

# A notice Discord keeps refusing (its placeholder deleted, the channel gone) is retried this long after its job
# ended, then left for a restart: a permanent refusal must not cost a Discord call every few seconds forever.
RETRY_WINDOW = 3600.0
# At most this many per look: a backlog (a crash under load) goes out over a few looks, not in one burst of edits.
PER_LOOK = 100


class LeftNotices:
    """Finds the failure notices no process is showing and shows them (at start-up, then every ``every`` seconds).

    ``patience``: how long a pending notice stays its settling process's to show. A live process shows it within
    moments of the refund; one untouched for longer was left behind (a stop, a crash, a refusal).
    ``busy``: whether this process is still working on that job (its own task may be showing it right now).
    """

    def __init__(
        self,
        *,
        store: JobStore,
        tell: Callable[[Job, JobFailure], Awaitable[None]],
        spawn: Callable[[Awaitable[None]], None],
        busy: Callable[[str], bool],
        patience: float,
        every: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._tell = tell
        self._spawn = spawn
        self._busy = busy
        self._patience = patience
        self._every = every
        self._sleep = sleep
        self._showing: set[str] = set()

    @property
    def showing(self) -> frozenset[str]:
        """The jobs whose notices this process's looks are showing right now."""
        return frozenset(self._showing)

    async def show(
        self, *, idle: float | None = None, within: float | None = RETRY_WINDOW, limit: int | None = PER_LOOK
    ) -> int:
        """Take the notices untouched for ``idle`` seconds (default: the patience) and show each in the background.

        Returns how many were taken to be shown. Raises what the store raises.
        """
        idle = self._patience if idle is None else idle
        taken = await self._store.take_notices(idle=idle, within=within, limit=limit)
        shown = 0
        for job in taken:
            if job.id in self._showing or self._busy(job.id):
                continue  # this process is showing it already
            log.info("job %s: showing its failure, left unshown", job.id, extra=job_fields(job))
            self._showing.add(job.id)
            self._spawn(self._show(job))
            shown += 1
        return shown

    async def _show(self, job: Job) -> None:
        try:
            await self._tell(job, stored_failure(job))
        finally:
            self._showing.discard(job.id)

    async def run(self) -> None:
        """Look for left notices every ``every`` seconds, until cancelled."""
        for _ in range(1_000_000_000):  # until the runner's stop() cancels it
            await self._sleep(self._every)
            try:
                await self.show()
            except Exception:
                log.exception("could not look for failure notices left unshown")
