"""Migration 0016 reads a job's ledger entries from its row: the same ledger, two rows fewer per job.

A job's reservation and settlement were rows written beside it (issue 12, the ledger target: a third of a pair's
writes). After the migration the ledger must read as it did, entries from before it included; the allowances must
know what had been captured before them (the refill audit's running total), and the books must still check out
and keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store import AccountRules, open_store
from bot.store.migrations import migrations_for
from tests.store.conftest import START, sql_all, sql_execute
from tests.store.test_migration_0003 import old_job, open_at_version

if TYPE_CHECKING:
    import pytest

    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock

RULES = AccountRules(allowance=10, period_seconds=86_400.0, max_balance=10)

# (user, delta, reason, job, actor, at, cap) in the order an older bot appended them. Member 1: an allowance, a
# delivered job (2), a refunded one (3), one still queued (1), a refill that brings balance + held back to the cap
# after the capture (7 spendable + 1 held + 2), and a grant. Member 2: an allowance only.
OLD_LEDGER = [
    (1, 10, "allowance", None, None, START, 10),
    (1, -2, "reserve", "a", None, START + 1, None),
    (1, -3, "reserve", "b", None, START + 2, None),
    (2, 10, "allowance", None, None, START + 2.5, 10),
    (1, -1, "reserve", "c", None, START + 3, None),
    (1, 0, "capture", "a", None, START + 5, None),
    (1, 3, "refund", "b", None, START + 6, None),
    (1, 2, "allowance", None, None, START + 7, 10),
    (1, 5, "grant", None, 9, START + 8, None),
]


async def old_books(store: Store) -> None:
    """The jobs, accounts and ledger rows an older bot wrote for ``OLD_LEDGER``."""
    await old_job(store, "a", "delivered", cost=2, created_at=START + 1, finished_at=START + 5)
    await old_job(store, "b", "failed", cost=3, created_at=START + 2, finished_at=START + 6)
    await old_job(store, "c", "queued", cost=1, created_at=START + 3)
    for user_id, balance, held in ((1, 14, 1), (2, 10, 0)):
        await sql_execute(
            store,
            "INSERT INTO accounts (user_id, scope, balance, held, period_start) VALUES (?, 'global', ?, ?, ?)",
            user_id,
            balance,
            held,
            START,
        )
    for entry in OLD_LEDGER:
        await sql_execute(
            store,
            "INSERT INTO ledger (user_id, scope, delta, reason, job_id, actor_id, created_at, cap) "
            "VALUES (?, 'global', ?, ?, ?, ?, ?, ?)",
            *entry,
        )


async def test_the_ledger_reads_as_it_did_and_the_books_check_out(
    backend: Backend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = [version for version, _ in migrations_for(backend.name)].index(16)  # the migrations before it
    old = await open_at_version(backend, clock, monkeypatch, before)
    try:
        await old_books(old)
    finally:
        await old.close()

    store = await open_store(backend.url, clock=clock)
    try:
        seen = [(e.user_id, e.delta, e.reason, e.job_id, e.actor_id, e.created_at, e.cap) for e in await store.ledger()]
        assert seen == OLD_LEDGER
        rows = await sql_all(store, "SELECT COUNT(*) AS n FROM account_entries")
        assert int(rows[0]["n"]) == 4  # the allowances and the grant; the jobs' entries are their rows
        spent = await sql_all(store, "SELECT user_id, spent FROM accounts ORDER BY user_id")
        assert [(int(r["user_id"]), int(r["spent"])) for r in spent] == [(1, 2), (2, 0)]
        allowances = await sql_all(
            store, "SELECT user_id, delta, spent FROM account_entries WHERE reason = 'allowance' ORDER BY id"
        )
        # What was captured before each allowance: the refill came after job a's capture of 2.
        assert [(int(r["user_id"]), int(r["delta"]), int(r["spent"])) for r in allowances] == [
            (1, 10, 0),
            (2, 10, 0),
            (1, 2, 2),
        ]
        audit = await store.audit_ledger()
        assert audit.ok, audit.problems
        assert (audit.accounts, audit.entries, audit.reserves, audit.in_flight) == (2, 9, 3, 1)

        # The migrated books keep working: the queued job is delivered and its capture is read from its row.
        clock.advance(10)  # after the old entries
        [queued] = [j for j in await store.active_jobs() if j.id == "c"]
        assert await store.finish_job(queued.id, delivered=True) is not None
        assert [(e.reason, e.delta, e.job_id) for e in await store.ledger(1)][-1] == ("capture", 0, "c")
        assert (await store.balance(1, "global", RULES)).held == 0
        audit = await store.audit_ledger()
        assert audit.ok, audit.problems
    finally:
        await store.close()
