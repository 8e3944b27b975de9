"""Credit administration in the store (grants, adjustments, bans, spend cap, usage, audit) on both backends."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from bot.store import (
    AccountRules,
    InsufficientBalance,
    Job,
    JobState,
    SpendCapExceeded,
    SpendLimit,
)
from tests.store.conftest import ONE_IMAGE, RULES, START, assert_ledger_consistent, new_job, sql_execute
from tests.store.test_ledger_races import CALLERS, racing_stores

if TYPE_CHECKING:
    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock, StoreFactory

HOUR = 3600.0
DAY = 86_400.0
DAILY_AT_6 = AccountRules(allowance=10, period_seconds=DAY, max_balance=20, anchor=6 * HOUR)
# START is 2023-11-14 22:13:20 UTC: the fixed-hour period began at 06:00 that day.
SIX_AM = START - (START % DAY) + 6 * HOUR


async def reasons(store: Store, user_id: int = 1) -> list[tuple[str, int]]:
    """The member's ledger as (reason, delta) pairs."""
    return [(e.reason, e.delta) for e in await store.ledger(user_id)]


async def started(store: Store, clock: FakeClock, job: Job) -> Job:
    """Move a queued job to 'submitting' the way the runner does."""
    moved = await store.transition(
        job.id, from_states=[JobState.QUEUED], to=JobState.SUBMITTING, submit_started_at=clock.now
    )
    assert moved is not None
    return moved


# -- refills at a fixed UTC hour ----------------------------------------------------------------------


async def test_fixed_hour_refill_happens_at_the_scheduled_boundary_only(store: Store, clock: FakeClock) -> None:
    """A new member's period starts at the last 06:00 UTC; refills land exactly at each later 06:00."""
    balance = await store.balance(1, "global", DAILY_AT_6)
    assert (balance.balance, balance.next_refill_at) == (10, SIX_AM + DAY)
    await store.create_job(new_job(cost=10), rules=DAILY_AT_6)
    clock.now = SIX_AM + DAY - 0.001
    assert (await store.balance(1, "global", DAILY_AT_6)).balance == 0
    clock.now = SIX_AM + DAY
    balance = await store.balance(1, "global", DAILY_AT_6)
    assert (balance.balance, balance.next_refill_at) == (10, SIX_AM + 2 * DAY)
    clock.now = SIX_AM + 4 * DAY + 5
    balance = await store.balance(1, "global", DAILY_AT_6)
    # Three more boundaries, but 10 spendable + 10 held is already max_balance: they only move the period.
    assert (balance.balance, balance.next_refill_at) == (10, SIX_AM + 5 * DAY)
    assert [d for r, d in await reasons(store) if r == "allowance"] == [10, 10]
    await assert_ledger_consistent(store)


async def test_switching_from_rolling_to_fixed_hour_aligns_at_the_next_boundary(store: Store, clock: FakeClock) -> None:
    """An account started on a rolling schedule refills at the next scheduled hour, then stays aligned."""
    rolling = AccountRules(allowance=10, period_seconds=DAY, max_balance=20)
    await store.create_job(new_job(cost=10), rules=rolling)
    assert (await store.balance(1, "global", DAILY_AT_6)).next_refill_at == SIX_AM + DAY
    clock.now = SIX_AM + DAY + 1
    balance = await store.balance(1, "global", DAILY_AT_6)
    assert (balance.balance, balance.next_refill_at) == (10, SIX_AM + 2 * DAY)


# -- grant / set / reset --------------------------------------------------------------------------------


async def test_grant_can_pass_the_cap_and_records_actor_and_note(store: Store) -> None:
    """A grant adds to the balance past max_balance and is one 'grant' entry with who and why."""
    balance = await store.grant(1, "global", 25, RULES, actor_id=99, note="contest winner")
    assert balance.balance == 35
    entry = (await store.ledger(1))[-1]
    assert (entry.reason, entry.delta, entry.actor_id, entry.note) == ("grant", 25, 99, "contest winner")
    await assert_ledger_consistent(store)


