"""ACK first: the cyclic garbage collector waits, bounded, while interactions wait for their acknowledgement.

Why: Discord gives an interaction 3 s to be acknowledged, and under a burst of commands every ACK waits behind
whatever else the process does. Measured on ``python -m bench --only ack`` (200 simultaneous /imagine), nothing
of the bot's own work ran between the first INTERACTION_CREATE and the last ACK; what did was CPython's collector:
each burst set off about 70 young collections and one full one, and the full one stopped the loop for 60-350 ms
(the bot's heap is larger than a bare bot's), in the middle of the ACKs. The collections are not skipped, only
moved: they run as soon as the burst is acknowledged.

The same holds for a command's own work after its ACK (a store read and write, the job's start, its requests):
run at once, it shares the loop (and the requests' peers) with the defers still to go out, and doubled the median
ACK of a burst. :meth:`AckWindow.after_earlier_acks` puts it behind the ACKs of the interactions that came before.
"""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import discord

__all__ = ["AckWindow"]

# Discord's deadline for the first response: an interaction older than this can no longer be acknowledged, so it
# stops counting as pending even if the bot never answered it (a 10062, an interaction nobody handles).
ACK_DEADLINE = 3.0


class AckWindow:
    """Holds the garbage collector off while interactions this bot received are still unacknowledged.

    :meth:`received` is called synchronously as discord.py parses each INTERACTION_CREATE. When one arrives while
    none is pending and the collector is on, the window turns it off; it turns it back on as soon as every pending
    interaction is acknowledged (``response.is_done()``), or after ``max_pause`` seconds or ``max_young`` young
    objects at most. A pause that ended on a bound is not followed by another until no interaction is pending, so a
    steady stream of commands can never keep the collector off. The window only ever re-enables a collector it
    disabled itself (one turned off by someone else stays off), and :meth:`close` ends any pause it holds.

    Work that should not compete with ACKs awaits :meth:`after_earlier_acks`.
    """

    def __init__(self, *, max_pause: float = 1.0, max_young: int = 75_000, check_every: float = 0.01) -> None:
        # Bounds the memory a pause can let pile up, and how long a pause can outlive a lost interaction.
        self.max_pause = max_pause
        # And how large the young collection it puts off may grow: that collection scans everything allocated
        # meanwhile, so a second of a loaded bot's allocations would stop the loop in one piece. 1.5 times the
        # bot's own young threshold (GC_THRESHOLDS): in bench scale, where /imagine arrive at 100/s and the window
        # is open much of the time, the longest young collection (the loop's longest stall) was 63-126 ms over four
        # runs with 150,000, 52 and 73 ms over two with 75,000.
        self.max_young = max_young
        self.check_every = check_every
        self.pauses = 0  # pauses started since creation (observability and tests)
        # In order of arrival: (loop time, arrival number, interaction).
        self._pending: list[tuple[float, int, discord.Interaction[Any]]] = []
        self._arrivals = 0  # interactions received so far; numbers them
        # Work waiting for the ACKs of every interaction up to an arrival number: (that number, its future).
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._paused_at: float | None = None  # loop time the current pause began; None: not holding the collector
        self._timer: asyncio.TimerHandle | None = None

    @property
    def paused(self) -> bool:
        """Whether this window is holding the collector off right now."""
        return self._paused_at is not None

    @property
    def pending(self) -> int:
        """Interactions received and not yet known to be acknowledged (as of the last check)."""
        return len(self._pending)

    def received(self, interaction: discord.Interaction[Any]) -> None:
        """Count a new interaction as pending; start a pause when it is the first one and the collector is on."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        first = not self._pending
        self._arrivals += 1
        self._pending.append((now, self._arrivals, interaction))
        if first and self._paused_at is None and gc.isenabled():
            gc.disable()
            self._paused_at = now
            self.pauses += 1
        if self._timer is None:
            self._timer = loop.call_later(self.check_every, self._check)

    async def after_earlier_acks(self, limit: float = 0.5) -> None:
        """Return once every interaction received so far is acknowledged (or past its deadline), checked every
        ``check_every``; after ``limit`` seconds at most.

        Only those received so far: interactions arriving meanwhile are not waited for, so under a steady stream
        of commands each one's work waits a few milliseconds for the ACKs then in flight, not for a lull that
        may never come (a wait for "nothing pending" gathered soak's steady 200/s into waves of intake, and some
        ACKs behind them came late).
        """
        if not self._pending:
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (self._arrivals, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(limit):
                await waiter
        except TimeoutError:
            pass
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _check(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        self._pending = [
            (at, number, inter)
            for at, number, inter in self._pending
            if not inter.response.is_done() and now - at < ACK_DEADLINE
        ]
        if self._waiters:
            self._release_waiters()
        if self._paused_at is not None and (
            not self._pending or now - self._paused_at >= self.max_pause or gc.get_count()[0] >= self.max_young
        ):
            self._resume()
        if self._pending:
            self._timer = asyncio.get_running_loop().call_later(self.check_every, self._check)

    def _release_waiters(self) -> None:
        """Wake the waiters whose interactions are all acknowledged (every waiter once nothing is pending)."""
        oldest = self._pending[0][1] if self._pending else self._arrivals + 1
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for number, waiter in self._waiters:
            if number < oldest:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                keep.append((number, waiter))
        self._waiters = keep

    def _resume(self) -> None:
        if self._paused_at is not None:
            self._paused_at = None
            gc.enable()

    def close(self) -> None:
        """Stop watching: end any pause this window holds and forget the pending interactions."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()
        self._release_waiters()
        self._resume()
