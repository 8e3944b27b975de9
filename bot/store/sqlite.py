"""SQLite driver for SqlStore: one aiosqlite connection in WAL mode, transactions serialised in-process."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from bot.store.migrations import migrations_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from bot.store.db import Row

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

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        # One connection means one transaction at a time; BEGIN IMMEDIATE also guards other processes.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        """Open (creating parent folders) and migrate the database at ``path`` (``:memory:`` allowed)."""
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA busy_timeout = 5000")
        await conn.execute("PRAGMA foreign_keys = ON")
        db = cls(conn)
        try:
            await db._migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

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
