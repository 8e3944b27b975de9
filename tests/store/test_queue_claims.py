"""The job queue in the database: claims in fair order under the concurrency limits, leases, renewal, release."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from bot.store import ClaimLimits, Job, JobState
from tests.store.conftest import db_of, new_job, sql_all

if TYPE_CHECKING:
    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock, StoreFactory

LEASE = 30.0
OPEN = ClaimLimits(max_running=100, per_user_running=100)
CLAIMERS = 20
PG_POOL = CLAIMERS + 2  # every concurrent claim on one PostgreSQL store gets a connection of its own
PG_PROCESSES = 3  # separate stores = separate pools, as separate bot processes would have
SQLITE_CONNECTIONS = 4


async def add_jobs(store: Store, clock: FakeClock, *users: int) -> list[Job]:
    """One free job per entry of ``users``, created a second apart (so created_at orders them)."""
    jobs = []
    for user_id in users:
        jobs.append(await store.create_job(new_job(user_id, cost=0), rules=None))
        clock.advance(1)
    return jobs


async def claiming_stores(backend: Backend, open_test_store: StoreFactory, spread: str) -> list[Store]:
    """Stores whose claims truly overlap: one store, or several as separate processes would have."""
    if spread == "one store":
        return [await open_test_store(pool_size=PG_POOL)]
    if backend.name == "postgres":
        return [await open_test_store(pool_size=CLAIMERS // PG_PROCESSES + 2) for _ in range(PG_PROCESSES)]
    return [await open_test_store() for _ in range(SQLITE_CONNECTIONS)]


async def claim_all(stores: list[Store], limits: ClaimLimits) -> list[Job]:
    """CLAIMERS simultaneous claim_next calls spread over ``stores``; the jobs they got."""
    results = await asyncio.gather(
        *(stores[i % len(stores)].claim_next(f"w{i}", lease_seconds=LEASE, limits=limits) for i in range(CLAIMERS))
    )
    return [r for r in results if r is not None]


@pytest.mark.parametrize("spread", ["one store", "separate stores"])
async def test_concurrent_claims_never_pass_max_running(
    backend: Backend, open_test_store: StoreFactory, clock: FakeClock, spread: str
) -> None:
    """20 simultaneous claims, 3 slots in all, 2 per member: 3 jobs claimed, no member holds more than 2."""
    stores = await claiming_stores(backend, open_test_store, spread)
    await add_jobs(stores[0], clock, *[user for user in (1, 2, 3, 4, 5) for _ in range(4)])
    claimed = await claim_all(stores, ClaimLimits(max_running=3, per_user_running=2))
    assert len(claimed) == 3
    assert max(Counter(j.user_id for j in claimed).values()) <= 2
    assert await stores[0].held_slots() == 3
    assert await stores[0].claim_next("late", lease_seconds=LEASE, limits=ClaimLimits(3, 2)) is None


@pytest.mark.parametrize("spread", ["one store", "separate stores"])
async def test_concurrent_claims_never_pass_per_user_running(
    backend: Backend, open_test_store: StoreFactory, clock: FakeClock, spread: str
) -> None:
    """20 simultaneous claims on one member's 10 jobs with 2 slots per member: exactly 2 claimed."""
    stores = await claiming_stores(backend, open_test_store, spread)
    await add_jobs(stores[0], clock, *[7] * 10)
    claimed = await claim_all(stores, ClaimLimits(max_running=10, per_user_running=2))
    assert len(claimed) == 2
    assert await stores[0].held_slots() == 2


@pytest.mark.parametrize("spread", ["one store", "separate stores"])
async def test_no_job_is_claimed_twice(
    backend: Backend, open_test_store: StoreFactory, clock: FakeClock, spread: str
) -> None:
    """20 simultaneous claims on 30 jobs without limits: 20 different jobs, each claimed once by its claimer."""
    stores = await claiming_stores(backend, open_test_store, spread)
    await add_jobs(stores[0], clock, *[user for user in range(1, 7) for _ in range(5)])
    claimed = await claim_all(stores, OPEN)
    assert len(claimed) == CLAIMERS
    assert len({j.id for j in claimed}) == CLAIMERS
    assert len({j.claimed_by for j in claimed}) == CLAIMERS
    assert all(j.attempt == 1 and j.lease_until == clock.now + LEASE for j in claimed)
    rows = await sql_all(stores[0], "SELECT COUNT(*) AS n FROM jobs WHERE attempt > 0")
    assert int(rows[0]["n"]) == CLAIMERS


