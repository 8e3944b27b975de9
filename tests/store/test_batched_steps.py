"""Reserves and settles that share a statement (PostgreSQL) or a transaction (SQLite) each keep their own outcome."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from bot.store import InsufficientBalance, Job
from bot.store.postgres import _numbered
from bot.store.sql import SqlStore
from bot.store.sql_pg import _RESERVE_BATCH, _limited_batch_sql
from tests.pg import others_queries
from tests.store.conftest import RULES, assert_ledger_consistent, new_job

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.store.conftest import Backend, StoreFactory

MEMBERS = (1, 2, 3, 4)
STORES = 3  # like bot processes on one database: each batches its own callers, the batches race each other


async def test_reserves_batched_in_several_processes_refuse_exactly_the_excess(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """Four members with 10 credits each ask for 15 jobs each, spread over three stores, all at once.

    Every store sends its callers' reservations together, and the stores' statements race on the same accounts:
    each member still gets exactly 10 jobs and 5 refusals, and the books check out.
    """
    stores = [await open_test_store(pool_size=8) for _ in range(STORES)]
    for user_id in MEMBERS:
        await stores[0].balance(user_id, "global", RULES)  # known accounts: the one-statement (batched) path
    calls = [
        stores[(user_id + n) % STORES].create_job(new_job(user_id, cost=1), rules=RULES)
        for n in range(15)
        for user_id in MEMBERS
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [r for r in results if not isinstance(r, Job | InsufficientBalance)] == []
    granted = Counter(r.user_id for r in results if isinstance(r, Job))
    assert granted == dict.fromkeys(MEMBERS, 10)
    for user_id in MEMBERS:
        balance = await stores[0].balance(user_id, "global", RULES)
        assert (balance.balance, balance.held) == (0, 10)
    await assert_ledger_consistent(stores[0])
    assert (await stores[0].audit_ledger()).ok


async def test_settles_of_one_members_jobs_at_once_move_the_account_by_their_sum(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """Six jobs of one member end at once, captures and refunds mixed: the account moves by exactly their sum.

    On PostgreSQL they end in one statement, where one account row meets six settles.
    """
    store = await open_test_store(pool_size=8)
    jobs = [await store.create_job(new_job(cost=n), rules=RULES) for n in (1, 2, 3, 1, 2, 1)]  # 10 credits held
    ended = await asyncio.gather(*(store.finish_job(j.id, delivered=n % 2 == 0) for n, j in enumerate(jobs)))
    assert [e.state if e else None for e in ended] == ["delivered", "failed"] * 3
    refunded = sum(j.cost for n, j in enumerate(jobs) if n % 2 == 1)  # 2 + 1 + 1
    balance = await store.balance(1, "global", RULES)
    assert (balance.balance, balance.held) == (refunded, 0)
    reasons = Counter(e.reason for e in await store.ledger())
    assert reasons == {"allowance": 1, "reserve": 6, "capture": 3, "refund": 3}
    history = {h.job_id: h.cost for h in await store.history(1, limit=10)}
    assert history == {j.id: (j.cost if n % 2 == 0 else 0) for n, j in enumerate(jobs)}
    await assert_ledger_consistent(store)


async def test_a_request_the_server_refuses_fails_alone_in_its_batch(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """Ten members create a job at once; one prompt holds a NUL character, which PostgreSQL text cannot store.

    The batch statement is refused as a whole, so each request is sent again alone: that one job fails, the other
    nine are stored and reserved, and nothing of the refused one is kept.
    """
    store = await open_test_store(pool_size=8)
    members = range(1, 11)
    for user_id in members:
        await store.balance(user_id, "global", RULES)
    results = await asyncio.gather(
        *(store.create_job(new_job(u, prompt="bad\x00" if u == 5 else "fine"), rules=RULES) for u in members),
        return_exceptions=True,
    )
    failed = {u for u, r in zip(members, results, strict=True) if not isinstance(r, Job)}
    if backend.name == "postgres":
        assert failed == {5}, results
    else:  # SQLite stores the character
        assert failed == set(), results
    for user_id in members:
        balance = await store.balance(user_id, "global", RULES)
        assert balance.held == (0 if user_id in failed else 1)
    assert len(await store.active_jobs()) == 10 - len(failed)
    await assert_ledger_consistent(store)


LIVE_MEMBERS = 2_000  # other members' accounts in a live table: enough that a table scan looks cheap to plan


@pytest.mark.parametrize("table", ["new", "live"])
async def test_a_batch_locks_its_accounts_in_key_order_whatever_their_order_on_disk(
    backend: Backend, open_test_store: StoreFactory, table: str
) -> None:
    """Member 2's account is written before member 1's (so a table scan meets 2 first), and another transaction
    holds 2's. A batch reserving for both must lock 1 first and then wait for 2: taken in the table's order
    instead, two processes' batches could each hold what the other waits for (a deadlock: a second's wait before
    PostgreSQL fails one of its transactions, which then runs again).

    ``live``: the accounts table also holds 2,000 other members and has been analysed, and the statement runs
    with the generic plan a pooled connection settles on (so the planner cannot count the batch's rows): there,
    joined to the batch's rows, the table was read whole in a hash join, in the table's order.
    """
    if backend.name != "postgres":
        pytest.skip("SQLite's one writer holds no row locks")
    if table == "live":
        setup = await open_test_store()
        for user_id in (2, 1):
            await setup.balance(user_id, "global", RULES)
        conn = await asyncpg.connect(backend.url)
        try:
            await conn.execute(
                "INSERT INTO accounts (user_id, scope, balance, held, period_start, spent) "
                f"SELECT 1000 + m, 'global', 0, 0, 0, 0 FROM generate_series(1, {LIVE_MEMBERS}) m; ANALYZE accounts"
            )
            # Connections opened from here on plan every prepared statement generically.
            database = await conn.fetchval("SELECT quote_ident(current_database())")
            await conn.execute(f"ALTER DATABASE {database} SET plan_cache_mode = force_generic_plan")
        finally:
            await conn.close()
    store = await open_test_store(pool_size=4)
    for user_id in (2, 1):
        await store.balance(user_id, "global", RULES)  # known accounts: the batched path
    await store.create_job(new_job(99, cost=0), rules=None)  # the store reads the jobs table's column types once
    holder = await asyncpg.connect(backend.url)
    probe = await asyncpg.connect(backend.url)
    try:
        holding = holder.transaction()
        await holding.start()
        await holder.execute("SELECT 1 FROM accounts WHERE user_id = 2 FOR UPDATE")
        creations = asyncio.gather(*(store.create_job(new_job(u), rules=RULES) for u in (1, 2)))
        for _ in range(200):  # bounded: 10 s
            if any("r_seen" in query for query in await others_queries(backend.url, waiting_for_a_lock=True)):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the batch never waited for member 2's account")
        with pytest.raises(asyncpg.LockNotAvailableError):  # the batch holds member 1's already
            await probe.execute("SELECT 1 FROM accounts WHERE user_id = 1 FOR UPDATE NOWAIT")
        await holding.rollback()
        jobs = await asyncio.wait_for(creations, 10)
    finally:
        await holder.close()
        await probe.close()
    assert [job.user_id for job in jobs] == [1, 2]
    await assert_ledger_consistent(store)


async def test_batched_creations_go_on_when_another_process_adds_a_column(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """A newer bot process migrates the jobs table (a column added) while this one runs. PostgreSQL batches send
    their new jobs as rows of the table's own type, which then has one column more than this store knows of: the
    server refuses the batch, and each request is sent alone (its columns named), so every job is still created
    and reserved, once."""
    if backend.name != "postgres":
        pytest.skip("SQLite batches no statements")
    store = await open_test_store(pool_size=4)
    members = range(1, 6)
    for user_id in members:
        await store.balance(user_id, "global", RULES)  # known accounts: the batched path
    await store.create_job(new_job(99, cost=0), rules=None)  # the store reads the jobs table's columns once
    await asyncio.gather(*(store.create_job(new_job(u), rules=RULES) for u in members))  # the row type, as it was
    assert isinstance(store, SqlStore)
    reserves = store._batched()[0]
    assert reserves.statements == 1
    conn = await asyncpg.connect(backend.url)
    try:
        await conn.execute("ALTER TABLE jobs ADD COLUMN added_later TEXT NOT NULL DEFAULT 'x'")
    finally:
        await conn.close()
    created = await asyncio.gather(*(store.create_job(new_job(u), rules=RULES) for u in members))
    assert reserves.statements == 1  # refused as a whole: each sent alone
    assert sorted(job.user_id for job in created) == list(members)
    for job in created:
        assert job == await store.get_job(job.id)
    for user_id in members:
        assert (await store.balance(user_id, "global", RULES)).held == 2
    await assert_ledger_consistent(store)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an ``EXPLAIN (FORMAT JSON)`` plan, this one first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _whole_rows(plan: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each whole-row value (``alias.*``) a node of this subtree outputs, with the node."""
    for node in _nodes(plan):
        for item in node.get("Output", []):
            if item.endswith(".*"):
                yield item.removesuffix(".*"), node


@pytest.mark.parametrize("limited", [False, True], ids=["quick", "limited"])
async def test_a_reservation_batch_takes_only_what_it_needs_of_each_job_to_the_accounts(
    backend: Backend, open_test_store: StoreFactory, limited: bool
) -> None:
    """An ``UPDATE … FROM`` carries each joined row whole (``alias.*``) to its end, to recheck it against an account
    another transaction changed meanwhile. The accounts' UPDATE of a batch of reservations (quick, or checked
    against the limits) joins rows of the five columns it reads, not the batch's new jobs (45 or 46 columns each,
    built into one value per reservation: ~1 µs per job, bench/fixes.md). Read from the generic plan a pooled connection
    settles on."""
    if backend.name != "postgres":
        pytest.skip("SQLite runs a reservation as several statements of its own")
    await open_test_store()  # migrated
    sql = _limited_batch_sql(True, True) if limited else _RESERVE_BATCH
    conn = await asyncpg.connect(backend.url)
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE batch AS {_numbered(sql)}")
        nulls = ", ".join("NULL" for _ in range(sql.count("?")))
        plan = json.loads(await conn.fetchval(f"EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE batch({nulls})"))[0]["Plan"]
    finally:
        await conn.close()
    everything = list(_nodes(plan))
    (update,) = [n for n in everything if n.get("Operation") == "Update" and n.get("Relation Name") == "accounts"]
    carried = list(_whole_rows(update))
    assert carried, "the plan shows no whole row carried to the accounts' UPDATE: has PostgreSQL changed?"
    for alias, node in carried:
        (scan,) = [n for n in _nodes(update) if n.get("Alias") == alias and "Output" in n]
        assert scan["Node Type"] == "CTE Scan", f"{alias} is the batch's rows themselves: {node['Output']}"
        (cte,) = [n for n in everything if n.get("Subplan Name") == f"CTE {scan['CTE Name']}"]
        assert len(cte["Output"]) <= 5, f"the accounts' UPDATE carries rows of {len(cte['Output'])} columns"
