"""SQLite: the WAL is copied into the database file on a thread and connection of its own, off the writer's path.

By default SQLite checkpoints inside the COMMIT that takes the WAL past 1,000 pages, on the committing
connection: with ``synchronous = NORMAL`` that is two fsyncs and a copy of every page, and every caller of that
batch (and of the batches queued behind it) waits for them. Measured on the ledger benchmark, those inline
checkpoints were about two thirds of the writer thread's time in COMMIT.

Here the writer's own automatic checkpoint is only a bound (``WRITER_AUTOCHECKPOINT`` pages), and a second
connection runs ``PRAGMA wal_checkpoint(PASSIVE)`` a little after commits: a passive checkpoint never blocks
the writer (WAL lets one checkpointer and one writer work side by side). Durability is unchanged: a commit is as
durable as ``synchronous = NORMAL`` makes it, wherever the checkpoint runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor

__all__ = ["WRITER_AUTOCHECKPOINT", "Checkpointer"]

# Pages of WAL after which the writer checkpoints inline after all (SQLite's default is 1,000): a bound on the WAL
# (4 KiB each: up to ~160 MB on disk). Under steady load the passive checkpoints never see the WAL fully copied at
# the moment the writer begins, so it never restarts by itself: the writer's checkpoint at this bound is what
# restarts it, copying what the last pass left and syncing three times (the checkpoint's two, then the new WAL
# header) between batches that every queued caller waits for. With random job ids a ledger pair wrote ~9 pages
# once the job-id indexes outgrew their first leaves: at 10,000 that stall came every ~1,100 pairs, several times a
# second. Time-ordered ids (SqlStore._new_job_id) keep it near the 2.5 pages of fresh tables.
WRITER_AUTOCHECKPOINT = 40_000
_INTERVAL = 0.1  # seconds between checkpoints while commits keep coming: each costs two fsyncs


class Checkpointer:
    """Runs passive checkpoints of one database file in the background, after commits, at most every _INTERVAL."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._running: asyncio.Future[None] | None = None
        self._pending = False  # a commit came after the running checkpoint began
        self._last = float("-inf")
        self._later: asyncio.TimerHandle | None = None
        self._closed = False
        self.checkpoints = 0  # checkpoints run (tests: that this thread, not the writer, does them)

    def committed(self) -> None:
        """The writer committed: checkpoint soon (now, or once the running one ends or the interval has passed)."""
        if self._closed:
            return
        self._pending = True
        if self._running is not None or self._later is not None:
            return  # the running one, or the one scheduled, will see _pending
        loop = asyncio.get_running_loop()
        wait = self._last + _INTERVAL - loop.time()
        if wait > 0:
            self._later = loop.call_later(wait, self._start)
        else:
            self._start()

    async def close(self) -> None:
        """Let a running checkpoint end, then close the connection and the thread (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        if self._later is not None:
            self._later.cancel()
            self._later = None
        try:
            if self._running is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._running)
            if self._conn is not None:
                await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        finally:
            self._executor.shutdown(wait=False)

    def _start(self) -> None:
        self._later = None
        if self._closed or not self._pending:
            return
        loop = asyncio.get_running_loop()
        self._pending, self._last = False, loop.time()
        self._running = loop.run_in_executor(self._executor, self._checkpoint)
        self._running.add_done_callback(self._ended)

    def _ended(self, running: asyncio.Future[None]) -> None:
        self._running = None
        if not running.cancelled():
            running.exception()  # retrieved: _checkpoint keeps its own errors, this is only the pool gone
        if self._pending:
            self.committed()

    def _checkpoint(self) -> None:
        """On this thread: one passive checkpoint. Best effort: the writer's bound catches up if this fails."""
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                self._conn.execute("PRAGMA busy_timeout = 0")  # passive: never wait for anyone
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error:
            pass
