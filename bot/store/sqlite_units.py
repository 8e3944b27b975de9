"""The pieces a SQLite transaction unit runs with on the writer thread: its Tx, its queue entry, and file locks.

Split from ``bot.store.sqlite`` (which drives them): nothing here touches the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from typing import TYPE_CHECKING, Any, TypeVar

from bot.store.records import DatabaseInUse

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Coroutine

    from bot.store.db import Row, Tx

__all__ = [
    "DirectTx",
    "Unit",
    "finish",
    "lock_exclusively",
    "reset",
    "rollback_quietly",
    "statements",
    "unlock",
]

T = TypeVar("T")


class DirectTx:
    """A Tx on the writer thread: each call runs sqlite3 at once and never suspends."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.wake = False  # notify_work was called: wake the waiting workers once this commits

    async def execute(self, sql: str, *params: Any) -> int:
        """Run a statement; how many rows it changed."""
        cursor = self._conn.execute(sql, params)
        count = cursor.rowcount
        cursor.close()
        return count

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        """Run a query (or ``… RETURNING``); its first row."""
        cursor = self._conn.execute(sql, params)
        row: Row | None = cursor.fetchone()
        # Drain so an UPDATE … RETURNING finishes before the transaction commits.
        cursor.fetchall()
        cursor.close()
        return row

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        """Run a query; every row."""
        cursor = self._conn.execute(sql, params)
        rows: list[Row] = cursor.fetchall()
        cursor.close()
        return rows


def finish(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never suspends to its end (on the writer thread) and return its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coro.close()
    raise RuntimeError("a SQLite transaction unit awaited something other than its transaction")


class Unit:
    """One queued transaction unit and the future its caller awaits."""

    __slots__ = ("error", "fn", "future", "ok", "value", "wake")

    def __init__(self, fn: Callable[[Tx], Coroutine[Any, Any, Any]], future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.future = future
        self.ok = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.wake = False


def reset(units: list[Unit]) -> None:
    """Forget the outcomes of units whose writes were rolled back: they run again."""
    for unit in units:
        unit.ok, unit.value, unit.wake, unit.error = False, None, False, None


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """ROLLBACK whatever transaction is open, if any."""
    # "no transaction is active" just means there was nothing to undo.
    with contextlib.suppress(sqlite3.OperationalError):
        conn.execute("ROLLBACK")


def statements(script: str) -> list[str]:
    """Split a migration into statements (our migrations hold no ';' inside literals or triggers)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def lock_exclusively(path: str) -> int:
    """Take the OS lock that marks ``path`` as served by this process; its descriptor holds it until closed."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseInUse(path) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def unlock(fd: int | None) -> None:
    """Release the lock ``lock_exclusively`` took (None: there is none)."""
    if fd is not None:
        os.close(fd)  # closing the only descriptor releases the flock
