"""PostgreSQL driver for SqlStore: an asyncpg pool; SqlStore's ``?`` placeholders become ``$n``."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import asyncpg

from bot.store.migrations import migrations_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from bot.store.db import Row

__all__ = ["PostgresDatabase"]

# Serialises migrations when several bot processes start against one database.
_MIGRATION_LOCK_KEY = 0x1A6E_B07


@lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


class _PostgresTx:
    """A transaction on one pooled connection."""

    def __init__(self, conn: asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, *params: Any) -> int:
        status = await self._conn.execute(_numbered(sql), *params)
        # asyncpg returns the command tag, e.g. "UPDATE 1" or "INSERT 0 1".
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        row: Row | None = await self._conn.fetchrow(_numbered(sql), *params)
        return row

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        return list(await self._conn.fetch(_numbered(sql), *params))


class PostgresDatabase:
    """An asyncpg pool with migrations applied."""

    locks_rows = True  # READ COMMITTED transactions run side by side: reads before a write lock the row

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> PostgresDatabase:
        """Connect to ``dsn`` and apply pending migrations."""
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
        db = cls(pool)
        try:
            await db._migrate()
        except BaseException:
            await pool.close()
            raise
        return db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PostgresTx]:
        """A READ COMMITTED transaction; SqlStore's money statements are conditional, so that suffices."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PostgresTx(conn)

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    async def _migrate(self) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_KEY)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for version, script in migrations_for("postgres"):
                if version > current:
                    await conn.execute(script)
                    await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
