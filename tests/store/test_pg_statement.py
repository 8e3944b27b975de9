"""PostgreSQL: statements run alone go over the store's own connection while it is idle, else through the pool."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import asyncpg
import pytest

from bot.store.postgres import PostgresDatabase
from bot.store.sql import SqlStore
from tests.store.conftest import RULES, new_job

if TYPE_CHECKING:
    from tests.store.conftest import Backend

PATIENCE = 10.0  # seconds any one step here may take
# What a statement on a connection the server has just ended raises, by how far the client has read of its end.
LOST = (asyncpg.InterfaceError, asyncpg.InternalClientError, asyncpg.PostgresConnectionError)


@pytest.fixture
async def db(backend: Backend) -> PostgresDatabase:
    if backend.name != "postgres":
        pytest.skip("SQLite has one connection and no pool")
    return await PostgresDatabase.open(backend.url, min_size=1, max_size=1)


async def _own_pid(db: PostgresDatabase) -> int:
    """The backend of the connection the next statement run alone takes (the store's own, while idle)."""
    row = await db.fetch_atomic("SELECT pg_backend_pid() AS pid")
    assert row is not None
    return int(row["pid"])


async def _pooled_pid(db: PostgresDatabase) -> int:
    async with db.transaction() as tx:
        row = await tx.fetchone("SELECT pg_backend_pid() AS pid")
    assert row is not None
    return int(row["pid"])


async def _terminate(backend: Backend, pid: int) -> None:
    conn = await asyncpg.connect(backend.url)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


async def test_a_statement_is_answered_while_the_pools_only_connection_is_in_a_transaction(
    db: PostgresDatabase,
) -> None:
    """The pool's one connection waits in an open transaction; a statement run alone meanwhile is answered at once,
    over another connection (asyncpg's pool costs more CPU per statement than these statements do)."""
    try:
        async with db.transaction() as tx:
            inside = await tx.fetchone("SELECT pg_backend_pid() AS pid")
            assert inside is not None
            alone = await asyncio.wait_for(_own_pid(db), PATIENCE)
            assert alone != int(inside["pid"])
    finally:
        await db.close()


async def test_statements_go_on_when_the_own_connection_is_lost(backend: Backend, db: PostgresDatabase) -> None:
    """The server ends the store's own connection: statements go through the pool until another is open."""
    try:
        lost = await _own_pid(db)
        pooled = await _pooled_pid(db)
        await _terminate(backend, lost)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PATIENCE
        seen: set[int] = set()
        while loop.time() < deadline:  # the client sees the end of the connection a moment later
            # Taken before the client saw it lost, one statement fails (as one on a lost pooled connection would).
            with contextlib.suppress(*LOST):
                seen.add(await _own_pid(db))
            if seen - {lost, pooled}:
                break
            await asyncio.sleep(0.05)
        assert lost not in seen
        assert seen - {lost, pooled}, "no new connection of the store's own was opened"
    finally:
        await db.close()


async def test_a_statement_cancelled_midway_leaves_the_next_ones_answered(db: PostgresDatabase) -> None:
    """A caller gives up on a long statement: its connection is dropped (its state unknown), and the next
    statements are answered (through the pool, then over a new connection of the store's own)."""
    try:
        first = await _own_pid(db)
        slow = asyncio.ensure_future(db.fetch_atomic("SELECT pg_sleep(30)"))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        pids = [await asyncio.wait_for(_own_pid(db), PATIENCE) for _ in range(3)]
        assert first not in pids
    finally:
        await db.close()


async def test_closing_lets_the_statement_in_flight_end_and_leaves_no_connection(
    backend: Backend, db: PostgresDatabase
) -> None:
    """Close waits for the statement on the store's own connection, which gets its answer; then nothing of the
    store is connected."""
    observer = await asyncpg.connect(backend.url)
    try:
        mine = await _own_pid(db)
        running = asyncio.ensure_future(db.fetch_atomic("SELECT pg_sleep(0.3) AS slept, pg_backend_pid() AS pid"))
        await asyncio.sleep(0.1)
        await asyncio.wait_for(db.close(), PATIENCE)
        row = await running
        assert row is not None
        assert int(row["pid"]) == mine
        left = await observer.fetchval(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        assert left == 0
    finally:
        await observer.close()


async def test_the_ledger_steps_keep_their_outcomes_over_the_own_connection(backend: Backend) -> None:
    """Creations and settles, batched and alone, through a store whose pool is one connection: all stored, once."""
    if backend.name != "postgres":
        pytest.skip("SQLite has one connection and no pool")
    store = SqlStore(await PostgresDatabase.open(backend.url, min_size=1, max_size=1))
    try:
        members = range(1, 9)
        for user_id in members:
            await store.balance(user_id, "global", RULES)
        created = await asyncio.gather(*(store.create_job(new_job(u), rules=RULES) for u in members))
        ended = await asyncio.gather(*(store.finish_job(job.id, delivered=True) for job in created))
        assert all(job is not None for job in ended)
        for user_id in members:
            balance = await store.balance(user_id, "global", RULES)
            assert (balance.held, balance.balance) == (0, RULES.allowance - 1)
        assert (await store.audit_ledger()).ok
    finally:
        await store.close()
