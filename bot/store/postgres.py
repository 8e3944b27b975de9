"""PostgreSQL driver for SqlStore: an asyncpg pool; SqlStore's ``?`` placeholders become ``$n``.

Workers in every process wake by ``LISTEN/NOTIFY`` on one channel: a commit that may make work available sends
``pg_notify`` inside its transaction (delivered only if it commits), and each store listens on a connection of
its own, opened on the first wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from contextlib import asynccontextmanager
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg

from bot.store.migrations import migrations_for
from bot.store.pg_statement import StatementConnection, close_quietly
from bot.store.sql_pg import WORK_CHANNEL

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine

    from bot.store.db import Row, Tx

__all__ = ["WORK_CHANNEL", "PostgresDatabase", "keep_session"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

# Serialises migrations when several bot processes start against one database.
_MIGRATION_LOCK_KEY = 0x1A6E_B07
_RELISTEN_INTERVAL = 1.0  # at most one attempt a second to (re)open the listening connection
_LISTEN_PATIENCE = 5.0  # for connecting and LISTEN: a slow server must not hold a wait much past its end
# A deadlock's victim (or a serialization failure) kept nothing: its transaction runs again, this many times in all.
_ATTEMPTS = 3
_RUN_AGAIN = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


@lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


async def keep_session(conn: asyncpg.Connection[Any]) -> None:
    """A pool ``reset`` that sends nothing: the store leaves no session state on a connection it gives back.

    asyncpg's default reset runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` on every
    release: a round trip as long as the store's own statement, for state the store never creates (no SET, no
    session advisory lock, no cursor outside a transaction, no LISTEN: the listener has a connection of its own).
    An open transaction is still rolled back by asyncpg itself before this is called.
    """


class _PostgresTx:
    """A transaction on one pooled connection."""

    def __init__(self, conn: _Conn) -> None:
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
    writes_in_cte = True  # a whole step can be one statement (data-modifying CTEs): one round trip

    def __init__(self, pool: asyncpg.Pool[Any], *, dsn: str | None = None) -> None:
        self._pool = pool
        self._listener = _Listener(dsn) if dsn is not None else None
        self._own = StatementConnection(dsn) if dsn is not None else None  # for statements run alone

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> PostgresDatabase:
        """Connect to ``dsn`` and apply pending migrations."""
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=keep_session)
        db = cls(pool, dsn=dsn)
        try:
            await db._migrate()
        except BaseException:
            await pool.close()
            raise
        if db._own is not None:
            await db._own.open()
        return db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PostgresTx]:
        """A READ COMMITTED transaction; SqlStore's money statements are conditional, so that suffices."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PostgresTx(conn)

    async def run(self, unit: Callable[[Tx], Coroutine[Any, Any, T]]) -> T:
        """Run ``unit`` in a READ COMMITTED transaction on a pooled connection; again if it was a deadlock's victim.

        Locks are taken in one order wherever the store can choose it, but not every order is the store's to
        choose (an ``UPDATE … FROM`` meets its rows in its plan's order), and PostgreSQL breaks a deadlock by
        failing any one of its transactions: that one kept nothing, and a unit is a function of the database alone
        (SQLite's writer runs units again too), so it runs again instead of failing its caller.
        """

        async def once() -> T:
            async with self._pool.acquire() as conn, conn.transaction():
                return await unit(_PostgresTx(conn))

        return await _again(once)

    async def fetch_atomic(self, sql: str, *params: Any) -> Row | None:
        """One statement, atomic on its own: no BEGIN/COMMIT round trips around it (run again like ``run``)."""

        async def once(conn: _Conn) -> Row | None:
            row: Row | None = await conn.fetchrow(_numbered(sql), *params)
            return row

        return await _again(partial(self._alone, once))

    async def fetch_all_atomic(self, sql: str, *params: Any) -> list[Row]:
        """One query, atomic on its own; every row (run again like ``run``)."""

        async def once(conn: _Conn) -> list[Row]:
            return list(await conn.fetch(_numbered(sql), *params))

        return await _again(partial(self._alone, once))

    async def _alone(self, statement: Callable[[_Conn], Awaitable[T]]) -> T:
        """Run a statement that is atomic on its own on the store's own connection if it is idle, else pooled."""
        conn = self._own.take() if self._own is not None else None
        if conn is None:
            async with self._pool.acquire() as pooled:
                return await statement(pooled)
        assert self._own is not None
        sound = False
        try:
            result = await statement(conn)
            sound = True
            return result
        except asyncpg.PostgresError:
            sound = True  # the server refused it: the connection is as it was
            raise
        finally:
            self._own.give_back(conn, sound=sound)

    async def notify_work(self, tx: Tx) -> None:
        """NOTIFY every listening process, delivered when ``tx`` commits (and not at all if it rolls back)."""
        await tx.execute("SELECT pg_notify(?, '')", WORK_CHANNEL)

    async def wait_for_work(self, seconds: float) -> None:
        """Return on a notification (or a fresh listen, which may have missed some), or after ``seconds``."""
        if self._listener is None:
            await asyncio.sleep(seconds)  # opened without a DSN to listen with: poll
            return
        await self._listener.wait(seconds)

    async def close(self) -> None:
        """Stop listening, close the store's own connection and the pool."""
        if self._listener is not None:
            await self._listener.close()
        if self._own is not None:
            await self._own.close()
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