async def test_claims_go_round_robin_over_members(store: Store, clock: FakeClock) -> None:
    """Member A's 10 jobs came first, then B's 2 and C's 1: claims interleave A, B, C, A, B, then the rest of A."""
    a = await add_jobs(store, clock, *[1] * 10)
    b = await add_jobs(store, clock, 2, 2)
    c = await add_jobs(store, clock, 3)
    expected = [a[0].id, b[0].id, c[0].id, a[1].id, b[1].id, *(j.id for j in a[2:])]
    places = await store.waiting_places()
    assert sorted(places, key=places.__getitem__) == expected
    assert sorted(places.values()) == list(range(1, 14))
    claimed = []
    while (job := await store.claim_next("w", lease_seconds=LEASE, limits=OPEN)) is not None:
        assert (await store.waiting_places()).get(job.id) is None
        claimed.append(job.id)
        assert len(claimed) <= 13
    assert claimed == expected
    assert await store.waiting_places() == {}


async def test_waiting_places_follow_the_claim_order_as_slots_are_held_and_freed(
    store: Store, clock: FakeClock
) -> None:
    """Slots a member holds push their waiting jobs back; each claim takes the job in place 1."""
    limits = ClaimLimits(max_running=2, per_user_running=2)
    first = await add_jobs(store, clock, 1, 1, 1)
    claimed = [await store.claim_next("w", lease_seconds=LEASE, limits=limits) for _ in range(2)]
    assert [j.id if j else None for j in claimed] == [first[0].id, first[1].id]
    late = await add_jobs(store, clock, 2, 3)
    places = await store.waiting_places()
    assert places == {late[0].id: 1, late[1].id: 2, first[2].id: 3}  # member 1 holds 2 slots: its 3rd waits
    assert await store.claim_next("w", lease_seconds=LEASE, limits=limits) is None  # both slots held
    await store.finish_job(first[0].id, delivered=True)
    for _ in range(3):
        places = await store.waiting_places()
        job = await store.claim_next("w", lease_seconds=LEASE, limits=ClaimLimits(10, 2))
        assert job is not None
        assert places[job.id] == 1


async def test_a_live_lease_is_not_claimed_and_an_expired_one_is(store: Store, clock: FakeClock) -> None:
    """Another worker cannot take a claimed job until its lease runs out; then it can, as a new attempt."""
    (job,) = await add_jobs(store, clock, 1)
    first = await store.claim_next("w1", lease_seconds=LEASE, limits=OPEN)
    assert first is not None
    assert (first.id, first.claimed_by, first.attempt) == (job.id, "w1", 1)
    clock.advance(LEASE - 1)
    assert await store.claim_next("w2", lease_seconds=LEASE, limits=OPEN) is None
    assert await store.held_slots() == 1
    clock.advance(1)
    assert await store.held_slots() == 0
    again = await store.claim_next("w2", lease_seconds=LEASE, limits=OPEN)
    assert again is not None
    assert (again.id, again.claimed_by, again.attempt, again.lease_until) == (job.id, "w2", 2, clock.now + LEASE)


async def test_orphans_are_claimed_only_once_their_lease_expired(store: Store, clock: FakeClock) -> None:
    """A running job is resumed by another worker only after its lease ran out; a job never leased at once."""
    old, new = await add_jobs(store, clock, 1, 2)
    await store.mark_submitting(old.id, at=clock.now)  # never claimed: as rows from before the queue lived here
    claimed = await store.claim_next("w1", lease_seconds=LEASE, limits=OPEN)
    assert claimed is not None
    assert claimed.id == new.id
    await store.mark_submitting(new.id, at=clock.now)
    await store.mark_running(new.id, task_id="t", at=clock.now)
    orphan = await store.claim_orphan("w2", lease_seconds=LEASE, limits=OPEN)
    assert orphan is not None
    assert (orphan.id, orphan.state, orphan.claimed_by, orphan.attempt) == (old.id, JobState.SUBMITTING, "w2", 1)
    assert await store.claim_orphan("w3", lease_seconds=LEASE, limits=OPEN) is None
    clock.advance(LEASE)
    resumed = await store.claim_orphan("w3", lease_seconds=LEASE, limits=OPEN)
    assert resumed is not None
    assert (resumed.id, resumed.state, resumed.claimed_by, resumed.attempt) == (old.id, JobState.SUBMITTING, "w3", 2)
    resumed = await store.claim_orphan("w3", lease_seconds=LEASE, limits=OPEN)
    assert resumed is not None
    assert (resumed.id, resumed.state, resumed.claimed_by, resumed.attempt) == (new.id, JobState.RUNNING, "w3", 2)
    assert await store.claim_orphan("w4", lease_seconds=LEASE, limits=OPEN) is None


