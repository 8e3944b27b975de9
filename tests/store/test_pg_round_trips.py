"""PostgreSQL round trips: what a store call costs on the wire, and that batched calls each keep their own result."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import pytest

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
