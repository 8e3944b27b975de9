"""PostgreSQL round trips: what a store call costs on the wire, and that batched calls each keep their own result."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import asyncpg
import pytest

from bot.store.sql import SqlStore
from tests.store.conftest import RULES, assert_ledger_consistent, new_job

if TYPE_CHECKING:
    from tests.store.conftest import Backend, StoreFactory


async def last_queries(dsn: str) -> list[str]:
    """What each other connection to the test's database ran last, read from a connection of its own."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [str(r["query"]) for r in rows]


async def test_a_connection_given_back_to_the_pool_sends_no_reset(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """The store's own statement is the last thing its connection ran: no reset query follows each release.

    asyncpg's default reset (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``) doubled the round
    trips of every one-statement step; the store leaves none of that state behind.
    """
    if backend.name != "postgres":
        pytest.skip("only PostgreSQL has a connection pool")
    store = await open_test_store(pool_size=1)
    await store.set_meta("round-trips", "one")
    queries = await last_queries(backend.url)
    assert queries, "the store's pooled connection is not there"
    assert not any("RESET ALL" in q or "pg_advisory_unlock_all" in q for q in queries), queries


async def test_reserves_and_settles_that_arrive_together_share_one_statement_each(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """Twenty members create a job at once, then end them at once: two statements in all, each caller its own job."""
    if backend.name != "postgres":
        pytest.skip("SQLite shares transactions instead (tests/store/test_units.py)")
    store = await open_test_store(pool_size=4)
    assert isinstance(store, SqlStore)
    members = range(1, 21)
    for user_id in members:
        await store.balance(user_id, "global", RULES)  # known accounts: reservations take the one-statement path
    await store.create_job(new_job(99, cost=0), rules=None)  # the jobs table's column types are read once, here
    reserves, settles = store._batched()
    jobs = await asyncio.gather(*(store.create_job(new_job(u, cost=1), rules=RULES) for u in members))
    assert [j.user_id for j in jobs] == list(members)
    assert reserves.statements == 1
    ended = await asyncio.gather(*(store.finish_job(j.id, delivered=j.user_id % 2 == 0) for j in jobs))
    assert [(e.id, e.state) if e else None for e in ended] == [
        (j.id, "delivered" if j.user_id % 2 == 0 else "failed") for j in jobs
    ]
    assert settles.statements == 1
    for user_id in members:
        balance = await store.balance(user_id, "global", RULES)
        assert (balance.balance, balance.held) == (9 if user_id % 2 == 0 else 10, 0)
    await assert_ledger_consistent(store)
