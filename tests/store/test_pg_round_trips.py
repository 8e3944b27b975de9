"""PostgreSQL round trips: what a store call costs on the wire, and that batched calls each keep their own result."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from bot.store import JobState, QueueLimits, SpendLimit
from bot.store.postgres import _PostgresTx
from bot.store.sql import SqlStore
from tests.pg import others_queries
from tests.store.conftest import RULES, START, assert_ledger_consistent, new_job

if TYPE_CHECKING:
    from bot.store.db import Row, Tx
    from tests.store.conftest import Backend, StoreFactory


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
    queries = await others_queries(backend.url)
    assert queries, "the store's pooled connection is not there"
    assert not any("RESET ALL" in q or "pg_advisory_unlock_all" in q for q in queries), queries


MEMBERS = range(1, 21)


async def _with_known_members(open_test_store: StoreFactory, members: range) -> SqlStore:
    """A store with a connection per caller, whose members have accounts (reservations take the one-statement
    path) and which has read the jobs table's column types (once, on its first creation)."""
    store = await open_test_store(pool_size=4)
    assert isinstance(store, SqlStore)
    for user_id in members:
        await store.balance(user_id, "global", RULES)
    await store.create_job(new_job(99, cost=0), rules=None)
    return store


async def test_reserves_and_settles_that_arrive_together_share_one_statement_each(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """Twenty members create a job at once, then end them at once: two statements in all, each caller its own job."""
    if backend.name != "postgres":
        pytest.skip("SQLite shares transactions instead (tests/store/test_units.py)")
    store = await _with_known_members(open_test_store, MEMBERS)
    members = MEMBERS
    reserves, settles, _ = store._batched()
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


async def test_settles_the_engine_sends_with_the_state_they_expect_share_one_statement(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """The engine ends a job only from the state its runner holds (``only_from=[state]``): twenty such settles at
    once are one statement, and each still ends its job only from that state. Member 1's job has moved on (its
    runner still thinks it queued): that one is left alone, and nothing of it is settled."""
    if backend.name != "postgres":
        pytest.skip("SQLite shares transactions instead (tests/store/test_units.py)")
    store = await _with_known_members(open_test_store, MEMBERS)
    _, settles, _ = store._batched()
    jobs = await asyncio.gather(*(store.create_job(new_job(u, cost=1), rules=RULES) for u in MEMBERS))
    moved = await store.transition(jobs[0].id, from_states=[JobState.QUEUED], to=JobState.RUNNING)
    assert moved is not None
    ended = await asyncio.gather(*(store.finish_job(j.id, delivered=True, only_from=[JobState.QUEUED]) for j in jobs))
    assert settles.statements == 1
    assert ended[0] is None
    assert [e.state if e else None for e in ended[1:]] == ["delivered"] * (len(MEMBERS) - 1)
    left = await store.get_job(jobs[0].id)
    assert left is not None
    assert left.state == JobState.RUNNING
    first = await store.balance(1, "global", RULES)
    assert (first.balance, first.held) == (9, 1)  # still held: its job has not ended
    await assert_ledger_consistent(store)


async def test_limited_creations_that_arrive_together_share_one_turn_and_one_statement(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """As JobRunner creates (queue limits and spend cap): twenty members at once take one turn of the creations lock
    and one statement; with room for only some, exactly that many are stored, and the rest hear why."""
    if backend.name != "postgres":
        pytest.skip("SQLite's one writer takes creations one after another anyway")
    store = await _with_known_members(open_test_store, MEMBERS)
    members = MEMBERS
    _, _, limited = store._batched()
    spend = SpendLimit(since=START - 86_400, max_millicredits=10**9)
    roomy = QueueLimits(max_queued=100, per_user_queued=5)
    jobs = await asyncio.gather(*(store.create_job(new_job(u), rules=RULES, spend=spend, queue=roomy) for u in members))
    assert [j.user_id for j in jobs] == list(members)
    assert limited.statements == 1
    waiting = len([j for j in await store.active_jobs() if j.state == "queued"])
    tight = QueueLimits(max_queued=waiting + 7, per_user_queued=5)  # room for 7 more
    results = await asyncio.gather(
        *(store.create_job(new_job(u), rules=RULES, spend=spend, queue=tight) for u in members),
        return_exceptions=True,
    )
    assert Counter(type(r).__name__ for r in results) == {"Job": 7, "QueueLimitExceeded": len(members) - 7}
    assert len([j for j in await store.active_jobs() if j.state == "queued"]) == waiting + 7
    await assert_ledger_consistent(store)


async def test_a_turn_with_two_sets_of_limits_is_one_transaction(
    backend: Backend, open_test_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creations with the spend cap and without it (a member with unlimited credits) that arrive together share a
    turn: should the server refuse any of its statements, none of the turn is kept, and each caller's own
    transaction then creates its job once (a set of limits committed apart would have been created twice)."""
    if backend.name != "postgres":
        pytest.skip("SQLite's one writer takes creations one after another anyway")
    store = await _with_known_members(open_test_store, MEMBERS)
    spend = SpendLimit(since=START - 86_400, max_millicredits=10**9)
    queue = QueueLimits(max_queued=100, per_user_queued=5)
    refused = {"once": False}
    fetchall = _PostgresTx.fetchall

    async def refuse_the_second_set(tx: _PostgresTx, sql: str, *params: Any) -> list[Row]:
        if "r_seen" in sql and "submit_started_at" not in sql and not refused["once"]:  # the set without the cap
            refused["once"] = True
            raise asyncpg.exceptions.CheckViolationError("refused for the test")  # not one run again
        return await fetchall(tx, sql, *params)

    monkeypatch.setattr(_PostgresTx, "fetchall", refuse_the_second_set)
    jobs = await asyncio.gather(
        *(store.create_job(new_job(u), rules=RULES, spend=spend if u % 2 else None, queue=queue) for u in MEMBERS)
    )
    assert refused["once"]
    assert [j.user_id for j in jobs] == list(MEMBERS)
    stored = [j for j in await store.active_jobs() if j.user_id in MEMBERS]
    assert sorted(j.id for j in stored) == sorted(j.id for j in jobs)  # each once, no job of a rolled-back turn
    for user_id in MEMBERS:
        balance = await store.balance(user_id, "global", RULES)
        assert (balance.balance, balance.held) == (9, 1)
    await assert_ledger_consistent(store)


async def test_a_transaction_chosen_as_a_deadlocks_victim_runs_again(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """Two transactions lock two accounts in opposite orders: PostgreSQL breaks the deadlock by failing one of
    them, with nothing of it kept. That one runs again (units are functions of the database alone, as SQLite's
    writer already relies on), so both callers get their result instead of a DeadlockDetectedError."""
    if backend.name != "postgres":
        pytest.skip("SQLite's one writer takes transactions one after another")
    store = await _with_known_members(open_test_store, range(1, 3))
    db = store._db
    both_hold_one = asyncio.Barrier(2)
    runs: Counter[int] = Counter()

    def crossing(first: int, second: int) -> Any:
        async def unit(tx: Tx) -> int:
            runs[first] += 1
            await tx.execute("UPDATE accounts SET held = held WHERE user_id = ?", first)
            if runs[first] == 1:  # the first attempts meet, so that each holds what the other wants next
                await asyncio.wait_for(both_hold_one.wait(), 10)
            return await tx.execute("UPDATE accounts SET held = held WHERE user_id = ?", second)

        return unit

    results = await asyncio.wait_for(asyncio.gather(db.run(crossing(1, 2)), db.run(crossing(2, 1))), 20)
    assert results == [1, 1]
    # The victim ran again. Under load its second run can meet the other's first in the same crossing (it locks
    # its first row again before the survivor takes it): a second deadlock, and a third run, of either of them.
    assert sum(runs.values()) >= 3, runs