async def _again(once: Callable[[], Awaitable[T]]) -> T:
    """``once()``, run again (up to ``_ATTEMPTS`` in all) while it fails as a deadlock's victim or a serialization
    failure: PostgreSQL kept nothing of such an attempt."""
    for attempt in range(1, _ATTEMPTS):
        try:
            return await once()
        except _RUN_AGAIN as error:
            log.info("run again after %s (attempt %d)", type(error).__name__, attempt)
    return await once()


class _Listener:
    """One connection LISTENing on the work channel, reopened when lost; waits never raise because of it."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection[Any] | None = None
        self._work = asyncio.Event()
        self._opening = asyncio.Lock()
        self._next_attempt = 0.0
        self._closed = False

    async def wait(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        # Bounded: each round either listens and waits out the deadline, or sleeps until the next attempt.
        while not self._work.is_set():
            await self._listen(min(deadline - loop.time(), _LISTEN_PATIENCE))
            remaining = deadline - loop.time()
            if self._work.is_set() or remaining <= 0:
                break
            if not self._listening() and not self._closed:
                remaining = min(remaining, max(self._next_attempt - loop.time(), 0.05))  # then try again
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), remaining)
            if self._closed or loop.time() >= deadline:
                break
        self._work.clear()

    async def close(self) -> None:
        self._closed = True
        self._work.set()
        conn, self._conn = self._conn, None
        if conn is not None:
            await close_quietly(conn)

    def _listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def _listen(self, patience: float) -> None:
        """Make sure a live connection listens; on failure, leave it to a later wait (the caller polls)."""
        if self._closed or self._listening():
            return
        async with self._opening:
            now = asyncio.get_running_loop().time()
            if self._closed or self._listening() or now < self._next_attempt:
                return
            self._next_attempt = now + _RELISTEN_INTERVAL
            lost, self._conn = self._conn, None
            if lost is not None:
                await close_quietly(lost)
            conn: asyncpg.Connection[Any] | None = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=max(patience, 0.1))
                await asyncio.wait_for(conn.add_listener(WORK_CHANNEL, self._notified), max(patience, 0.1))
                conn.add_termination_listener(self._lost)
            except Exception as error:  # any failure to listen only means polling until the next attempt
                log.warning("cannot listen for new jobs (%s); polling instead", type(error).__name__)
                if conn is not None:
                    await close_quietly(conn)
                return
            self._conn = conn
            self._work.set()  # whatever was sent before we listened is missed: have the caller look once

    def _notified(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        self._work.set()

    def _lost(self, conn: Any) -> None:
        # Wake the waiters: they look for work themselves, and the next wait listens again.
        self._work.set()
