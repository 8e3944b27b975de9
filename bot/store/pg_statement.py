"""PostgreSQL: one connection of the store's own, outside the pool, for statements that run by themselves.

asyncpg's pool spends more of the event loop's time on an acquire and a release (a task and a shield per release,
a proxy, an inactivity timer set and cancelled) than the store's usual statement takes to encode, send and read
back: on the ledger benchmark's batches, ~20 µs of client CPU per reserve+settle pair (bench/fixes.md). A statement
that is atomic on its own (no transaction, no session state) takes this connection while it is idle; while it is
busy, lost, or being opened, statements go through the pool as they always did. So the store holds at most one
connection more than its pool's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

__all__ = ["StatementConnection", "close_quietly"]

log = logging.getLogger(__name__)

_REOPEN_INTERVAL = 1.0  # at most one attempt a second to (re)open it; the pool serves meanwhile
_PATIENCE = 5.0  # seconds for connecting, and for closing politely


class StatementConnection:
    """The store's own connection: ``take`` it for one statement, ``give_back`` after; None means use the pool."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._idle: asyncpg.Connection[Any] | None = None
        self._free = asyncio.Event()  # set while no statement holds the connection
        self._free.set()
        self._opening: asyncio.Task[None] | None = None
        self._next_attempt = 0.0
        self._closed = False

    def take(self) -> asyncpg.Connection[Any] | None:
        """The connection, the caller's alone until ``give_back``; None while it is busy, not open or closed."""
        conn, self._idle = self._idle, None
        if conn is not None and not conn.is_closed():
            self._free.clear()
            return conn
        if self._free.is_set():
            self._open_soon()  # none yet, or lost while idle
        return None

    def give_back(self, conn: asyncpg.Connection[Any], *, sound: bool) -> None:
        """End the caller's statement. ``sound``: it ended (or the server refused it) and the connection is as it
        was; otherwise (lost, cancelled mid-statement) it is dropped, and a later statement opens another."""
        self._free.set()
        if sound and not conn.is_closed():
            self._idle = conn
        else:
            conn.terminate()

    async def close(self) -> None:
        """Stop opening, let a statement in flight end (as the pool's close does), then close the connection."""
        self._closed = True
        if self._opening is not None:
            self._opening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._opening
        await self._free.wait()
        conn, self._idle = self._idle, None
        if conn is not None:
            await close_quietly(conn)

    async def open(self) -> None:
        """Open it now (the store does as it opens); if that fails, statements use the pool until a later try."""
        if self._opening is None and self._idle is None and self._free.is_set():
            self._opening = asyncio.get_running_loop().create_task(self._open())
        if self._opening is not None:
            await asyncio.shield(self._opening)

    def _open_soon(self) -> None:
        loop = asyncio.get_running_loop()
        if self._closed or self._opening is not None or loop.time() < self._next_attempt:
            return
        self._opening = loop.create_task(self._open())

    async def _open(self) -> None:
        self._next_attempt = asyncio.get_running_loop().time() + _REOPEN_INTERVAL
        try:
            conn = await asyncpg.connect(self._dsn, timeout=_PATIENCE)
        except Exception as error:  # the pool serves until a later attempt
            log.warning("cannot open a statement connection (%s); using the pool", type(error).__name__)
            return
        finally:
            self._opening = None
        if self._closed:
            await close_quietly(conn)
        else:
            self._idle = conn


async def close_quietly(conn: asyncpg.Connection[Any]) -> None:
    """Close ``conn`` politely if it answers within a few seconds, else drop it (a dead one cannot be closed)."""
    try:
        await asyncio.wait_for(conn.close(), _PATIENCE)
    except Exception:
        conn.terminate()
