"""Transaction units (``Database.run``): each commits or rolls back alone, also inside SQLite's shared batches."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from bot.store import InsufficientBalance, QueueLimitExceeded, QueueLimits
from bot.store.sqlite import SqliteDatabase
from tests.store.conftest import RULES, START, assert_ledger_consistent, db_of, new_job, sql_all, sql_execute

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

    from bot.store import Store
    from bot.store.db import Tx
    from tests.store.conftest import Backend, FakeClock

    Unit = Callable[[Tx], Coroutine[Any, Any, Any]]


class Boom(Exception):
    """A unit's own failure."""


def insert(key: str) -> Unit:
    async def unit(tx: Tx) -> str:
        await tx.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", key)
        return key

    return unit


def insert_then_raise(key: str) -> Unit:
    async def unit(tx: Tx) -> str:
        await tx.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", key)
        raise Boom(key)

    return unit


def insert_then_violate(key: str) -> Unit:
    async def unit(tx: Tx) -> str:
        await tx.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", key)
        await tx.execute("INSERT INTO meta (key, value) VALUES (?, 'again')", key)  # primary key violation
        return key

    return unit


async def meta_keys(store: Store) -> set[str]:
    return {str(r["key"]) for r in await sql_all(store, "SELECT key FROM meta")}


@pytest.mark.parametrize("failure", [insert_then_raise, insert_then_violate])
async def test_a_failing_unit_rolls_back_only_itself(
    backend: Backend, store: Store, failure: Callable[[str], Unit]
) -> None:
    """Twenty units at once, the eighth fails after writing: it alone is undone; the others commit and return."""
    db = db_of(store)
    batches = db.batches if isinstance(db, SqliteDatabase) else 0
    units = [failure("bad") if n == 7 else insert(f"k{n}") for n in range(20)]
    results = await asyncio.gather(*(db.run(u) for u in units), return_exceptions=True)
    assert isinstance(results[7], Boom | sqlite3.IntegrityError | asyncpg.UniqueViolationError), results[7]
    assert [r for n, r in enumerate(results) if n != 7] == [f"k{n}" for n in range(20) if n != 7]
    assert await meta_keys(store) == {f"k{n}" for n in range(20) if n != 7}
    if isinstance(db, SqliteDatabase):
        # Half of them, then the other half right behind it (the writer thread's pipeline): the failing unit
        # shared its transaction with nine others.
        assert db.batches == batches + 2, "the twenty units did not share two SQLite transactions"


async def test_refused_reservations_in_a_batch_leave_the_accepted_ones(backend: Backend, store: Store) -> None:
    """Thirty creations at once for three members with 10 credits each: every member gets exactly 10 jobs."""
    for user_id in (1, 2, 3):
        await store.balance(user_id, "global", RULES)
    results = await asyncio.gather(
        *(store.create_job(new_job(1 + n % 3, cost=1), rules=RULES) for n in range(36)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, InsufficientBalance)]
    assert len(refused) == 6
    for user_id in (1, 2, 3):
        balance = await store.balance(user_id, "global", RULES)
        assert (balance.balance, balance.held) == (0, 10)
    await assert_ledger_consistent(store)
    assert (await store.audit_ledger()).ok


async def test_a_unit_cancelled_while_queued_never_runs(backend: Backend, store: Store) -> None:
    """SQLite: a caller cancelled before its unit's batch began leaves no trace of it."""
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL runs each unit at once on its own connection: there is no queue to leave")
    db = db_of(store)
    async with db.transaction():  # holds the writer, so the unit waits in the queue
        task = asyncio.create_task(db.run(insert("cancelled")))
        await asyncio.sleep(0.01)
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.run(insert("after")) == "after"
    assert await meta_keys(store) == {"after"}