async def test_orphans_count_against_the_limits_except_in_submitting(store: Store, clock: FakeClock) -> None:
    """With every slot held a running orphan waits, but a submitting one (only to be settled) is still claimed."""
    running, submitting, busy = await add_jobs(store, clock, 1, 2, 3)
    for job in (running, submitting):
        await store.mark_submitting(job.id, at=clock.now)
    await store.mark_running(running.id, task_id="t", at=clock.now)
    one = ClaimLimits(max_running=1, per_user_running=1)
    assert await store.claim_next("w1", lease_seconds=LEASE, limits=one) is not None  # member 3 holds the slot
    claimed = await store.claim_orphan("w2", lease_seconds=LEASE, limits=one)
    assert claimed is not None
    assert claimed.id == submitting.id
    assert await store.claim_orphan("w2", lease_seconds=LEASE, limits=one) is None
    await store.finish_job(busy.id, delivered=False)
    await store.finish_job(submitting.id, delivered=False)
    claimed = await store.claim_orphan("w2", lease_seconds=LEASE, limits=one)
    assert claimed is not None
    assert claimed.id == running.id
    # Per member too: member 1 now holds its one slot, so its next job waits while another member's may start.
    mine, other = await add_jobs(store, clock, 1, 4)
    wide = ClaimLimits(max_running=10, per_user_running=1)
    claimed = await store.claim_next("w2", lease_seconds=LEASE, limits=wide)
    assert claimed is not None
    assert claimed.id == other.id
    assert await store.claim_next("w2", lease_seconds=LEASE, limits=wide) is None
    assert mine.id in await store.waiting_places()


async def test_renew_extends_held_leases_and_returns_the_lost_ones(store: Store, clock: FakeClock) -> None:
    """Renewal keeps the jobs w1 still holds; a job taken over, one ended and one whose lease lapsed are lost."""
    taken, lapsed, kept, ended = await add_jobs(store, clock, 1, 2, 3, 4)
    for _ in (taken, lapsed):
        assert await store.claim_next("w1", lease_seconds=LEASE, limits=OPEN) is not None
    clock.advance(LEASE / 2)
    for _ in (kept, ended):
        assert await store.claim_next("w1", lease_seconds=LEASE, limits=OPEN) is not None
    await store.finish_job(ended.id, delivered=False)
    clock.advance(LEASE / 2)  # the first two leases ran out
    over = await store.claim_next("w2", lease_seconds=LEASE, limits=OPEN)
    assert over is not None
    assert over.id == taken.id
    lost = await store.renew_leases("w1", [taken.id, kept.id, ended.id, lapsed.id], lease_seconds=LEASE)
    assert lost == {taken.id, ended.id, lapsed.id}
    renewed = await store.get_job(kept.id)
    assert renewed is not None
    assert (renewed.claimed_by, renewed.lease_until) == ("w1", clock.now + LEASE)
    assert await store.renew_leases("w1", [], lease_seconds=LEASE) == set()
    assert await store.renew_leases("w2", [taken.id], lease_seconds=LEASE) == set()


async def test_release_makes_jobs_claimable_at_once(store: Store, clock: FakeClock) -> None:
    """A graceful stop ends w1's leases now: w2 claims the waiting and the running job without waiting."""
    waiting, running = await add_jobs(store, clock, 1, 2)
    for _ in range(2):
        assert await store.claim_next("w1", lease_seconds=LEASE, limits=OPEN) is not None
    await store.mark_submitting(running.id, at=clock.now)
    await store.mark_running(running.id, task_id="t", at=clock.now)
    await store.release("w2", [waiting.id, running.id])  # not w2's to release: nothing changes
    assert await store.held_slots() == 2
    await store.release("w1", [waiting.id, running.id])
    assert await store.held_slots() == 0
    job = await store.claim_next("w2", lease_seconds=LEASE, limits=OPEN)
    assert job is not None
    assert (job.id, job.attempt) == (waiting.id, 2)
    job = await store.claim_orphan("w2", lease_seconds=LEASE, limits=OPEN)
    assert job is not None
    assert (job.id, job.attempt) == (running.id, 2)


async def test_finishing_a_job_ends_its_lease_and_frees_its_slot(store: Store, clock: FakeClock) -> None:
    """An ended job holds no slot; its claimed_by stays for the record."""
    (job,) = await add_jobs(store, clock, 1)
    assert await store.claim_next("w1", lease_seconds=LEASE, limits=OPEN) is not None
    assert await store.held_slots() == 1
    ended = await store.finish_job(job.id, delivered=True)
    assert ended is not None
    assert (ended.claimed_by, ended.lease_until, ended.attempt) == ("w1", None, 1)
    assert await store.held_slots() == 0


async def test_a_job_locked_by_another_transaction_is_passed_over(
    backend: Backend, store: Store, clock: FakeClock
) -> None:
    """On PostgreSQL a claim skips the job a running transaction has locked (say, a cancel) instead of waiting."""
    if backend.name != "postgres":
        pytest.skip("SQLite runs one writer at a time: no other transaction can hold a row")
    busy, free = await add_jobs(store, clock, 1, 2)
    async with db_of(store).transaction() as tx:
        await tx.fetchone("SELECT id FROM jobs WHERE id = ? FOR UPDATE", busy.id)
        claimed = await asyncio.wait_for(store.claim_next("w", lease_seconds=LEASE, limits=OPEN), 20)
        assert claimed is not None
        assert claimed.id == free.id
    claimed = await store.claim_next("w", lease_seconds=LEASE, limits=OPEN)
    assert claimed is not None
    assert claimed.id == busy.id
