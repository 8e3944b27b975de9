"""ledger: reserve+settle pairs per second with 50 concurrent members, on SQLite and on PostgreSQL.

Targets (issue 12): ≥ 5,000 pairs/s on SQLite (create_job then finish_job, one store) and ≥ 10,000 pairs/s on
PostgreSQL from 4 processes (``bench/ledger_pg.py``); zero double spend in both (the ledger check passes and every
member paid exactly what they spent). The SQLite floor is not a bot: it is the same number of concurrent members
doing the least two SQLite transactions a reserve and a settle can be (one INSERT + one UPDATE each) through one
aiosqlite connection, serialised as a single connection must; the PostgreSQL floor is the same through bare asyncpg.
PostgreSQL also reports a bound: the floor's writes sent in batches as the store sends its own, which is how fast
any batched ledger could go on this machine with this many members (a figure, no target).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite

from bench import ledger_pg
from bench.harness import Check, Result
from bot.store import AccountRules, JobKind, NewJob, Store, open_store
from bot.store.sql import SqlStore
from bot.store.sqlite import SqliteDatabase

__all__ = ["run"]

TARGET_PER_SECOND = 5000.0
# The store's SQLite figure is the median of this many rounds on one database, every round shown (as PostgreSQL's
# is, bench/ledger_pg.py): one round of ~1.7 s read 5,366-7,338 pairs/s over seven runs of the same code.
ROUNDS = 3
RULES = AccountRules(allowance=1_000_000, period_seconds=86_400.0, max_balance=1_000_000)


async def _store_pairs(
    path: Path, members: int, each: int, *, rounds: int = 1, limited: bool = False
) -> tuple[list[float], float]:
    """Pairs per second in each of ``rounds`` measured rounds, and store transactions (units) per SQLite
    BEGIN … COMMIT over them.

    ``limited``: create as JobRunner does, checking its queue limits and the spend cap (never reached here).
    """
    store = await open_store(f"sqlite:///{path}")
    limits: dict[str, Any] = {}
    if limited:
        limits = {"queue": ledger_pg.QUEUE, "spend": ledger_pg.spend_cap()}
    try:

        async def member(user_id: int) -> None:
            for n in range(each):
                new = NewJob(
                    kind=JobKind.IMAGINE,
                    user_id=user_id,
                    guild_id=1,
                    channel_id=2,
                    prompt=f"p{n}",
                    aspect_ratio="auto",
                    cost=1,
                )
                job = await store.create_job(new, rules=RULES, **limits)
                await store.finish_job(job.id, delivered=True)

        await asyncio.gather(*(member(1000 + m) for m in range(members)))  # warm-up: accounts and caches
        commits = _commits(store)
        rates = []
        for _ in range(rounds):
            started = time.perf_counter()
            await asyncio.gather(*(member(1000 + m) for m in range(members)))
            rates.append(members * each / (time.perf_counter() - started))
        commits = _commits(store) - commits
        await _no_double_spend(store, members, (1 + rounds) * each)
    finally:
        await store.close()
    return rates, 2 * rounds * members * each / max(commits, 1)


def _commits(store: Store) -> int:
    db = store._db if isinstance(store, SqlStore) else None
    return db.batches if isinstance(db, SqliteDatabase) else 0


async def _no_double_spend(store: Store, members: int, pairs: int) -> None:
    """The books check out and every member paid exactly one credit per delivered pair, with nothing held."""
    audit = await store.audit_ledger()
    if not audit.ok:
        raise AssertionError(f"the ledger does not check out after the benchmark: {audit.problems}")
    for m in range(members):
        balance = await store.balance(1000 + m, "global", RULES)
        if (balance.balance, balance.held) != (RULES.allowance - pairs, 0):
            raise AssertionError(f"member {1000 + m} paid other than one credit per pair: {balance}")


async def _floor_pairs(path: Path, members: int, each: int) -> float:
    async with aiosqlite.connect(path) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, user_id INTEGER, state TEXT)")
        await conn.execute("CREATE TABLE accounts (user_id INTEGER PRIMARY KEY, balance INTEGER)")
        await conn.executemany("INSERT INTO accounts VALUES (?, 1000000)", [(1000 + m,) for m in range(members)])
        await conn.commit()
        lock = asyncio.Lock()

        async def member(user_id: int) -> None:
            for _ in range(each):
                async with lock:  # reserve
                    cursor = await conn.execute("INSERT INTO jobs (user_id, state) VALUES (?, 'queued')", (user_id,))
                    job_id = cursor.lastrowid
                    await conn.execute("UPDATE accounts SET balance = balance - 1 WHERE user_id = ?", (user_id,))
                    await conn.commit()
                async with lock:  # settle
                    await conn.execute("UPDATE jobs SET state = 'delivered' WHERE id = ?", (job_id,))
                    await conn.execute("UPDATE accounts SET balance = balance + 0 WHERE user_id = ?", (user_id,))
                    await conn.commit()

        started = time.perf_counter()
        await asyncio.gather(*(member(1000 + m) for m in range(members)))
        return members * each / (time.perf_counter() - started)


async def run(*, smoke: bool) -> Result:
    """The SQLite measurements on fresh files in a scratch directory, then the PostgreSQL ones on a fresh server."""
    members, each = (10, 3) if smoke else (50, 200)
    limited_each = 3 if smoke else 40  # per member, as the bot creates jobs (a figure, no target)
    with tempfile.TemporaryDirectory(prefix="imagine-bench-") as tmp:
        rates, per_commit = await _store_pairs(Path(tmp) / "store.sqlite3", members, each, rounds=ROUNDS)
        floor = await _floor_pairs(Path(tmp) / "floor.sqlite3", members, each)
        (limited,), _ = await _store_pairs(Path(tmp) / "limited.sqlite3", members, limited_each, limited=True)
    rate = statistics.median(rates)
    result = Result("ledger")
    result.figures = {
        "pairs": f"{members} concurrent members × {each} reserve+settle pairs a round (after one warm-up round); "
        f"the store {ROUNDS} rounds, median round",
        "SQLite store (create_job + finish_job)": f"{rate:,.0f} pairs/s (rounds: {_shown(rates)})",
        "SQLite store transactions per commit (group commit)": f"{per_commit:.1f}",
        "SQLite floor (bare aiosqlite INSERT+UPDATE, twice)": f"{floor:,.0f} pairs/s",
        "SQLite store, as the bot creates jobs (queue limits and spend cap checked)": f"{limited:,.0f} pairs/s",
    }
    result.floor_ratio, result.floor_ratio_of = floor / rate, "SQLite, time per pair, store / floor"
    result.checks.append(Check("SQLite reserve+settle pairs per second", rate, TARGET_PER_SECOND, True))
    pg_each = 3 if smoke else 200
    pg_limited_each = 3 if smoke else 10  # creations take turns across the processes: fewer, or it takes long
    rounds = await ledger_pg.measure(
        members, pg_each, pg_limited_each, backlog=1_000 if smoke else ledger_pg.BACKLOG_JOBS
    )
    if rounds is None:
        result.notes.append("PostgreSQL not measured: initdb and pg_ctl are not on PATH")
        rounds = {phase: [math.nan] for phase in ("store", "floor", "bound", "limited")}
    pg = {phase: statistics.median(rates) for phase, rates in rounds.items()}
    procs = ledger_pg.PROCESSES
    result.figures["PostgreSQL pairs"] = (
        f"{members} members over {procs} processes × {pg_each} pairs each; the bound and the store by turns, "
        f"{ledger_pg.ROUNDS} rounds each, median round"
    )
    shown = {phase: _shown(rates) for phase, rates in rounds.items()}
    result.figures["PostgreSQL store (create_job + finish_job)"] = (
        f"{pg['store']:,.0f} pairs/s (rounds: {shown['store']})"
    )
    result.figures["PostgreSQL floor (bare asyncpg INSERT+UPDATE, twice)"] = f"{pg['floor']:,.0f} pairs/s"
    result.figures["PostgreSQL store / floor (time per pair)"] = f"{pg['floor'] / pg['store']:.2f}"
    result.figures["PostgreSQL bound (the floor's writes, batched as the store batches)"] = (
        f"{pg['bound']:,.0f} pairs/s (rounds: {shown['bound']}); "
        f"store / bound (time per pair) {pg['bound'] / pg['store']:.2f}"
    )
    result.figures["PostgreSQL store, as the bot creates jobs (queue limits and spend cap checked)"] = (
        f"{pg['limited']:,.0f} pairs/s ({members} members × {pg_limited_each} pairs)"
    )
    result.checks.append(
        Check(f"PostgreSQL pairs per second ({procs} processes)", pg["store"], ledger_pg.TARGET_PER_SECOND, True)
    )
    if smoke and math.isnan(pg["store"]):
        result.checks.pop()  # smoke only checks that what ran is sane
    return result


def _shown(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates)
