"""Fixtures for the storage tests: every test runs on SQLite (a WAL file) and on a real PostgreSQL."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from bot.store import AccountRules, JobKind, NewJob, Store, open_store
from bot.store.postgres import PostgresDatabase
from bot.store.sql import SqlStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from bot.store.sql import Database, Row

    StoreFactory = Callable[..., Awaitable[Store]]
    """``await open_test_store(pool_size=None)``: another store on the test's database."""

BACKENDS = ["sqlite", "postgres"]
START = 1_700_000_000.0
RULES = AccountRules(allowance=10, period_seconds=3600.0, max_balance=20)


class FakeClock:
    """A clock the test moves by hand; pass it as ``clock=``."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        """The current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@dataclass(frozen=True, slots=True)
class Backend:
    """Which backend a test runs on and the URL of its fresh database."""

    name: str
    url: str


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at a fixed instant."""
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A fresh database: a SQLite file in tmp_path, or a new database on the session's PostgreSQL server."""
    name: str = request.param
    if name == "sqlite":
        return Backend(name, f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    return Backend(name, request.getfixturevalue("postgres_dsn"))


@pytest.fixture
async def open_test_store(backend: Backend, clock: FakeClock) -> AsyncIterator[StoreFactory]:
    """Open (more) stores on the test's database; every one is closed after the test.

    ``pool_size`` (PostgreSQL only) sizes the asyncpg pool, min = max, so concurrent calls get separate
    connections and truly race.
    """
    opened: list[Store] = []

    async def open_one(*, pool_size: int | None = None) -> Store:
        if backend.name == "postgres" and pool_size is not None:
            db = await PostgresDatabase.open(backend.url, min_size=pool_size, max_size=pool_size)
            store: Store = SqlStore(db, clock=clock)
        else:
            store = await open_store(backend.url, clock=clock)
        opened.append(store)
        return store

    yield open_one
    for store in reversed(opened):
        await store.close()


@pytest.fixture
async def store(open_test_store: StoreFactory) -> Store:
    """A fresh, migrated store on the test's backend, using the fake clock."""
    return await open_test_store()


# -- helpers the test modules import ----------------------------------------------------------------


def db_of(store: Store) -> Database:
    """The driver under a store, for direct SQL."""
    assert isinstance(store, SqlStore)
    return store._db


async def sql_all(store: Store, sql: str, *params: Any) -> list[Row]:
    """Run a query (``?`` placeholders) through the store's own driver."""
    async with db_of(store).transaction() as tx:
        return await tx.fetchall(sql, *params)


async def sql_execute(store: Store, sql: str, *params: Any) -> int:
    """Run a statement (``?`` placeholders) through the store's own driver; return the rows changed."""
    async with db_of(store).transaction() as tx:
        return await tx.execute(sql, *params)


async def assert_ledger_consistent(store: Store) -> None:
    """Every account's balance equals the sum of its ledger deltas; no ledger entry lacks an account.

    Also checks the ledger's own invariants: one reserve and at most one settle (capture/refund) per job,
    a capture moves nothing, a refund returns exactly what was reserved.
    """
    sums: Counter[tuple[int, str]] = Counter()
    reserves: dict[str, list[int]] = {}
    settles: dict[str, list[tuple[str, int]]] = {}
    for entry in await store.ledger():
        sums[entry.user_id, entry.scope] += entry.delta
        if entry.reason == "reserve":
            assert entry.job_id is not None
            reserves.setdefault(entry.job_id, []).append(entry.delta)
        elif entry.reason in ("capture", "refund"):
            assert entry.job_id is not None
            settles.setdefault(entry.job_id, []).append((entry.reason, entry.delta))
    accounts = {
        (int(r["user_id"]), str(r["scope"])): int(r["balance"])
        for r in await sql_all(store, "SELECT user_id, scope, balance FROM accounts")
    }
    for key in set(sums) | set(accounts):
        assert accounts.get(key) == sums.get(key, 0), f"account {key}: balance {accounts.get(key)} != ledger sum"
    for job_id, deltas in reserves.items():
        assert len(deltas) == 1, f"job {job_id} reserved {len(deltas)} times"
    for job_id, settled in settles.items():
        assert len(settled) == 1, f"job {job_id} settled {len(settled)} times: {settled}"
        reason, delta = settled[0]
        assert job_id in reserves, f"job {job_id} settled without a reservation"
        assert delta == (0 if reason == "capture" else -reserves[job_id][0])


ONE_IMAGE = 20_000
"""What new_job's jobs cost at reAPI by default: one nano-banana-2-lite image (20 credits), in millicredits."""


def new_job(user_id: int = 1, *, cost: int = 1, scope: str = "global", **overrides: Any) -> NewJob:
    """A small valid job request."""
    values: dict[str, Any] = {
        "kind": JobKind.IMAGINE,
        "user_id": user_id,
        "guild_id": 100,
        "channel_id": 200,
        "prompt": f"a cat #{user_id}",
        "aspect_ratio": "1:1",
        "cost": cost,
        "scope": scope,
        "reapi_millicredits": ONE_IMAGE,
    }
    values.update(overrides)
    return NewJob(**values)