async def test_negative_grant_never_goes_below_zero(store: Store) -> None:
    """Taking back more than the balance is refused and changes nothing."""
    with pytest.raises(InsufficientBalance) as refused:
        await store.grant(1, "global", -11, RULES, actor_id=None)
    assert refused.value.balance.balance == 10
    assert (await store.grant(1, "global", -10, RULES, actor_id=None)).balance == 0
    assert await reasons(store) == [("allowance", 10), ("grant", -10)]
    with pytest.raises(ValueError, match="must change"):
        await store.grant(1, "global", 0, RULES, actor_id=None)


async def test_set_balance_writes_the_difference_as_one_adjust_entry(store: Store) -> None:
    """Setting 3 from 10 is an 'adjust' of -7; setting the same value again writes nothing."""
    assert (await store.set_balance(1, "global", 3, RULES, actor_id=7, note="abuse")).balance == 3
    assert (await store.set_balance(1, "global", 3, RULES, actor_id=7)).balance == 3
    assert await reasons(store) == [("allowance", 10), ("adjust", -7)]
    assert (await store.ledger(1))[-1].actor_id == 7
    with pytest.raises(ValueError, match="negative"):
        await store.set_balance(1, "global", -1, RULES, actor_id=7)
    await assert_ledger_consistent(store)


async def test_reset_gives_a_full_allowance_and_restarts_the_period(store: Store, clock: FakeClock) -> None:
    """After a reset the balance is the (capped) allowance and the next refill is one period away."""
    await store.grant(1, "global", 30, RULES, actor_id=None)
    clock.advance(1000)
    balance = await store.reset_balance(1, "global", RULES, actor_id=5)
    assert (balance.balance, balance.next_refill_at) == (10, clock.now + RULES.period_seconds)
    entry = (await store.ledger(1))[-1]
    assert (entry.reason, entry.delta, entry.note) == ("adjust", -30, "reset")
    await assert_ledger_consistent(store)


async def test_set_balance_racing_reservations_keeps_the_books_balanced(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """A set_balance in the middle of 30 concurrent reservations: every change is conditional, the sums hold."""
    stores = await racing_stores(backend, open_test_store)
    await stores[0].grant(1, "global", 10, RULES, actor_id=None)  # balance 20
    calls = [stores[i % len(stores)].create_job(new_job(cost=1), rules=RULES) for i in range(30)]
    calls.insert(15, stores[0].set_balance(1, "global", 5, RULES, actor_id=None))
    results = await asyncio.gather(*calls, return_exceptions=True)
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, InsufficientBalance)]
    assert not unexpected
    assert (await stores[0].balance(1, "global", RULES)).balance >= 0
    await assert_ledger_consistent(stores[0])


async def test_account_scopes_lists_where_a_member_has_balances(store: Store) -> None:
    """One entry per scope with an account."""
    await store.balance(1, "guild:5", RULES)
    await store.balance(1, "global", RULES)
    await store.balance(2, "global", RULES)
    assert await store.account_scopes(1) == ["global", "guild:5"]
    assert await store.account_scopes(3) == []


# -- bans and notify-once ------------------------------------------------------------------------------


async def test_ban_unban_and_lookup_by_scope(store: Store) -> None:
    """Bans are per scope; banned_in reports the first applicable scope in the order asked."""
    assert await store.ban(1, "guild:5", actor_id=2, reason="spam") is True
    assert await store.ban(1, "guild:5", actor_id=2) is False
    assert await store.banned_in(1, ["global", "guild:5"]) == "guild:5"
    assert await store.banned_in(1, ["global", "guild:6"]) is None
    assert await store.ban(1, "global", actor_id=2) is True
    assert await store.banned_in(1, ["global", "guild:5"]) == "global"
    assert await store.unban(1, "global") is True
    assert await store.unban(1, "global") is False
    assert await store.banned_in(1, ["global"]) is None
    assert await store.banned_in(1, []) is None


