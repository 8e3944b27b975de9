"""SQLite driver for SqlStore: one sqlite3 connection in WAL mode, owned by one writer thread, with group commit.

Every statement runs on the connection's own thread. A transaction unit (``Database.run``) is driven to its end
there in one hop: its ``Tx`` calls sqlite3 directly and never suspends. Units that arrive while a batch runs wait
for the next one, and a batch runs them one after another inside one ``BEGIN IMMEDIATE … COMMIT`` (a
``SAVEPOINT`` each only once one of them failed): a unit that raises is rolled back alone, and every caller
learns its outcome only after the COMMIT. One thread hop and one commit serve a whole batch instead of ~15 hops
per transaction (aiosqlite's one per call), which is what bounded the ledger at a few hundred pairs per second.
Two batches are handed to the thread at once, so that the event loop answers one batch's callers and gathers
their next units while the thread runs the other (sqlite3 lets go of the GIL inside SQLite).

SQLite serves one bot process: its wake-ups are an in-process event, and the bot opens it ``exclusive`` (an OS
lock on ``<file>.lock``) so a second bot process on the same file is refused instead of silently racing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.store.migrations import migrations_for
from bot.store.sqlite_checkpoint import WRITER_AUTOCHECKPOINT, Checkpointer
from bot.store.sqlite_units import (
    DirectTx,
    Unit,
    finish,
    lock_exclusively,
    reset,
    rollback_quietly,
    statements,
    unlock,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine

    from bot.store.db import Row, Tx

__all__ = ["MAX_BATCH", "SqliteDatabase"]

T = TypeVar("T")
# Units per BEGIN … COMMIT: bounds how long one batch holds the write lock and delays its first caller.
MAX_BATCH = 256
_IN_FLIGHT = 2  # batches handed to the writer thread at once: one running, the next waiting right behind it
_STATEMENT_CACHE = 512  # prepared statements kept per connection (the store uses a few dozen distinct ones)


class _ThreadTx:
    """A Tx for ``transaction()``: each call is one hop to the writer thread (for bodies that await other things)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._direct = DirectTx(db._conn)

    @property
    def wake(self) -> bool:
        return self._direct.wake

    @wake.setter
    def wake(self, value: bool) -> None:
        self._direct.wake = value

    async def execute(self, sql: str, *params: Any) -> int:
        return await self._db._call(finish, self._direct.execute(sql, *params))

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        return await self._db._call(finish, self._direct.fetchone(sql, *params))

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        return await self._db._call(finish, self._direct.fetchall(sql, *params))