async def test_a_unit_awaiting_anything_else_fails_alone(backend: Backend, store: Store) -> None:
    """SQLite drives a unit without an event loop: one that awaits something else fails, and keeps nothing."""
    if backend.name != "sqlite":
        pytest.skip("only SQLite drives units on its writer thread")

    async def strays(tx: Tx) -> None:
        await tx.execute("INSERT INTO meta (key, value) VALUES ('stray', 'v')")
        await asyncio.sleep(0)

    db = db_of(store)
    results = await asyncio.gather(db.run(strays), db.run(insert("kept")), return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert results[1] == "kept"
    assert await meta_keys(store) == {"kept"}


async def test_a_refill_rolled_back_is_applied_by_the_next_reservation(
    backend: Backend, store: Store, clock: FakeClock
) -> None:
    """A creation refused after its refill (queue full) is undone; the next one refills before it reserves."""
    await store.create_job(new_job(cost=5), rules=RULES)
    clock.now = START + RULES.period_seconds
    with pytest.raises(QueueLimitExceeded):
        await store.create_job(new_job(cost=1), rules=RULES, queue=QueueLimits(max_queued=10, per_user_queued=1))
    await store.create_job(new_job(cost=1), rules=RULES)
    reasons = [(e.reason, e.delta) for e in await store.ledger()]
    assert reasons == [("allowance", 10), ("reserve", -5), ("allowance", 10), ("reserve", -1)]
    balance = await store.balance(1, "global", RULES)
    assert (balance.balance, balance.held, balance.next_refill_at) == (14, 6, START + 2 * RULES.period_seconds)
    await assert_ledger_consistent(store)


async def test_a_closed_sqlite_store_refuses_work_plainly_and_closes_twice(backend: Backend, store: Store) -> None:
    """After close() a SQLite store refuses new units with sqlite3's own error; a second close() does nothing."""
    if backend.name != "sqlite":
        pytest.skip("asyncpg's closed pool has errors of its own")
    queued = asyncio.ensure_future(store.set_meta("queued", "v"))
    await asyncio.sleep(0)  # the unit is queued: close() lets it finish first
    await store.close()
    await queued
    with pytest.raises(sqlite3.ProgrammingError):
        await store.get_job("nothing")
    with pytest.raises(sqlite3.ProgrammingError):
        await store.held_slots()  # a transaction() body
    await store.close()


async def test_every_caller_hears_only_after_its_own_batch_committed(backend: Backend, store: Store) -> None:
    """SQLite pipelines batches (the next one waits right behind the running one): a caller told its unit ran can
    find its write from another connection at that very moment, whichever batch it was in."""
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL commits each statement before answering")
    db = db_of(store)
    assert isinstance(db, SqliteDatabase)
    reader = sqlite3.connect(backend.url.removeprefix("sqlite:///"))
    try:

        async def told(key: str) -> bool:
            await db.run(insert(key))
            return reader.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone() is not None

        batches = db.batches
        seen = await asyncio.gather(*(told(f"k{n}") for n in range(40)))
        assert db.batches - batches >= 2, "the units were not spread over more than one batch"
        assert all(seen), [f"k{n}" for n, ok in enumerate(seen) if not ok]
    finally:
        reader.close()


async def test_the_wal_is_copied_into_the_database_file_off_the_writer(
    backend: Backend, store: Store, tmp_path: Path
) -> None:
    """SQLite: a few commits, far below the 1,000 pages at which the writer itself would checkpoint, reach the
    database file itself soon after: a connection of the store's own copies the WAL back in the background."""
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL has no WAL of ours to copy")
    db = db_of(store)
    assert isinstance(db, SqliteDatabase)
    for n in range(5):
        await store.create_job(new_job(n + 1), rules=RULES)
    path = Path(backend.url.removeprefix("sqlite:///"))
    copied = 0
    for _ in range(100):  # bounded: up to ~5 s for a checkpoint due within 0.1 s
        shutil.copyfile(path, tmp_path / "file-only.sqlite3")  # the database file without its WAL
        # Copied in the middle of a checkpoint, it may not read: look again.
        with (
            contextlib.closing(sqlite3.connect(tmp_path / "file-only.sqlite3")) as alone,
            contextlib.suppress(sqlite3.DatabaseError),
        ):
            copied = alone.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        if copied == 5:
            break
        await asyncio.sleep(0.05)
    assert copied == 5, "the committed jobs did not reach the database file"


async def test_the_writer_leaves_a_long_wal_to_the_background_checkpoints(
    backend: Backend, store: Store, tmp_path: Path
) -> None:
    """SQLite: 12,000 pages of WAL, and the writer has not checkpointed them itself.

    Under steady load the background checkpoints never catch up with the writer, so the WAL restarts only when
    the writer checkpoints it at its own bound: the rest of the last pass and three fsyncs inside one batch's
    COMMIT, which every caller queued behind it waits for. A pair of the ledger benchmark writes ~9 pages once the
    random job-id indexes outgrow the few leaves they started with (2.5 on fresh tables), so a bound of 10,000
    pages made that stall every ~1,100 pairs. Here the background checkpointer is stopped, a unit writes ~12,000
    pages and a second one follows it: had the writer checkpointed after the first, the second would have
    restarted the WAL from its beginning.
    """
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL has no WAL of ours to copy")
    db = db_of(store)
    assert isinstance(db, SqliteDatabase)
    assert db._checkpointer is not None
    await db._checkpointer.close()
    db._checkpointer = None
    rows = 12_000  # a 3,000-byte value fills most of a 4 KiB page: one page per row, plus the key's index
    written = await sql_execute(
        store,
        "INSERT INTO meta (key, value) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "SELECT 'bulk' || i, hex(randomblob(1500)) FROM n",
        rows,
    )
    assert written == rows
    assert await db.run(insert("after")) == "after"
    path = backend.url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as other:
        _busy, frames, _copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert frames > rows, f"the WAL holds {frames} frames: the writer checkpointed and restarted it"
