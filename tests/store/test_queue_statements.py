"""The queue's batch statements take a few fixed shapes, whatever the batch size (issue 12: memory per finished job).

Each distinct SQL text is one more prepared statement the driver keeps (sqlite3 caches 512 per connection, asyncpg
caches per connection too), and one with n placeholders takes memory in proportion to n. An ``IN (?, …)`` list as
long as each batch made that cache grow with every new batch size the claim loop happened to use.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from bot.store import ClaimLimits
from bot.store.sql import SqlStore
from tests.store.test_queue_claims import LEASE, add_jobs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine
    from contextlib import AbstractAsyncContextManager

    from bot.store import Store
    from bot.store.db import Database, Row, Tx
    from tests.store.conftest import FakeClock

SIZES = range(1, 17)
OPEN = ClaimLimits(max_running=1_000, per_user_running=1_000)


class _RecordingTx:
    """A Tx that notes the SQL text of every statement before handing it to the real one."""

    def __init__(self, tx: Tx, seen: set[str]) -> None:
        self.tx = tx
        self._seen = seen

    async def execute(self, sql: str, *params: Any) -> int:
        self._seen.add(sql)
        return await self.tx.execute(sql, *params)

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        self._seen.add(sql)
        return await self.tx.fetchone(sql, *params)

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        self._seen.add(sql)
        return await self.tx.fetchall(sql, *params)


class _RecordingDatabase:
    """The store's real database (SQLite or PostgreSQL), noting the SQL text of every statement it runs."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seen: set[str] = set()
        self.locks_rows = db.locks_rows
        self.writes_in_cte = db.writes_in_cte

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    async def run(self, unit: Callable[[Tx], Coroutine[Any, Any, Any]]) -> Any:
        return await self.db.run(lambda tx: unit(_RecordingTx(tx, self.seen)))

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        async with self.db.transaction() as tx:
            yield _RecordingTx(tx, self.seen)

    async def fetch_atomic(self, sql: str, *params: Any) -> Row | None:
        self.seen.add(sql)
        return await self.db.fetch_atomic(sql, *params)

    async def fetch_all_atomic(self, sql: str, *params: Any) -> list[Row]:
        self.seen.add(sql)
        return await self.db.fetch_all_atomic(sql, *params)

    async def notify_work(self, tx: Tx) -> None:
        await self.db.notify_work(tx.tx if isinstance(tx, _RecordingTx) else tx)


def _recording(store: Store) -> _RecordingDatabase:
    assert isinstance(store, SqlStore)
    recording = _RecordingDatabase(store._db)
    store._db = recording
    return recording


def _shapes(seen: set[str], start: str) -> set[str]:
    return {sql for sql in seen if sql.startswith(start)}


async def test_claims_renewals_and_releases_of_any_batch_size_reuse_a_few_statements(
    store: Store, clock: FakeClock
) -> None:
    """Batches of 1 to 16 jobs: each operation sends a few distinct statements (log2 of the sizes, not one each),
    and every batch still takes, renews and releases exactly its own jobs."""
    await add_jobs(store, clock, *range(1, 1 + sum(SIZES)))
    recording = _recording(store)
    for size in SIZES:
        claimed = await store.claim_many(f"w{size}", size, lease_seconds=LEASE, limits=OPEN)
        assert len({job.id for job in claimed}) == size
        ids = [job.id for job in claimed]
        assert await store.renew_leases(f"w{size}", [*ids, "no-such-job"], lease_seconds=LEASE) == {"no-such-job"}
        assert await store.renew_leases("someone-else", ids, lease_seconds=LEASE) == set(ids)
        await store.release(f"w{size}", ids)
        assert await store.renew_leases(f"w{size}", ids, lease_seconds=LEASE) == set(ids)
    claims = _shapes(recording.seen, "UPDATE jobs SET claimed_by = ?")
    leases = _shapes(recording.seen, "UPDATE jobs SET lease_until = ?")
    renewals = {sql for sql in leases if sql.endswith("RETURNING id")}
    releases = leases - renewals
    assert claims
    assert renewals
    assert releases
    assert len(claims) <= 5, sorted(claims)  # batches of 1-16: not 16 texts, one per size
    assert len(renewals) <= 6, sorted(renewals)  # 1-17 ids (one unknown id more)
    assert len(releases) <= 5, sorted(releases)
