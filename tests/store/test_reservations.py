"""Reservations held apart from the spendable balance (review C2), on both backends."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from bot.store import AccountRules, Balance, Job, JobState
from tests.store.conftest import RULES, START, assert_ledger_consistent, db_of, new_job, sql_all, sql_execute

if TYPE_CHECKING:
    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock, StoreFactory

HOUR = 3600.0
# Review probe A.5: allowance = max_balance = 5.
TIGHT = AccountRules(allowance=5, period_seconds=HOUR, max_balance=5)


async def held_of(store: Store, user_id: int = 1, scope: str = "global") -> int:
    """The raw accounts.held column."""
    rows = await sql_all(store, "SELECT held FROM accounts WHERE user_id = ? AND scope = ?", user_id, scope)
    return int(rows[0]["held"])


async def queue(store: Store, n: int, rules: AccountRules, cost: int = 1) -> list[Job]:
    """``n`` jobs of ``cost`` for member 1."""
    return [await store.create_job(new_job(cost=cost), rules=rules) for _ in range(n)]


async def test_reserve_moves_cost_to_held_capture_removes_it_refund_returns_it(store: Store) -> None:
    """Reserve: balance → held; capture: held → gone; refund: held → balance. The ledger stays the same shape."""
    delivered, failed = await queue(store, 2, RULES, cost=3)
    assert await store.balance(1, "global", RULES) == Balance(1, "global", 4, START + HOUR, held=6)
    await store.finish_job(delivered.id, delivered=True)
    assert ((await store.balance(1, "global", RULES)).balance, await held_of(store)) == (4, 3)
    await store.finish_job(failed.id, delivered=False, error_code="task_failed")
    assert ((await store.balance(1, "global", RULES)).balance, await held_of(store)) == (7, 0)
    assert [(e.reason, e.delta) for e in await store.ledger(1)] == [
        ("allowance", 10),
        ("reserve", -3),
        ("reserve", -3),
        ("capture", 0),
        ("refund", 3),
    ]
    await assert_ledger_consistent(store)


@pytest.mark.parametrize("how", ["failed", "cancelled"])
async def test_refunds_after_a_refill_never_lift_the_balance_above_max(
    store: Store, clock: FakeClock, how: str
) -> None:
    """Probe A.5: queue 3, cross the refill boundary, fail or cancel all 3: the balance ends at 5, not 8."""
    jobs = await queue(store, 3, TIGHT)
    assert (await store.balance(1, "global", TIGHT)).balance == 2
    clock.advance(HOUR)
    after_refill = await store.balance(1, "global", TIGHT)
    assert (after_refill.balance, after_refill.held) == (2, 3)  # 2 + 3 held is already the cap
    for job in jobs:
        only = [JobState.QUEUED] if how == "cancelled" else None
        assert await store.finish_job(job.id, delivered=False, error_code=how, only_from=only) is not None
    final = await store.balance(1, "global", TIGHT)
    assert (final.balance, final.held) == (5, 0)
    audit = await store.audit_ledger()
    assert audit.ok, audit.problems
    await assert_ledger_consistent(store)


async def test_refill_counts_held_credits_against_max_balance(store: Store, clock: FakeClock) -> None:
    """With 8 of 12 held, a refill tops the spendable balance up to 4 (12 - 8), not to 12."""
    rules = AccountRules(allowance=10, period_seconds=HOUR, max_balance=12)
    (job,) = await queue(store, 1, rules, cost=8)
    clock.advance(HOUR)
    assert (await store.balance(1, "global", rules)).balance == 4
    allowances = [e for e in await store.ledger(1) if e.reason == "allowance"]
    assert [(e.delta, e.cap) for e in allowances] == [(10, 12), (2, 12)]
    await store.finish_job(job.id, delivered=False)
    assert (await store.balance(1, "global", rules)).balance == 12
    await assert_ledger_consistent(store)


async def test_reset_gives_a_full_allowance_counting_what_is_held(store: Store) -> None:
    """A reset while 3 credits are held leaves 7 spendable; the refunds then bring it to exactly 10."""
    jobs = await queue(store, 3, RULES)
    await store.grant(1, "global", 30, RULES, actor_id=None)
    reset = await store.reset_balance(1, "global", RULES, actor_id=5)
    assert (reset.balance, reset.held) == (7, 3)
    for job in jobs:
        await store.finish_job(job.id, delivered=False)
    assert (await store.balance(1, "global", RULES)).balance == 10
    await assert_ledger_consistent(store)
    assert (await store.audit_ledger()).ok


async def test_reset_with_more_held_than_the_allowance_leaves_nothing_spendable(store: Store) -> None:
    """Held credits above the allowance: the reset sets the spendable balance to 0, never below."""
    await store.grant(1, "global", 10, RULES, actor_id=None)
    await queue(store, 1, RULES, cost=15)
    reset = await store.reset_balance(1, "global", RULES, actor_id=5)
    assert (reset.balance, reset.held) == (0, 15)


async def test_set_balance_and_grants_stay_exact_and_may_pass_the_cap(store: Store) -> None:
    """Admin actions set or add exactly what was asked, whatever is held."""
    await queue(store, 2, RULES, cost=4)
    assert (await store.set_balance(1, "global", 25, RULES, actor_id=5)).balance == 25
    granted = await store.grant(1, "global", 3, RULES, actor_id=5)
    assert (granted.balance, granted.held) == (28, 8)
    await assert_ledger_consistent(store)
    assert (await store.audit_ledger()).ok


# -- the audit -------------------------------------------------------------------------------------------


async def a_refilled_account(store: Store, clock: FakeClock) -> None:
    """Reservations, a refill, a capture and a refund: books that must audit clean."""
    jobs = await queue(store, 3, TIGHT)
    clock.advance(HOUR)
    await store.balance(1, "global", TIGHT)
    await store.finish_job(jobs[0].id, delivered=True)
    await store.finish_job(jobs[1].id, delivered=False)
    clock.advance(HOUR)
    await store.balance(1, "global", TIGHT)


async def test_audit_of_reservations_and_refills_is_clean(store: Store, clock: FakeClock) -> None:
    """Real reservations, refills and settlements never trip the new checks."""
    await a_refilled_account(store, clock)
    audit = await store.audit_ledger()
    assert audit.ok, audit.problems


@pytest.mark.parametrize(
    ("corruption", "expected"),
    [
        ("UPDATE accounts SET held = held + 1", "held 2 but its unfinished jobs cost 1"),
        ("UPDATE accounts SET held = 0", "held 0 but its unfinished jobs cost 1"),
        # A refill applied the old way (ignoring held): balance and ledger agree, the cap does not.
        (
            "INSERT INTO account_entries (user_id, scope, delta, reason, created_at, cap, spent) "
            "VALUES (1, 'global', 3, 'allowance', 0, 5, 1)",
            "lifted balance + held to 8, above max_balance 5",
        ),
        ("UPDATE account_entries SET cap = 3 WHERE reason = 'allowance' AND cap IS NOT NULL", "above max_balance 3"),
        # What an allowance says was captured before it must match the captures: never more than the account's,
        # never less than the allowance before it (a lower figure would hide a refill past the cap).
        ("UPDATE account_entries SET spent = 2 WHERE reason = 'allowance'", "recorded 2 credits captured"),
        (
            "UPDATE account_entries SET spent = CASE WHEN id = (SELECT MIN(id) FROM account_entries) THEN 1 ELSE 0 END "
            "WHERE reason = 'allowance'",
            "recorded 0 credits captured (the one before it 1",
        ),
        # A lower figure than the captures then would hide a refill past the cap: that refill is reported.
        (
            "UPDATE account_entries SET spent = 0 WHERE id = (SELECT MAX(id) FROM account_entries)",
            "lifted balance + held to 6, above max_balance 5",
        ),
        ("UPDATE account_entries SET spent = NULL WHERE reason = 'allowance'", "recorded None credits captured"),
    ],
)
async def test_audit_finds_wrong_held_and_refills_above_the_cap(
    store: Store, clock: FakeClock, corruption: str, expected: str
) -> None:
    """Tampering with held, or a refill past max_balance, is reported (`imagine-bot ledger check` exits 1)."""
    await a_refilled_account(store, clock)
    await sql_execute(store, corruption)
    if "INSERT" in corruption:  # keep the balance equal to its ledger sum, as the old refill arithmetic did
        await sql_execute(store, "UPDATE accounts SET balance = balance + 3")
    audit = await store.audit_ledger()
    assert not audit.ok
    assert any(expected in p for p in audit.problems), audit.problems


async def test_audit_accepts_grants_above_the_cap(store: Store, clock: FakeClock) -> None:
    """Only refills are held to max_balance: a grant past it, then a refill that adds nothing, audits clean."""
    await store.grant(1, "global", 50, RULES, actor_id=5)
    await queue(store, 2, RULES)
    clock.advance(5 * HOUR)
    assert (await store.balance(1, "global", RULES)).balance == 58
    assert (await store.audit_ledger()).ok


# -- PostgreSQL: the refill reads the account under a row lock ---------------------------------------------


async def wait_for_lock_wait(store: Store) -> None:
    """Wait (at most 10 s) until some other connection of this database is blocked on a row lock."""
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        rows = await sql_all(
            store,
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'",
        )
        if int(rows[0]["n"]) > 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("no connection ever waited for the account row")


async def test_a_concurrent_balance_change_cannot_make_the_refill_skip(
    backend: Backend, open_test_store: StoreFactory, clock: FakeClock
) -> None:
    """A grant committing while a reservation is about to refill: the refill still happens (SELECT … FOR UPDATE).

    Without the lock the reservation reads the old balance, its conditional refill then misses the changed
    row, and the member is refused although a refill was due.
    """
    if backend.name != "postgres":
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE): no such interleaving exists")
    store = await open_test_store(pool_size=4)
    await queue(store, 1, RULES, cost=10)  # balance 0, held 10
    clock.advance(HOUR)  # a refill is due
    async with db_of(store).transaction() as tx:
        # A grant of 1 in progress: it holds the account row until it commits.
        await tx.execute("UPDATE accounts SET balance = balance + 1 WHERE user_id = 1")
        await tx.execute(
            "INSERT INTO account_entries (user_id, scope, delta, reason, created_at) "
            "VALUES (1, 'global', 1, 'grant', ?)",
            clock.now,
        )
        creating = asyncio.create_task(store.create_job(new_job(cost=2), rules=RULES))
        await wait_for_lock_wait(store)
    job = await asyncio.wait_for(creating, timeout=30)
    assert job.cost == 2
    balance = await store.balance(1, "global", RULES)
    assert (balance.balance, balance.held) == (8, 12)  # min(20 - 10, 1 + 10) = 10, minus the new 2
    await assert_ledger_consistent(store)
    assert (await store.audit_ledger()).ok
