"""Money under real concurrency: separate PostgreSQL connections, several SQLite connections on one file."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from bot.store import AccountRules, Balance, InsufficientBalance, Job
from tests.store.conftest import RULES, START, assert_ledger_consistent, new_job, sql_all

if TYPE_CHECKING:
    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock, StoreFactory

CALLERS = 50
POOL = CALLERS + 2  # every concurrent PostgreSQL call gets a connection of its own
SQLITE_CONNECTIONS = 4  # like several bot processes sharing one file (BEGIN IMMEDIATE + busy_timeout)


async def racing_stores(backend: Backend, open_test_store: StoreFactory) -> list[Store]:
    """Stores whose calls truly overlap: one store with a big pool (PostgreSQL) or several connections (SQLite)."""
    if backend.name == "postgres":
        store = await open_test_store(pool_size=POOL)
        rows = await sql_all(
            store, "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> 0"
        )
        assert int(rows[0]["n"]) >= POOL, "the pool did not open a connection per caller"
        return [store]
    return [await open_test_store() for _ in range(SQLITE_CONNECTIONS)]


@pytest.mark.parametrize("member", ["existing", "new"])
async def test_concurrent_create_jobs_never_overspend(
    backend: Backend, open_test_store: StoreFactory, member: str
) -> None:
    """50 simultaneous 1-credit jobs against a balance of 10: exactly 10 stored, 40 refused, balance 0."""
    stores = await racing_stores(backend, open_test_store)
    if member == "existing":
        assert (await stores[0].balance(1, "global", RULES)).balance == 10
    results = await asyncio.gather(
        *(stores[i % len(stores)].create_job(new_job(cost=1), rules=RULES) for i in range(CALLERS)),
        return_exceptions=True,
    )
    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == {"Job": 10, "InsufficientBalance": 40}, [r for r in results if not isinstance(r, Job)][:3]
    refused = [r for r in results if isinstance(r, InsufficientBalance)]
    assert all(r.balance.balance < 1 and r.cost == 1 for r in refused)
    store = stores[0]
    assert (await store.balance(1, "global", RULES)).balance == 0
    jobs = {r.id for r in results if isinstance(r, Job)}
    assert {j.id for j in await store.active_jobs()} == jobs
    ledger = await store.ledger()
    assert Counter(e.reason for e in ledger) == {"allowance": 1, "reserve": 10}
    assert {e.job_id for e in ledger if e.reason == "reserve"} == jobs
    await assert_ledger_consistent(store)


async def test_concurrent_create_jobs_across_a_refill_boundary_refill_once(
    backend: Backend, open_test_store: StoreFactory, clock: FakeClock
) -> None:
    """Jobs racing right after the period ends share one refill: 10 succeed, one allowance entry is added."""
    stores = await racing_stores(backend, open_test_store)
    await stores[0].create_job(new_job(cost=10), rules=RULES)
    clock.now = START + RULES.period_seconds
    results = await asyncio.gather(
        *(stores[i % len(stores)].create_job(new_job(cost=1), rules=RULES) for i in range(CALLERS)),
        return_exceptions=True,
    )
    assert Counter(type(r).__name__ for r in results) == {"Job": 10, "InsufficientBalance": 40}
    assert Counter(e.reason for e in await stores[0].ledger()) == {"allowance": 2, "reserve": 11}
    expected = Balance(1, "global", 0, START + 2 * RULES.period_seconds, held=20)
    assert await stores[0].balance(1, "global", RULES) == expected
    await assert_ledger_consistent(stores[0])


async def test_concurrent_finish_job_settles_exactly_once(backend: Backend, open_test_store: StoreFactory) -> None:
    """20 simultaneous finishes per job (delivered and failed mixed): one wins, one settle entry, one history row."""
    stores = await racing_stores(backend, open_test_store)
    store = stores[0]
    jobs = [await store.create_job(new_job(cost=2), rules=RULES) for _ in range(2)]
    calls = [
        stores[i % len(stores)].finish_job(job.id, delivered=i % 2 == 0, error_message=f"caller {i}")
        for job in jobs
        for i in range(20)
    ]
    results = await asyncio.gather(*calls)
    expected_balance = 10 - 2 * len(jobs)
    for n, job in enumerate(jobs):
        won = [r for r in results[n * 20 : (n + 1) * 20] if r is not None]
        assert len(won) == 1, f"{len(won)} finishes of one job succeeded"
        delivered = won[0].state == "delivered"
        settles = [e for e in await store.ledger() if e.job_id == job.id and e.reason in ("capture", "refund")]
        assert [(e.reason, e.delta) for e in settles] == [("capture", 0) if delivered else ("refund", 2)]
        history = [h for h in await store.history(1, limit=100) if h.job_id == job.id]
        assert [(h.state, h.cost) for h in history] == [(won[0].state, 2 if delivered else 0)]
        assert await store.get_job(job.id) == won[0]
        expected_balance += 0 if delivered else 2
    assert (await store.balance(1, "global", RULES)).balance == expected_balance
    await assert_ledger_consistent(store)


async def test_concurrent_balance_reads_after_a_refill_boundary_refill_once(
    backend: Backend, open_test_store: StoreFactory, clock: FakeClock
) -> None:
    """Many balance() calls at once right after the boundary apply the due refill exactly once, each period."""
    rules = AccountRules(allowance=4, period_seconds=60.0, max_balance=100)
    stores = await racing_stores(backend, open_test_store)
    await stores[0].create_job(new_job(cost=4), rules=rules)
    expected = 0
    for period in range(1, 4):
        clock.now = START + period * 60 + 0.001
        expected += 4
        balances = await asyncio.gather(*(stores[i % len(stores)].balance(1, "global", rules) for i in range(30)))
        assert {b.balance for b in balances} == {expected}
        assert {b.next_refill_at for b in balances} == {START + (period + 1) * 60}
        allowances = [e for e in await stores[0].ledger() if e.reason == "allowance"]
        assert [e.delta for e in allowances] == [4] * (period + 1), "a refill was applied more than once"
        await assert_ledger_consistent(stores[0])
