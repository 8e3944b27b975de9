"""Limits on waiting jobs, checked by the store inside create_job so they hold under concurrency."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

import asyncpg
import pytest

from bot.store import (
    AccountRules,
    InsufficientBalance,
    Job,
    JobState,
    QueueLimitExceeded,
    QueueLimits,
    SpendCapExceeded,
    SpendLimit,
)
from bot.store.sql_limits import CREATIONS_LOCK
from tests.store.conftest import ONE_IMAGE, RULES, START, assert_ledger_consistent, new_job
from tests.store.test_ledger_races import CALLERS, racing_stores

if TYPE_CHECKING:
    from bot.store import Store
    from tests.store.conftest import Backend, StoreFactory

RICH = AccountRules(allowance=1000, period_seconds=3600.0, max_balance=1000)


async def test_a_member_may_have_per_user_queued_jobs_waiting(store: Store) -> None:
    """The 4th waiting job of a member is refused with per_user; a job that left 'queued' frees a place."""
    limits = QueueLimits(max_queued=100, per_user_queued=3)
    jobs = [await store.create_job(new_job(cost=1), rules=RULES, queue=limits) for _ in range(3)]
    with pytest.raises(QueueLimitExceeded) as refused:
        await store.create_job(new_job(cost=1), rules=RULES, queue=limits)
    assert (refused.value.limit, refused.value.per_user) == (3, True)
    assert (await store.balance(1, "global", RULES)).held == 3  # nothing reserved for the refused job
    await store.create_job(new_job(2, cost=1), rules=RULES, queue=limits)  # another member is not affected
    await store.transition(jobs[0].id, from_states=[JobState.QUEUED], to=JobState.SUBMITTING)
    await store.create_job(new_job(cost=1), rules=RULES, queue=limits)
    await store.finish_job(jobs[1].id, delivered=False, only_from=[JobState.QUEUED])
    await store.create_job(new_job(cost=1), rules=RULES, queue=limits)
    await assert_ledger_consistent(store)


async def test_everyone_together_may_have_max_queued_jobs_waiting(store: Store) -> None:
    """The limit on all waiting jobs counts every member, charged or not (owners have no account)."""
    limits = QueueLimits(max_queued=3, per_user_queued=10)
    await store.create_job(new_job(1, cost=0), rules=None, queue=limits)
    await store.create_job(new_job(2, cost=1), rules=RULES, queue=limits)
    await store.create_job(new_job(3, cost=1), rules=RULES, queue=limits)
    for user_id, rules in ((4, RULES), (1, None)):
        with pytest.raises(QueueLimitExceeded) as refused:
            await store.create_job(new_job(user_id, cost=1 if rules else 0), rules=rules, queue=limits)
        assert (refused.value.limit, refused.value.per_user) == (3, False)
    assert await store.ledger(4) == []


async def test_refusals_come_in_order_spend_cap_then_queue_then_balance(store: Store) -> None:
    """With every limit reached the spend cap is reported; without it the queue; the balance last."""
    poor = AccountRules(allowance=1, period_seconds=3600.0, max_balance=1)
    await store.create_job(new_job(cost=1), rules=poor)
    full = QueueLimits(max_queued=1, per_user_queued=1)
    with pytest.raises(SpendCapExceeded):
        await store.create_job(
            new_job(cost=1), rules=poor, queue=full, spend=SpendLimit(since=START, max_millicredits=1 * ONE_IMAGE)
        )
    with pytest.raises(QueueLimitExceeded):
        await store.create_job(
            new_job(cost=1), rules=poor, queue=full, spend=SpendLimit(since=START, max_millicredits=9 * ONE_IMAGE)
        )
    with pytest.raises(InsufficientBalance):
        await store.create_job(new_job(cost=1), rules=poor, queue=QueueLimits(max_queued=9, per_user_queued=9))


async def test_concurrent_creations_for_one_member_never_pass_per_user_queued(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """50 simultaneous jobs from one member with room for 4 waiting: exactly 4 are stored."""
    stores = await racing_stores(backend, open_test_store)
    limits = QueueLimits(max_queued=1000, per_user_queued=4)
    results = await asyncio.gather(
        *(stores[i % len(stores)].create_job(new_job(cost=1), rules=RICH, queue=limits) for i in range(CALLERS)),
        return_exceptions=True,
    )
    assert Counter(type(r).__name__ for r in results) == {"Job": 4, "QueueLimitExceeded": CALLERS - 4}
    assert all(r.per_user for r in results if isinstance(r, QueueLimitExceeded))
    assert len(await stores[0].active_jobs()) == 4
    await assert_ledger_consistent(stores[0])


async def test_concurrent_creations_never_pass_max_queued(backend: Backend, open_test_store: StoreFactory) -> None:
    """50 simultaneous jobs from 50 members (new and existing accounts) with room for 6: exactly 6 are stored."""
    stores = await racing_stores(backend, open_test_store)
    for user_id in range(100, 100 + CALLERS, 2):
        await stores[0].balance(user_id, "global", RICH)
    limits = QueueLimits(max_queued=6, per_user_queued=10)
    results = await asyncio.gather(
        *(
            stores[i % len(stores)].create_job(new_job(100 + i, cost=1), rules=RICH, queue=limits)
            for i in range(CALLERS)
        ),
        return_exceptions=True,
    )
    assert Counter(type(r).__name__ for r in results) == {"Job": 6, "QueueLimitExceeded": CALLERS - 6}
    assert not any(r.per_user for r in results if isinstance(r, QueueLimitExceeded))
    jobs = await stores[0].active_jobs()
    assert {j.id for j in jobs} == {r.id for r in results if isinstance(r, Job)}
    await assert_ledger_consistent(stores[0])
    assert (await stores[0].audit_ledger()).ok


async def test_limited_creations_queue_on_an_advisory_lock_not_on_a_row(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """PostgreSQL: creations checked against the limits wait their turn on one transaction-scoped advisory lock.

    They used to take turns by updating one row (spend_lock): every commit woke every waiter to re-check a new
    version of that row, and under 50 concurrent members the store spent most of its CPU there (~300 creations/s
    from 4 processes). A waiter on an advisory lock sleeps until it is its turn, and writes nothing.
    """
    if backend.name != "postgres":
        pytest.skip("SQLite's single writer already runs one creation at a time")
    store = await open_test_store(pool_size=2)
    limits = QueueLimits(max_queued=10, per_user_queued=10)
    await store.create_job(new_job(1), rules=RICH, queue=limits)  # the account exists: the quick reservation
    holder = await asyncpg.connect(backend.url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", CREATIONS_LOCK)
            creating = asyncio.create_task(store.create_job(new_job(1), rules=RICH, queue=limits))
            for _ in range(200):  # bounded: until the creation waits for the lock (~10 s at most)
                if await holder.fetchval("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"):
                    break
                await asyncio.sleep(0.05)
            assert not creating.done(), "a limited creation went ahead while another held the creations lock"
        created = await asyncio.wait_for(creating, 10)  # the holder committed: its turn
    finally:
        await holder.close()
    assert created.state is JobState.QUEUED
