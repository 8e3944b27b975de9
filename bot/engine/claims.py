"""The claim loop: fills this worker's free slots from the database's queue, orphans first.

Kept apart from ``bot.engine.runner.JobRunner``, which starts what is claimed here and says when one of its jobs
lets go of its slot. A hand-off in a draining queue is: a job settles, its slot is freed here at once, and one
transaction claims a job for every slot free by then (``JobStore.claim_many``), so a freed slot waits for one
claim, not for a claim per slot in line, nor for the Discord call that tells the member how the job ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import TYPE_CHECKING

from bot.store import JobState

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.engine.ports import JobStore
    from bot.engine.spend import SpendGuard
    from bot.store import ClaimLimits, Job

__all__ = ["ClaimLoop"]

log = logging.getLogger(__name__)

# With no work in sight a worker looks again this often (a PostgreSQL NOTIFY or a local event wakes it sooner):
# a job another process queued, or a pause it set, is seen within about a second.
_IDLE_WAIT = 1.0


class ClaimLoop:
    """Claims jobs while the limits allow and hands each to ``start``; ``busy()``: this worker's slots in use."""

    def __init__(
        self,
        *,
        store: JobStore,
        worker: str,
        limits: ClaimLimits,
        lease_seconds: float,
        busy: Callable[[], int],
        start: Callable[[Job], None],
        spend: SpendGuard | None = None,
    ) -> None:
        self._store = store
        self._worker = worker
        self._limits = limits
        self._lease = lease_seconds
        self._busy = busy
        self._start = start
        self._spend = spend
        self._slot_freed = asyncio.Event()  # one of this worker's jobs let go of its slot
        self.stopping = False

    def slot_freed(self) -> None:
        """One of this worker's jobs let go of its slot: claim again now if the loop waits for one."""
        self._slot_freed.set()

    async def run(self) -> None:
        """Claim jobs while the limits allow (orphans first: reAPI may already have them), else wait for work."""
        slots = self._limits.max_running
        loop = asyncio.get_running_loop()
        # Orphans appear only when leases lapse (time passing) or another process hands its jobs back (which wakes
        # the store's waiters). So they are looked for after every such wake-up and at least once per idle wait,
        # not before every claim: in a draining queue that would be a second transaction in line per claim.
        orphans_checked = -math.inf  # loop time of the last look that found none
        for _ in range(1_000_000_000):  # until stop() cancels it
            if self.stopping:
                return
            if self._busy() >= slots:
                # This worker alone holds every slot, so a claim could only find them full, and each try is
                # transactions in line behind every other (a burst of /imagine wakes the store's waiters once per
                # job queued). Wait for one of its own jobs to end instead; after an idle wait, try anyway (a
                # 'submitting' orphan is taken even under full limits, and a lease may have lapsed).
                await self._own_slot_freed(_IDLE_WAIT)
            try:
                # Every slot free now, in one transaction (at least one: the store may have room this worker's
                # own count does not see, e.g. after a lease of its own lapsed); orphans first when it is time.
                look = loop.time() - orphans_checked >= _IDLE_WAIT
                wanted = max(1, slots - self._busy())
                jobs = await self._store.claim_many(
                    self._worker, wanted, lease_seconds=self._lease, limits=self._limits, orphans=look
                )
                if look:
                    # One found: look again at once (a restart leaves many, and they go first).
                    found = any(job.state is not JobState.QUEUED for job in jobs)
                    orphans_checked = -math.inf if found else loop.time()
            except Exception:
                log.exception("could not claim a job; trying again shortly")
                orphans_checked = -math.inf
                await asyncio.sleep(_IDLE_WAIT)
                continue
            if not jobs:
                await self._store.wait_for_work(_IDLE_WAIT)
                orphans_checked = -math.inf  # woken: perhaps by jobs another process handed back
            for job in jobs:
                self._start(job)
            if self._spend is not None:
                # After the claimed jobs started, not before the claim: the hand-off waits for no read, and a pause
                # another process set is still seen within about a second (each job checks it before its POST).
                try:
                    await self._spend.refresh()
                except Exception:
                    log.exception("could not read the reAPI pause; trying again shortly")

    async def _own_slot_freed(self, timeout: float) -> None:  # noqa: ASYNC109 (returns normally at the deadline)
        """Return when one of this worker's jobs lets go of its slot, or after ``timeout``."""
        # Cleared and awaited with no await in between since the caller counted the slots: no end is missed.
        self._slot_freed.clear()
        # asyncio.timeout, not wait_for: no extra task, so the wake-up costs one pass of a busy loop, not two.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._slot_freed.wait()
