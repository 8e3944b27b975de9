"""SQLite driver for SqlStore: one aiosqlite connection in WAL mode, transactions serialised in-process.

SQLite serves one bot process: its wake-ups are an in-process event, and the bot opens it ``exclusive`` (an OS
lock on ``<file>.lock``) so a second bot process on the same file is refused instead of silently racing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from bot.store.migrations import migrations_for
from bot.store.records import DatabaseInUse

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from bot.store.db import Row, Tx

__all__ = ["SqliteDatabase"]


class _SqliteTx:
    """A transaction on the shared connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *params: Any) -> int:
        cursor = await self._conn.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        cursor = await self._conn.execute(sql, params)
        row = await cursor.fetchone()
        # Drain so an UPDATE … RETURNING finishes before the transaction commits.
        await cursor.fetchall()
        await cursor.close()
        return row

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        cursor = await self._conn.execute(sql, params)
        rows: list[Row] = list(await cursor.fetchall())
        await cursor.close()
        return rows


class SqliteDatabase:
    """An aiosqlite connection with migrations applied; transactions run one at a time."""

    locks_rows = False  # one writer at a time (BEGIN IMMEDIATE): a read is never overtaken by another write

    def __init__(self, conn: aiosqlite.Connection, *, lock_fd: int | None = None) -> None:
        self._conn = conn
        # One connection means one transaction at a time; BEGIN IMMEDIATE also guards other processes.
        self._lock = asyncio.Lock()
        self._lock_fd = lock_fd  # the exclusive OS lock on "<file>.lock", held until close()
        self._work = asyncio.Event()  # set after a commit that may have made work available
        self._wake_on_commit = False

    @classmethod
    async def open(cls, path: str, *, exclusive: bool = False) -> SqliteDatabase:
        """Open (creating parent folders) and migrate the database at ``path`` (``:memory:`` allowed).

        Raises
        ------
        DatabaseInUse
            ``exclusive`` and another process (or store) holds this file exclusively.
        """
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock_exclusively(path) if exclusive and path != ":memory:" else None
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            _unlock(lock_fd)
            raise
        conn.row_factory = sqlite3.Row
        db = cls(conn, lock_fd=lock_fd)
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA busy_timeout = 5000")
            await conn.execute("PRAGMA foreign_keys = ON")
            await db._migrate()
        except BaseException:
            await db.close()
            raise
        return db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception."""
        async with self._lock:
            self._wake_on_commit = False
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                yield _SqliteTx(self._conn)
                await self._conn.execute("COMMIT")
            except BaseException:
                # Also when cancelled while BEGIN (or COMMIT) was on its way to aiosqlite's thread: it runs there
                # anyway, and calls run in order, so this ROLLBACK follows it. Without one the open transaction
                # would hold SQLite's write lock until the connection closed. Shielded: a second cancel must not
                # skip it; "no transaction is active" just means there was nothing to undo.
                with contextlib.suppress(sqlite3.OperationalError):
                    await asyncio.shield(self._conn.execute("ROLLBACK"))
                raise
            if self._wake_on_commit:
                self._work.set()

    async def notify_work(self, tx: Tx) -> None:
        """Wake this process's waiting workers once the transaction commits (one process: nobody else to tell)."""
        self._wake_on_commit = True

    async def wait_for_work(self, seconds: float) -> None:
        """Return once a commit in this process may have made work available, or after ``seconds``."""
        if not self._work.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), seconds)
        self._work.clear()

    async def close(self) -> None:
        """Close the connection and release the exclusive lock."""
        try:
            await self._conn.close()
        finally:
            _unlock(self._lock_fd)
            self._lock_fd = None

    async def _migrate(self) -> None:
        async with self.transaction() as tx:
            await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = await tx.fetchone("SELECT MAX(version) AS v FROM schema_version")
            current = int(row["v"]) if row and row["v"] is not None else 0
            for version, script in migrations_for("sqlite"):
                if version <= current:
                    continue
                for statement in _statements(script):
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_version (version) VALUES (?)", version)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (our migrations hold no ';' inside literals or triggers)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _lock_exclusively(path: str) -> int:
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


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the only descriptor releases the flock
