"""A process-wide pace for reAPI polls: at most so many per second, however many jobs are running.

Every running job polls its own task (reAPI has no webhooks and no batch status), so without a common pace the
request rate grows with the jobs in flight: 10,000 jobs on the fixed 2.5 s cadence are 4,000 requests a second,
more than reAPI asks for and more than one event loop can send while it also answers Discord. With the pace, a
job's poll waits for its turn once its own schedule says it is due; turns go out in the order they fell due (so
under load every job's polls stretch alike, and a job that is due never waits behind one that is not) and never
faster than ``rate`` per second, with at most ``burst`` at once.

The turns are kept by the generic cell rate algorithm: one number, the time the next turn is due, so a waiting
poll costs nothing but its own sleep (no queue, no task of the pacer's own).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["PollPacer"]


class PollPacer:
    """Hands out poll turns at ``rate`` per second, ``burst`` of them at most back to back."""

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._spacing = 1.0 / rate
        self._tolerance = max(0, burst - 1) * self._spacing
        self._clock = clock
        self._sleep = sleep
        self._due = clock()  # when the next turn is due at the steady pace
        self._last_seen = self._due

    def ahead(self) -> float:
        """Seconds a poll asking now would wait for its turn (0 when the pace has room)."""
        now = self._clock()
        return max(0.0, max(self._due, now) - self._tolerance - now)

    async def turn(self) -> None:
        """Wait for this poll's turn. A turn taken by a poll cancelled while waiting is not handed back (the pace
        stays conservative: at worst one turn in a burst goes unused)."""
        now = self._clock()
        if now < self._last_seen:  # the clock was set back: keep the queue's length, not its absolute time
            self._due -= self._last_seen - now
        self._last_seen = now
        due = max(self._due, now)
        self._due = due + self._spacing
        wait = due - self._tolerance - now
        if wait > 0:
            await self._sleep(wait)