async def test_claim_meta_succeeds_once_even_concurrently(backend: Backend, open_test_store: StoreFactory) -> None:
    """Twenty simultaneous claims of one key: exactly one wins (used for "notify the owners once")."""
    stores = await racing_stores(backend, open_test_store)
    won = await asyncio.gather(*(stores[i % len(stores)].claim_meta("alert:x", str(i)) for i in range(20)))
    assert won.count(True) == 1
    assert await stores[0].get_meta("alert:x") is not None


# -- the owner's spend cap -------------------------------------------------------------------------------


async def test_spend_cap_counts_waiting_and_sent_jobs_but_not_refused_posts(store: Store, clock: FakeClock) -> None:
    """Queued jobs and jobs sent today count; yesterday's, never-sent and reAPI-refused (charged=False) ones do not."""
    rich = AccountRules(allowance=100, period_seconds=DAY, max_balance=100)

    async def job(user_id: int = 1) -> Job:
        return await store.create_job(new_job(user_id, cost=1), rules=rich)

    yesterday = await started(store, clock, await job())
    await store.finish_job(yesterday.id, delivered=True)
    clock.advance(DAY)
    limit = SpendLimit(since=clock.now - 10, max_millicredits=4 * ONE_IMAGE)
    refused = await started(store, clock, await job())
    await store.finish_job(refused.id, delivered=False, error_code="reapi_402", charged=False)
    unknown = await started(store, clock, await job())
    await store.finish_job(unknown.id, delivered=False, error_code="outcome_unknown")  # may have been charged
    never_sent = await job()
    await store.finish_job(never_sent.id, delivered=False, error_code="reapi_paused")
    await store.create_job(new_job(2, cost=1), rules=rich, spend=limit)  # waiting: counts
    await started(store, clock, await job(3))  # in reAPI's hands: counts
    await store.create_job(new_job(4, cost=1), rules=rich, spend=limit)  # the 4th of 4
    with pytest.raises(SpendCapExceeded) as exceeded:
        await store.create_job(new_job(5, cost=1), rules=rich, spend=limit)
    assert (exceeded.value.counted, exceeded.value.cap) == (4 * ONE_IMAGE, 4 * ONE_IMAGE)
    assert await store.ledger(5) == []  # nothing was reserved for the refused job


async def test_concurrent_creations_never_pass_the_spend_cap(backend: Backend, open_test_store: StoreFactory) -> None:
    """50 simultaneous jobs from 50 members against a cap of 7 images: exactly 7 are stored."""
    stores = await racing_stores(backend, open_test_store)
    limit = SpendLimit(since=START - DAY, max_millicredits=7 * ONE_IMAGE)
    results = await asyncio.gather(
        *(
            stores[i % len(stores)].create_job(new_job(100 + i, cost=1), rules=RULES, spend=limit)
            for i in range(CALLERS)
        ),
        return_exceptions=True,
    )
    assert Counter(type(r).__name__ for r in results) == {"Job": 7, "SpendCapExceeded": 43}
    assert len(await stores[0].active_jobs()) == 7
    await assert_ledger_consistent(stores[0])


# -- usage -------------------------------------------------------------------------------------------------


async def test_usage_per_day_top_members_and_guild_filter(store: Store, clock: FakeClock) -> None:
    """Delivered/failed/credits per finish day, reAPI sends per send day, top members by images."""
    day0 = START - (START % DAY)

    async def finished(user_id: int, *, delivered: bool, guild_id: int = 100, cost: int = 1) -> None:
        job = await started(
            store, clock, await store.create_job(new_job(user_id, cost=cost, guild_id=guild_id), rules=RULES)
        )
        await store.finish_job(job.id, delivered=delivered, error_code=None if delivered else "task_failed")

    await finished(1, delivered=True)
    await finished(1, delivered=True, cost=2)
    await finished(2, delivered=False)
    clock.now = day0 + DAY + 60
    await finished(2, delivered=True, guild_id=200)
    await store.create_job(new_job(3, cost=1), rules=RULES)  # waiting
    usage = await store.usage([day0, day0 + DAY], top=5)
    assert [(d.delivered, d.failed, d.credits, d.charged) for d in usage.days] == [(2, 1, 3, 3), (1, 0, 1, 1)]
    assert [(u.user_id, u.delivered, u.credits) for u in usage.top_users] == [(1, 2, 3), (2, 1, 1)]
    assert usage.in_flight == 1
    mine = await store.usage([day0, day0 + DAY], guild_id=200)
    assert [(d.delivered, d.charged) for d in mine.days] == [(0, 0), (1, 1)]
    assert [u.user_id for u in mine.top_users] == [2]
    assert mine.in_flight == 0


# -- the audit behind `imagine-bot ledger check` ----------------------------------------------------------


async def books(store: Store, clock: FakeClock) -> dict[str, Job]:
    """A small history: delivered, failed, in flight, granted and adjusted."""
    jobs = {name: await store.create_job(new_job(cost=2), rules=RULES) for name in ("ok", "bad", "running")}
    await store.finish_job(jobs["ok"].id, delivered=True)
    await store.finish_job(jobs["bad"].id, delivered=False, error_code="task_failed")
    await store.grant(2, "global", 5, RULES, actor_id=1)
    await store.set_balance(3, "guild:9", 4, RULES, actor_id=1)
    return jobs


async def test_audit_of_consistent_books_is_clean(store: Store, clock: FakeClock) -> None:
    """Balances match, each reservation is settled once or in flight."""
    await books(store, clock)
    audit = await store.audit_ledger()
    assert audit.ok, audit.problems
    assert (audit.accounts, audit.reserves, audit.in_flight) == (3, 3, 1)


@pytest.mark.parametrize(
    ("corruption", "expected"),
    [
        ("UPDATE accounts SET balance = balance + 1 WHERE user_id = 2", "balance 16 but the ledger sums to 15"),
        # A job's entries are read from its row: a delivered job said failed reads as refunded, its cost uncaptured.
        ("UPDATE jobs SET state = 'failed' WHERE id = '{ok}'", "balance 6 but the ledger sums to 8"),
        ("UPDATE jobs SET state = 'failed' WHERE id = '{ok}'", "spent 2 but its delivered jobs cost 0"),
        ("UPDATE jobs SET state = 'delivered' WHERE id = '{bad}'", "balance 6 but the ledger sums to 4"),
        ("UPDATE jobs SET state = 'delivered' WHERE id = '{bad}'", "spent 2 but its delivered jobs cost 4"),
        ("UPDATE jobs SET state = 'running' WHERE id = '{ok}'", "held 2 but its unfinished jobs cost 4"),
        ("UPDATE jobs SET cost = 3 WHERE id = '{ok}'", "balance 6 but the ledger sums to 5"),
        ("DELETE FROM jobs WHERE id = '{ok}'", "balance 6 but the ledger sums to 8"),
        ("UPDATE accounts SET spent = spent + 1 WHERE user_id = 1", "spent 3 but its delivered jobs cost 2"),
        ("DELETE FROM accounts WHERE user_id = 3", "which has no account"),
        ("UPDATE account_entries SET reason = 'gift' WHERE reason = 'grant'", "unexpected 'gift' entry"),
        ("UPDATE account_entries SET reason = 'reserve' WHERE reason = 'grant'", "unexpected 'reserve' entry"),
    ],
)
async def test_audit_reports_each_kind_of_corruption(
    store: Store, clock: FakeClock, corruption: str, expected: str
) -> None:
    """Tampering with balances, job states or costs, spent totals or reasons is found and described."""
    jobs = await books(store, clock)
    await sql_execute(store, corruption.format(ok=jobs["ok"].id, bad=jobs["bad"].id))
    audit = await store.audit_ledger()
    assert not audit.ok
    assert any(expected in p for p in audit.problems), audit.problems
