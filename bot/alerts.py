"""Owner alerts (spend cap reached, reAPI out of credits): a DM to each owner, or a post in a log channel."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

import discord

if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = ["Alerts", "OwnerAlerts"]

log = logging.getLogger(__name__)


class Alerts(Protocol):
    """Somewhere to tell the bot's owners about a problem only they can fix."""

    def notify(self, text: str) -> None:
        """Send ``text`` in the background; never raises and never blocks the caller."""
        ...

    async def close(self) -> None:
        """Wait briefly for alerts still being sent."""
        ...


class OwnerAlerts:
    """Posts alerts in ``log_channel_id`` when set, else DMs every owner; every alert is also logged."""

    def __init__(self, client: discord.Client, *, owner_ids: Collection[int], log_channel_id: int = 0) -> None:
        self._client = client
        self._owner_ids = tuple(owner_ids)
        self._channel_id = log_channel_id
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, text: str) -> None:
        """Log the alert and send it in the background."""
        log.warning("owner alert: %s", text)
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