class SqliteDatabase:
    """A sqlite3 connection with migrations applied, used only on its writer thread; units are group-committed."""

    locks_rows = False  # one writer at a time (BEGIN IMMEDIATE): a read is never overtaken by another write
    writes_in_cte = False  # no data-modifying CTEs; and a step's statements cost no round trips here anyway

    def __init__(
        self,
        conn: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        *,
        lock_fd: int | None = None,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self._conn = conn
        self._checkpointer = checkpointer  # a file's WAL is copied back off the writer's path (not for :memory:)
        self._executor = executor  # one thread: the only one that touches the connection
        # Batches and transaction() bodies take turns: one writer transaction at a time on this connection.
        self._lock = asyncio.Lock()
        self._tx_waiting = 0  # transaction() calls waiting for the lock: the flusher lets them in between batches
        self._queue: list[Unit] = []
        self._flusher: asyncio.Task[None] | None = None
        self._lock_fd = lock_fd  # the exclusive OS lock on "<file>.lock", held until close()
        self._work = asyncio.Event()  # set after a commit that may have made work available
        self._closed = False
        self.batches = 0  # batches committed (for tests and benchmarks: how much group commit happened)

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
        lock_fd = lock_exclusively(path) if exclusive and path != ":memory:" else None
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, _connect, path)
        except BaseException:
            executor.shutdown(wait=False)
            unlock(lock_fd)
            raise
        db = cls(conn, executor, lock_fd=lock_fd, checkpointer=Checkpointer(path) if path != ":memory:" else None)
        try:
            await db._migrate()
        except BaseException:
            await db.close()
            raise
        return db

    async def run(self, unit: Callable[[Tx], Coroutine[Any, Any, T]]) -> T:
        """Run ``unit`` in the next batch; its result once the batch committed, or its own exception.

        A caller cancelled while its unit still waits takes it out of the queue: it never runs. Once its batch
        has begun, the unit commits with the batch (as a COMMIT already sent always did).
        """
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        loop = asyncio.get_running_loop()
        queued = Unit(unit, loop.create_future())
        self._queue.append(queued)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        try:
            result: T = await queued.future
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                self._queue.remove(queued)
            raise
        return result

    async def fetch_atomic(self, sql: str, *params: Any) -> Row | None:
        """One statement as a unit of its own (batched like any other)."""
        return await self.run(lambda tx: tx.fetchone(sql, *params))

    async def fetch_all_atomic(self, sql: str, *params: Any) -> list[Row]:
        """One query as a unit of its own; every row."""
        return await self.run(lambda tx: tx.fetchall(sql, *params))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN IMMEDIATE … COMMIT, one thread hop per statement, or ROLLBACK on any exception.

        For bodies that must await something else between statements; ``run`` is the fast way.
        """
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        self._tx_waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._tx_waiting -= 1
        try:
            tx = _ThreadTx(self)
            try:
                await self._call(self._conn.execute, "BEGIN IMMEDIATE")
                yield tx
                await self._call(self._conn.execute, "COMMIT")
            except BaseException:
                # Also when cancelled while BEGIN (or COMMIT) was on its way to the thread: it runs there anyway,
                # and calls run in order, so this ROLLBACK follows it. Without one the open transaction would hold
                # SQLite's write lock until the connection closed. Shielded: a second cancel must not skip it.
                await asyncio.shield(self._call(rollback_quietly, self._conn))
                raise
        finally:
            self._lock.release()
        self._committed()
        if tx.wake:
            self._work.set()

    async def notify_work(self, tx: Tx) -> None:
        """Wake this process's waiting workers once the transaction commits (one process: nobody else to tell)."""
        assert isinstance(tx, DirectTx | _ThreadTx)
        tx.wake = True

    async def wait_for_work(self, seconds: float) -> None:
        """Return once a commit in this process may have made work available, or after ``seconds``."""
        if not self._work.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), seconds)
        self._work.clear()

    async def close(self) -> None:
        """Finish the queued units, close the connection and release the exclusive lock (again: nothing)."""
        if self._closed:
            return
        self._closed = True  # new units are refused from now on
        try:
            if self._flusher is not None:
                await asyncio.wait([self._flusher])  # its units' callers hear its errors, not close()
            if self._checkpointer is not None:
                await self._checkpointer.close()  # then closing the writer checkpoints what is left
            async with self._lock:
                await self._call(self._conn.close)
        finally:
            self._executor.shutdown(wait=False)
            unlock(self._lock_fd)
            self._lock_fd = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _flush(self) -> None:
        """Run the queued units until the queue is empty, with up to two batches on their way to the thread.

        While the thread runs one batch (sqlite3 lets go of the GIL inside SQLite), this loop hands the previous
        batch's outcomes to its callers and collects their next units into the following batch, which the thread
        starts as soon as it is done: the two halves of the work overlap instead of taking turns. Each batch is
        still its own BEGIN … COMMIT, run in order, and its callers hear only after its COMMIT.
        """
        loop = asyncio.get_running_loop()
        while self._queue:
            async with self._lock:
                in_flight: deque[tuple[list[Unit], asyncio.Future[None]]] = deque()
                try:
                    while True:
                        # A transaction() waiting for the connection gets it once the batches sent have returned.
                        while self._queue and len(in_flight) < _IN_FLIGHT and not self._tx_waiting:
                            # Alone on the thread, a batch takes half of what waits, so that the other half can
                            # follow it at once and the pipeline fills; behind another, it takes everything.
                            share = len(self._queue) if in_flight else (len(self._queue) + 1) // 2
                            batch = self._queue[: min(share, MAX_BATCH)]
                            del self._queue[: len(batch)]
                            in_flight.append((batch, loop.run_in_executor(self._executor, self._apply, batch)))
                        if not in_flight:
                            break
                        batch, applied = in_flight[0]
                        # Shielded: the thread runs the batch whatever happens here, and its callers need the outcome.
                        await asyncio.shield(applied)
                        in_flight.popleft()
                        self._settle(batch)
                        await asyncio.sleep(0)  # the callers just answered queue their next units now
                except BaseException as error:  # cancelled at shutdown, or the thread pool is gone
                    for batch, _ in in_flight:
                        for unit in batch:
                            if not unit.future.done():
                                unit.future.set_exception(RuntimeError(f"the SQLite writer stopped: {error!r}"))
                    if isinstance(error, asyncio.CancelledError):
                        raise

    def _committed(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def _settle(self, batch: list[Unit]) -> None:
        """Tell a committed (or abandoned) batch's callers their outcomes; wake the workers if it made work."""
        self._committed()
        for unit in batch:
            if unit.ok and unit.wake:
                self._work.set()
            if unit.future.done():  # its caller was cancelled
                continue
            if unit.ok:
                unit.future.set_result(unit.value)
            else:
                assert unit.error is not None
                unit.future.set_exception(unit.error)

    def _apply(self, batch: list[Unit]) -> None:
        """On the writer thread: run ``batch`` in one transaction and record each unit's outcome.

        The first attempt takes no savepoints (two statements fewer per unit). If a unit raises, the batch is
        rolled back and run again with a savepoint per unit, so that unit alone is undone: units are pure
        functions of the database, and nobody has been told anything before the COMMIT.
        """
        todo, guarded = batch, False
        try:
            while todo:
                todo, guarded = self._attempt(todo, guarded=guarded)
        except BaseException as error:  # raised outside any unit's own handling: nothing of the batch is kept
            rollback_quietly(self._conn)
            for unit in batch:
                if unit.ok or unit.error is None:
                    unit.ok, unit.value, unit.wake, unit.error = False, None, False, error

    def _attempt(self, units: list[Unit], *, guarded: bool) -> tuple[list[Unit], bool]:
        """One BEGIN … COMMIT over ``units``; returns the units to run again, and whether with savepoints."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except Exception as error:  # e.g. SQLITE_BUSY past busy_timeout: nothing ran, every unit fails with it
            for unit in units:
                unit.error = error
            return [], guarded
        done: list[Unit] = []
        for n, unit in enumerate(units):
            tx = DirectTx(conn)
            try:
                if guarded:
                    conn.execute("SAVEPOINT unit")
                unit.value = finish(unit.fn(tx))
                if guarded:
                    conn.execute("RELEASE unit")
            except Exception as error:
                if not guarded:
                    rollback_quietly(conn)
                    reset(units)
                    return units, True
                unit.value, unit.error = None, error
                if not conn.in_transaction:
                    # SQLite rolled the whole transaction back (disk full, I/O error): the units before this one
                    # lost their writes too. They have told nobody yet, so they simply run again.
                    reset(done)
                    return done + units[n + 1 :], True
                try:
                    conn.execute("ROLLBACK TO unit")
                    conn.execute("RELEASE unit")
                except Exception as lost:  # cannot undo this unit alone: give up the whole batch
                    return self._abandon(units, lost), guarded
                continue
            unit.ok, unit.wake = True, tx.wake
            done.append(unit)
        try:
            conn.execute("COMMIT")
        except Exception as error:
            return self._abandon(units, error), guarded
        self.batches += 1
        return [], guarded

    def _abandon(self, units: list[Unit], error: Exception) -> list[Unit]:
        """Roll the batch back; every unit that had succeeded fails with ``error`` (nothing of it was kept)."""
        rollback_quietly(self._conn)
        for unit in units:
            if unit.ok or unit.error is None:
                unit.ok, unit.value, unit.wake, unit.error = False, None, False, error
        return []

    async def _migrate(self) -> None:
        async with self.transaction() as tx:
            await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = await tx.fetchone("SELECT MAX(version) AS v FROM schema_version")
            current = int(row["v"]) if row and row["v"] is not None else 0
            for version, script in migrations_for("sqlite"):
                if version <= current:
                    continue
                for statement in statements(script):
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_version (version) VALUES (?)", version)


def _connect(path: str) -> sqlite3.Connection:
    """Open the connection (on the writer thread) in autocommit mode: the driver sends BEGIN/COMMIT itself."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=_STATEMENT_CACHE)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a commit is durable against a crash of the process; only power loss may lose the last ones.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA busy_timeout = 5000")
        if path != ":memory:":  # checkpoints run on a thread of their own (bot.store.sqlite_checkpoint)
            conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn
