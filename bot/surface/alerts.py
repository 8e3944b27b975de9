"""Owner alerts (spend cap reached, reAPI out of credits): a DM to each owner, or a post in a log channel."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

__all__ = ["OwnerAlerts"]

log = logging.getLogger(__name__)

# An alert with a key is sent at most once per key in this many seconds (a broken channel would otherwise
# alert on every job); it is still logged every time.
REPEAT_AFTER = 24 * 3600.0


class OwnerAlerts:
    """The bot's ``Alerts`` (``bot.engine.ports``): posts in ``log_channel_id`` when set, else DMs every owner."""

    def __init__(
        self,
        client: discord.Client,
        *,
        owner_ids: Collection[int],
        log_channel_id: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._owner_ids = tuple(owner_ids)
        self._channel_id = log_channel_id
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._sent_at: dict[str, float] = {}  # key -> when an alert with it was last sent

    def notify(self, text: str, *, key: str | None = None) -> None:
        """Log the alert and send it in the background, unless ``key`` was alerted within the last day."""
        log.warning("owner alert: %s", text)
        if key is not None:
            now = self._clock()
            self._sent_at = {k: t for k, t in self._sent_at.items() if now - t < REPEAT_AFTER}
            if key in self._sent_at:
                return
            self._sent_at[key] = now
        task = asyncio.create_task(self._send(text), name="owner-alert")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Give alerts in flight a moment, then drop them."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        for task in set(self._tasks):
            task.cancel()

    async def _send(self, text: str) -> None:
        if self._channel_id:
            try:
                await self._client.get_partial_messageable(self._channel_id).send(text)
            except discord.HTTPException as exc:
                log.warning("could not post an owner alert in channel %s: %s", self._channel_id, exc)
            return
        for owner_id in self._owner_ids:
            try:
                channel = await self._client.create_dm(discord.Object(owner_id))
                await channel.send(text)
            except discord.HTTPException as exc:
                log.warning("could not DM owner %s an alert: %s", owner_id, exc)
