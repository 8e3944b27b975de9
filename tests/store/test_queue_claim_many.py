"""Claiming several jobs in one transaction: the jobs successive single claims would take, within the limits."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from bot.store import ClaimLimits
from tests.store.conftest import db_of
from tests.store.test_queue_claims import LEASE, OPEN, add_jobs, claiming_stores

if TYPE_CHECKING:
    from bot.store import Job, Store
    from tests.store.conftest import Backend, FakeClock, StoreFactory


async def _fair_scenario(store: Store, clock: FakeClock) -> dict[str, list[Job]]:
    """Members 1 (4 jobs, the first already claimed), 2 (3 jobs), 3 (1 job) and 4 (2 jobs), queued in that order."""
    jobs = await add_jobs(store, clock, 1, 1, 1, 1, 2, 2, 2, 3, 4, 4)
    first = await store.claim_next("earlier", lease_seconds=LEASE, limits=OPEN)
    assert first is not None
    assert first.id == jobs[0].id
    return {"a": jobs[0:4], "b": jobs[4:7], "c": jobs[7:8], "d": jobs[8:10]}


async def test_claim_many_takes_the_fair_order_up_to_the_free_slots(store: Store, clock: FakeClock) -> None:
    """6 slots with 1 held, 2 per member: the 5 free go to turns 0 (B, C, D), then turn 1 (A's second, B's second)."""
    m = await _fair_scenario(store, clock)
    limits = ClaimLimits(max_running=6, per_user_running=2)
    claimed = await store.claim_many("w", 10, lease_seconds=LEASE, limits=limits)
    assert [j.id for j in claimed] == [m["b"][0].id, m["c"][0].id, m["d"][0].id, m["a"][1].id, m["b"][1].id]
    assert all(j.claimed_by == "w" and j.lease_until == clock.now + LEASE and j.attempt == 1 for j in claimed)
    assert await store.held_slots() == 6
    assert await store.claim_many("w", 10, lease_seconds=LEASE, limits=limits) == []
    assert await store.claim_next("w", lease_seconds=LEASE, limits=limits) is None


async def test_claim_many_takes_at_most_n(store: Store, clock: FakeClock) -> None:
    m = await _fair_scenario(store, clock)
    limits = ClaimLimits(max_running=6, per_user_running=2)
    assert await store.claim_many("w", 0, lease_seconds=LEASE, limits=limits) == []
    claimed = await store.claim_many("w", 2, lease_seconds=LEASE, limits=limits)
    assert [j.id for j in claimed] == [m["b"][0].id, m["c"][0].id]
    assert await store.held_slots() == 3


@pytest.mark.parametrize("limits", [ClaimLimits(6, 2), ClaimLimits(100, 1), ClaimLimits(4, 100), OPEN])
async def test_claim_many_takes_what_successive_claim_next_calls_take(
    store: Store, clock: FakeClock, limits: ClaimLimits
) -> None:
    """Same jobs, same order: claimed one at a time, handed back, then claimed again all at once."""
    await _fair_scenario(store, clock)
    one_by_one: list[Job] = []
    while (job := await store.claim_next("w1", lease_seconds=LEASE, limits=limits)) is not None:
        one_by_one.append(job)
        assert len(one_by_one) <= 10
    await store.release("w1", [j.id for j in one_by_one])
    together = await store.claim_many("w2", 20, lease_seconds=LEASE, limits=limits)
    assert [j.id for j in together] == [j.id for j in one_by_one]
    assert one_by_one  # every limit here leaves at least one slot


@pytest.mark.parametrize("spread", ["one store", "separate stores"])
async def test_concurrent_claim_many_never_over_claims(
    backend: Backend, open_test_store: StoreFactory, clock: FakeClock, spread: str
) -> None:
    """12 simultaneous claims of up to 3 jobs each, 10 slots, 2 per member: 10 distinct jobs, none over 2 a member."""
    stores = await claiming_stores(backend, open_test_store, spread)
    await add_jobs(stores[0], clock, *[user for user in range(1, 8) for _ in range(4)])
    limits = ClaimLimits(max_running=10, per_user_running=2)
    results = await asyncio.gather(
        *(stores[i % len(stores)].claim_many(f"w{i}", 3, lease_seconds=LEASE, limits=limits) for i in range(12))
    )
    claimed = [job for jobs in results for job in jobs]
    assert len(claimed) == 10
    assert len({j.id for j in claimed}) == 10
    assert max(Counter(j.user_id for j in claimed).values()) <= 2
    assert all(len(jobs) <= 3 for jobs in results)
    assert await stores[0].held_slots() == 10


async def test_claim_many_passes_over_a_locked_job(backend: Backend, store: Store, clock: FakeClock) -> None:
    """On PostgreSQL a claim skips the jobs a running transaction has locked instead of waiting for them."""
    if backend.name != "postgres":
        pytest.skip("SQLite runs one writer at a time: no other transaction can hold a row")
    busy, *free = await add_jobs(store, clock, 1, 2, 3)
    async with db_of(store).transaction() as tx:
        await tx.fetchone("SELECT id FROM jobs WHERE id = ? FOR UPDATE", busy.id)
        claimed = await asyncio.wait_for(store.claim_many("w", 3, lease_seconds=LEASE, limits=OPEN), 20)
        assert [j.id for j in claimed] == [j.id for j in free]
    claimed = await store.claim_many("w", 3, lease_seconds=LEASE, limits=OPEN)
    assert [j.id for j in claimed] == [busy.id]


async def test_claim_many_with_orphans_takes_them_first_then_waiting_jobs(store: Store, clock: FakeClock) -> None:
    """Orphans oldest first (a 'submitting' one even past the limit), then the waiting jobs for the slots left."""
    running, submitting, waiting_a, waiting_b, waiting_c = await add_jobs(store, clock, 1, 2, 3, 4, 5)
    for job in (running, submitting):
        await store.mark_submitting(job.id, at=clock.now)  # never leased: orphans from the start
    await store.mark_running(running.id, task_id="t", at=clock.now)
    limits = ClaimLimits(max_running=3, per_user_running=1)
    claimed = await store.claim_many("w", 5, lease_seconds=LEASE, limits=limits, orphans=True)
    assert [j.id for j in claimed] == [running.id, submitting.id, waiting_a.id]
    assert all(j.claimed_by == "w" and j.attempt == 1 for j in claimed)
    assert await store.held_slots() == 3
    # Without orphans asked for, none is taken; with every slot held, only a 'submitting' orphan is.
    clock.advance(LEASE)  # every lease lapses: the two orphans again, and the three jobs waiting
    taken = await store.claim_many("x", 5, lease_seconds=LEASE, limits=limits)
    assert [j.id for j in taken] == [waiting_a.id, waiting_b.id, waiting_c.id]
    assert await store.claim_many("w", 5, lease_seconds=LEASE, limits=limits) == []
    claimed = await store.claim_many("w", 5, lease_seconds=LEASE, limits=limits, orphans=True)
    assert [j.id for j in claimed] == [submitting.id]
    assert await store.held_slots() == 3 + 1  # past the limit: a submitting orphan is only settled
