"""Coalesced progress edits of job placeholders: the newest line wins, none is repeated, none lands after the outcome.

Kept apart from the notifier because it is scheduling, not Discord: one task per job sends the latest line at most
once an interval through a callback, and stops (letting an edit already on the wire finish) before the outcome is
shown. How a line is written to Discord is the notifier's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from bot.engine.ports import DeliveryFailed
from bot.logs import job_fields
from bot.surface.channel_writes import ChannelBusy
from bot.surface.delivery_errors import DISCORD_ERRORS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.store import Job

__all__ = ["ProgressEdits"]

log = logging.getLogger(__name__)

# How long a passing stage ("Submitting") must last before its line is sent (seconds).
_PASSING_STAGE = 1.0
# How long a delivery waits for a progress edit already on the wire (discord.py may be waiting out a 429).
_SETTLE_TIMEOUT = 30.0
# Jobs whose outcome was shown, remembered so that a late progress call cannot overwrite it.
_ENDED_MEMORY = 1000


class _Pending:
    """The newest progress text for one job, the last one Discord has, and the task that sends them."""

    __slots__ = ("closed", "hold_until", "in_flight", "job", "last_sent", "next", "sent", "task")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.next: tuple[str, bool] | None = None  # (text, cancellable) to send
        self.sent: tuple[str, bool] | None = None  # what the placeholder shows now
        self.last_sent = float("-inf")
        self.in_flight = False  # an edit request is on the wire
        self.closed = False  # the outcome is being shown: no further progress
        self.hold_until = float("-inf")  # a passing stage's line waits until then for the next one (monotonic)
        self.task: asyncio.Task[None] | None = None


class ProgressEdits:
    """Sends each job's newest progress line through ``send``: at most one edit per ``interval`` per job, a newer
    line replacing one not yet sent, an identical one never re-sent, and nothing once the outcome is being shown, nor
    once the lease the job held when the line was asked for has run out (another process may have the job by then).

    Parameters
    ----------
    send
        Writes one line into a job's placeholder: ``send(job, text, cancellable)``. It may raise ``ChannelBusy``
        (the edit is put off until the channel has a write to spare), a Discord error or ``DeliveryFailed`` (the
        edit is dropped: progress is cosmetic, the next line or the outcome follows).
    interval
        Minimum seconds between two edits of one job.
    """

    def __init__(
        self,
        send: Callable[[Job, str, bool], Awaitable[None]],
        *,
        interval: float,
        monotonic: Callable[[], float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._send = send
        self._interval = interval
        self._monotonic = monotonic
        self._clock = clock  # wall-clock seconds, as the store's leases count them
        self._pending: dict[str, _Pending] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()

    def show(self, job: Job, text: str, *, cancellable: bool, passing: bool) -> None:
        """Show ``text`` soon; ``passing``: a stage that usually ends at once, sent only if it lasts."""
        if job.id in self._ended:
            return
        pending = self._pending.get(job.id)
        if pending is None:
            pending = self._pending[job.id] = _Pending(job)
        pending.job = job
        pending.hold_until = self._monotonic() + _PASSING_STAGE if passing else float("-inf")
        wanted = (text, cancellable)
        pending.next = None if wanted == pending.sent else wanted
        if pending.next is not None and (pending.task is None or pending.task.done()):
            pending.task = asyncio.create_task(self._flush(pending), name=f"progress-{job.id}")

    async def _flush(self, pending: _Pending) -> None:
        # Bounded: each pass either sends the newest text or finds nothing new and stops.
        for _ in range(10_000):
            if pending.closed:
                return  # the outcome is waiting for the edit just sent: end now, not after an interval's sleep
            wait = max(pending.last_sent + self._interval, pending.hold_until) - self._monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                if pending.hold_until > self._monotonic():
                    continue  # a passing stage came again meanwhile: its own hold starts over (bounded loop)
            wanted, pending.next = pending.next, None
            if wanted is None or pending.closed:
                return
            if wanted == pending.sent:
                continue
            lease = pending.job.lease_until
            if lease is not None and self._clock() >= lease:
                # The line was decided under a lease that has run out since (this process stalled, or lost the job):
                # another process may hold the job now and have shown its outcome, which this line must not cover.
                log.info(
                    "job %s: progress line dropped: its lease ran out", pending.job.id, extra=job_fields(pending.job)
                )
                return
            text, cancellable = wanted
            previous, pending.last_sent = pending.last_sent, self._monotonic()
            pending.in_flight = True
            try:
                await self._send(pending.job, text, cancellable)
                pending.sent = wanted
            except ChannelBusy as busy:
                # The channel's budget is kept for results: put the edit off (a newer text replaces it meanwhile;
                # the outcome, if it comes first, drops it).
                pending.last_sent = previous
                if pending.next is None:
                    pending.next = wanted
                pending.in_flight = False
                await asyncio.sleep(busy.retry_in)
            except (*DISCORD_ERRORS, DeliveryFailed) as exc:  # cosmetic; the next edit or the outcome follows
                log.debug("progress edit for job %s failed: %s", pending.job.id, exc, extra=job_fields(pending.job))
            finally:
                pending.in_flight = False

    async def settle(self, job_id: str) -> None:
        """Stop progress for a job whose outcome is about to be shown; an edit already sent is let finish,
        so it can never land after (and strip the buttons of) the result."""
        self._ended[job_id] = None
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)
        pending = self._pending.pop(job_id, None)
        if pending is None or pending.task is None or pending.task.done():
            return
        pending.closed = True
        pending.next = None
        if pending.in_flight:
            done, _ = await asyncio.wait({pending.task}, timeout=_SETTLE_TIMEOUT)
            if done:
                return
        pending.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending.task

    async def close(self) -> None:
        """Stop pending progress edits (a shutdown)."""
        for pending in list(self._pending.values()):
            if pending.task is not None and not pending.task.done():
                pending.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending.task
        self._pending.clear()
