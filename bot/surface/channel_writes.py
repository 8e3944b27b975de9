"""The bot's own budget of message writes per Discord channel, in which results go before progress.

Discord lets a bot create, edit or delete about 5 messages per 5 s in one channel with its bot token (interaction
webhooks are limited per interaction token instead, so their writes take no slot here). With many jobs in one
channel, progress edits alone would use that up and the results would meet 429s (or queue behind progress in
discord.py's own bucket). So every bot-token channel write takes a slot here first: a result, a failure notice or
a reply-to-edit placeholder waits for one, in turn; a
progress edit takes one only when it is free now, no result is waiting for the channel, and a slot stays free for
the next result. Otherwise it is put off (the notifier keeps only the newest text, so put-off edits coalesce, and
one still waiting when the outcome comes is dropped): a progress edit may be skipped, a result never.

A slot counts from the moment its request is sent until ``window`` (plus a margin) after its answer came back:
Discord counts a write when it receives it, which is never later than the answer, so the bot stays under the
limit whatever the latency. Writes made by another process on the same channel are not seen here; the 429s they
may cause are the delivery retries' to handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

__all__ = ["ChannelBusy", "ChannelWrites"]

# Discord's per-channel message write limit: 5 per 5 s.
DEFAULT_LIMIT = 5
DEFAULT_WINDOW = 5.0
# Added to the window: Discord's window and ours never start at the same instant.
_MARGIN = 0.25
# A put-off progress edit asks again after at least this long (no busy loop while results hold the channel).
_MIN_RETRY = 0.2
# Hard cap on the checks one result makes while it waits for its slot (each waits for a slot to free).
_MAX_WAITS = 100_000


class ChannelBusy(Exception):
    """No slot for a progress edit now; ask again after ``retry_in`` seconds (or drop it)."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"channel busy for {retry_in:.2f}s")
        self.retry_in = retry_in


@dataclass
class _Channel:
    done: deque[float] = field(default_factory=deque)  # when recent writes were answered (monotonic)
    in_flight: int = 0
    results_waiting: int = 0
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # results take slots one at a time, in order
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # a write ended: a slot may be free


class ChannelWrites:
    """Per-channel write slots shared by every job in the process (see the module docstring).

    Parameters
    ----------
    limit, window
        At most ``limit`` writes per ``window`` seconds in one channel (Discord: 5 per 5 s).
    """

    def __init__(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = max(1, limit)
        self._span = window + _MARGIN
        self._monotonic = monotonic
        self._channels: dict[int, _Channel] = {}

    def _channel(self, channel_id: int) -> _Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            channel = self._channels[channel_id] = _Channel()
        return channel

    def _used(self, channel: _Channel) -> int:
        """Slots taken now: writes on the wire and writes answered within the window."""
        horizon = self._monotonic() - self._span
        while channel.done and channel.done[0] <= horizon:
            channel.done.popleft()
        return channel.in_flight + len(channel.done)

    def _free_in(self, channel: _Channel) -> float | None:
        """Seconds until the oldest answered write leaves the window (None: only writes on the wire hold slots)."""
        if not channel.done:
            return None
        return max(0.0, channel.done[0] + self._span - self._monotonic())

    def progress(self, channel_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """A slot for one progress edit, taken at once.

        Raises
        ------
        ChannelBusy
            A result is waiting for the channel, or taking the slot would leave none for the next result.
        """
        channel = self._channel(channel_id)
        if channel.results_waiting or self._used(channel) >= self._limit - 1:
            free_in = self._free_in(channel)
            raise ChannelBusy(max(_MIN_RETRY, free_in if free_in is not None else _MIN_RETRY))
        channel.in_flight += 1
        return self._release_after(channel_id, channel)

    async def result(self, channel_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait for a slot for a result (or a failure notice), in turn with the channel's other results."""
        channel = self._channel(channel_id)
        channel.results_waiting += 1
        try:
            async with channel.turn:
                for _ in range(_MAX_WAITS):
                    if self._used(channel) < self._limit:
                        break
                    channel.changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(channel.changed.wait(), timeout=self._free_in(channel))
                channel.in_flight += 1
        finally:
            channel.results_waiting -= 1
        return self._release_after(channel_id, channel)

    @contextlib.asynccontextmanager
    async def _release_after(self, channel_id: int, channel: _Channel) -> AsyncIterator[None]:
        try:
            yield
        finally:
            channel.in_flight -= 1
            channel.done.append(self._monotonic())
            channel.changed.set()
            if not channel.in_flight and not channel.results_waiting and len(self._channels) > 1000:
                self._forget_idle()

    def _forget_idle(self) -> None:
        """Drop channels with nothing in the window (a long-running bot sees many channels)."""
        for channel_id, channel in list(self._channels.items()):
            if not channel.in_flight and not channel.results_waiting and self._used(channel) == 0:
                del self._channels[channel_id]
