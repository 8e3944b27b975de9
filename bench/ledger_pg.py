"""ledger on PostgreSQL: reserve+settle pairs per second from 4 OS processes, each with its own pool, on one server.

Target (issue 12): ≥ 10,000 pairs/s. The server is a throwaway one started like the tests start theirs
(``tests/pg.py``: initdb/pg_ctl from PATH, loopback only, fsync off). 50 concurrent members are spread over the
processes; each member has a connection of its own. Each process first runs the floor, the least two transactions
a reserve and a settle can be through bare asyncpg (INSERT + UPDATE, then UPDATE + UPDATE, each BEGIN … COMMIT),
then the bound (the same writes batched as the store batches its own: the fastest any batched ledger could go here)
and the store (``create_job`` then ``finish_job``) by turns, ``ROUNDS`` rounds each (the figure: the median round),
each phase started in every process at once. A last phase, a
figure without a target, creates jobs as the bot does (JobRunner passes its queue limits and the spend cap, which
make creations take turns across every process). At the end the books must check out and every member must have
paid exactly one credit per pair: zero double spend.

The store is first filled as a running bot's (``BACKLOG_JOBS`` ended jobs of ``BACKLOG_MEMBERS`` other members,
with their allowances) and ANALYZEd, as autovacuum keeps a live database. PostgreSQL plans by the
tables' statistics, and a connection keeps the plan it made for a prepared statement: on tables just created, the
plans were made for a few rows, and a finish batch read the whole jobs table in a sequential scan, slower with
every pair (pairs/s fell by half over three rounds of 15,000). A live database's plans are replaced within
autovacuum's first minute; this measures those.

Run as ``python -m bench.ledger_pg worker DSN FIRST_USER MEMBERS`` it is one of those processes: it prints ``ready``
when warmed up, runs the next phase on each ``go N`` line from stdin (N pairs per member) and prints its pair count.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from functools import partial
from typing import TYPE_CHECKING, Any

import asyncpg

from bot.store import AccountRules, JobKind, NewJob, QueueLimits, SpendLimit, Store, open_store
from bot.store.pg_batch import Batcher
from bot.store.postgres import PostgresDatabase, keep_session
from bot.store.sql import SqlStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from bot.store.db import Row

__all__ = ["PROCESSES", "QUEUE", "ROUNDS", "TARGET_PER_SECOND", "measure", "spend_cap"]

TARGET_PER_SECOND = 10_000.0
PROCESSES = 4
ALLOWANCE = 1_000_000
RULES = AccountRules(allowance=ALLOWANCE, period_seconds=86_400.0, max_balance=ALLOWANCE)
_FIRST_USER = 1000
# The bound and the store alternate for ROUNDS rounds of about a second each, and each reports its median round:
# on this shared machine the CPU time of the same pairs moved by half from one second to the next (the batches'
# sizes, 12.5 pairs, and the pairs' writes unchanged), in the store's processes and the server's alike.
ROUNDS = 3
_PHASES = ("floor", *(("bound", "store") * ROUNDS), "limited")
# As JobRunner creates jobs: room enough that no limit refuses one (the limits are checked, never reached).
QUEUE = QueueLimits(max_queued=100_000, per_user_queued=1_000)
BACKLOG_JOBS = 50_000
BACKLOG_MEMBERS = 2_000
_BACKLOG_FIRST_USER = 1_000_000  # well clear of the measured members'
# Pairs per member before measuring: every pooled connection prepares each statement, and PostgreSQL plans its
# first five executions one by one before it settles on a cached plan.
WARM_UP_PAIRS = 10
_LINE_PATIENCE = 120.0  # seconds a worker may take for one step (bounded by the runner's own timeout too)


async def measure(
    members: int, each: int, limited_each: int, *, backlog: int = BACKLOG_JOBS
) -> dict[str, list[float]] | None:
    """Start a server and the worker processes; pairs/s of each phase's rounds (None: no initdb/pg_ctl here).

    Raises
    ------
    AssertionError
        The ledger does not check out, or a member paid more or less than one credit per pair.
    """
    from tests.pg import PostgresUnavailable, start_postgres  # the tests' throwaway server: benchmarks share it

    server = start_postgres()
    try:
        dsn = await asyncio.to_thread(server.__enter__)
    except PostgresUnavailable:
        return None
    try:
        each_of = {"floor": each, "bound": each, "store": each, "limited": limited_each}
        return await _measure_on(dsn, members, each_of, backlog)
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)


async def _measure_on(dsn: str, members: int, each: dict[str, int], backlog: int) -> dict[str, list[float]]:
    store = await open_store(dsn)  # migrates once, before the workers start
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "CREATE TABLE floor_jobs (id BIGSERIAL PRIMARY KEY, user_id BIGINT NOT NULL, state TEXT NOT NULL);"
                "CREATE TABLE floor_accounts (user_id BIGINT PRIMARY KEY, balance BIGINT NOT NULL);"
                "CREATE TABLE bound_jobs (id TEXT PRIMARY KEY, user_id BIGINT NOT NULL, state TEXT NOT NULL);"
                "CREATE TABLE bound_accounts (user_id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, held BIGINT NOT NULL"
                ")"
            )
            await _fill_as_running(conn, time.time(), backlog)
        finally:
            await conn.close()
        split = [members // PROCESSES + (1 if n < members % PROCESSES else 0) for n in range(PROCESSES)]
        firsts = [_FIRST_USER + sum(split[:n]) for n in range(PROCESSES)]
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.ledger_pg",
                "worker",
                dsn,
                str(first),
                str(count),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for first, count in zip(firsts, split, strict=True)
            if count
        ]
        try:
            await asyncio.gather(*(_expect(w, "ready") for w in workers))
            rates: dict[str, list[float]] = {}
            for phase in _PHASES:
                started = time.perf_counter()
                for worker in workers:
                    assert worker.stdin is not None
                    worker.stdin.write(f"go {each[phase]}\n".encode())
                done = await asyncio.gather(*(_expect(w, phase) for w in workers))
                elapsed = time.perf_counter() - started
                rates.setdefault(phase, []).append(sum(int(line.split()[1]) for line in done) / elapsed)
        finally:
            for worker in workers:
                if worker.stdin is not None:
                    worker.stdin.close()  # a worker still waiting for "go" stops
            for worker in workers:
                try:
                    await asyncio.wait_for(worker.wait(), _LINE_PATIENCE / 4)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        worker.kill()
                    await worker.wait()
        paid = each["store"] * ROUNDS + each["limited"]
        await _no_double_spend(store, range(_FIRST_USER, _FIRST_USER + members), paid)
    finally:
        await store.close()
    return rates


async def _fill_as_running(conn: asyncpg.Connection[Any], now: float, backlog: int) -> None:
    """The books of ``BACKLOG_MEMBERS`` members who have had ``backlog`` images delivered, then ANALYZE.

    Consistent for the ledger audit: each member got one allowance of ``ALLOWANCE`` credits, and each job cost one
    and was delivered (its row is its history and its ledger entries), so every balance is its ledger's sum, every
    ``spent`` its delivered jobs' cost, and nothing is held.
    """
    users = f"{_BACKLOG_FIRST_USER} + g % {BACKLOG_MEMBERS}"
    jobs = f"FROM generate_series(1, {backlog}) g"
    await conn.execute(
        "INSERT INTO accounts (user_id, scope, balance, held, period_start, spent) "
        f"SELECT {_BACKLOG_FIRST_USER} + m, 'global', {ALLOWANCE} - COUNT(g), 0, {now}, COUNT(g) "
        f"FROM generate_series(0, {BACKLOG_MEMBERS} - 1) m LEFT JOIN generate_series(1, {backlog}) g "
        f"ON g % {BACKLOG_MEMBERS} = m GROUP BY m;"
        "INSERT INTO account_entries (user_id, scope, delta, reason, created_at, cap, spent) "
        f"SELECT {_BACKLOG_FIRST_USER} + m, 'global', {ALLOWANCE}, 'allowance', {now - 86_400}, {ALLOWANCE}, 0 "
        f"FROM generate_series(0, {BACKLOG_MEMBERS} - 1) m;"
        "INSERT INTO jobs (id, kind, state, user_id, guild_id, channel_id, prompt, aspect_ratio, upload_limit, scope, "
        "cost, created_at, finished_at, updated_at, result_message_id) "
        f"SELECT 'b' || g, 'imagine', 'delivered', {users}, 1, 2, 'a cat', 'auto', 8388608, 'global', 1, "
        f"{now} - g, {now} - g + 8, {now} - g + 8, g {jobs};"
        f"INSERT INTO bound_jobs (id, user_id, state) SELECT 'b' || g, {users}, 'delivered' {jobs};"
        "ANALYZE"
    )


def spend_cap() -> SpendLimit:
    """As JobRunner's: one cap for every creation of the day (counted since midnight UTC), never reached here."""
    return SpendLimit(since=time.time() // 86_400 * 86_400, max_millicredits=10**15)


async def _no_double_spend(store: Store, users: range, pairs: int) -> None:
    audit = await store.audit_ledger()
    if not audit.ok:
        raise AssertionError(f"the ledger does not check out after the benchmark: {audit.problems[:3]}")
    problems = 0
    for user_id in users:
        balance = await store.balance(user_id, "global", RULES)
        # The warm-up pairs and the measured ones, all delivered: one credit captured per pair, nothing held.
        if (balance.balance, balance.held) != (ALLOWANCE - (pairs + WARM_UP_PAIRS), 0):
            problems += 1
    if problems:
        raise AssertionError(f"{problems} members paid other than one credit per pair")


async def _expect(worker: asyncio.subprocess.Process, word: str) -> str:
    assert worker.stdout is not None
    line = (await asyncio.wait_for(worker.stdout.readline(), _LINE_PATIENCE)).decode().strip()
    if not line.startswith(word):
        raise RuntimeError(f"a ledger worker said {line!r} instead of {word!r} (exit code {worker.returncode})")
    return line


# -- the worker process ---------------------------------------------------------------------------


async def _worker(dsn: str, first: int, members: int) -> None:
    users = range(first, first + members)
    # The floor's pool gives connections back as the store's does, without asyncpg's reset round trip (the floor
    # leaves no session state either): a floor paying a round trip the store does not would flatter the store.
    pool = await asyncpg.create_pool(dsn, min_size=members, max_size=members, reset=keep_session)
    db = await PostgresDatabase.open(dsn, min_size=members, max_size=members)
    store = SqlStore(db)
    try:
        await pool.executemany(
            "INSERT INTO floor_accounts (user_id, balance) VALUES ($1, $2)", [(u, ALLOWANCE) for u in users]
        )

        async def floor_pair(user_id: int) -> None:
            async with pool.acquire() as conn:
                async with conn.transaction():  # reserve
                    job_id = await conn.fetchval(
                        "INSERT INTO floor_jobs (user_id, state) VALUES ($1, 'queued') RETURNING id", user_id
                    )
                    await conn.execute("UPDATE floor_accounts SET balance = balance - 1 WHERE user_id = $1", user_id)
                async with conn.transaction():  # settle
                    await conn.execute("UPDATE floor_jobs SET state = 'delivered' WHERE id = $1", job_id)
                    await conn.execute("UPDATE floor_accounts SET balance = balance + 0 WHERE user_id = $1", user_id)

        async def store_pair(
            user_id: int, *, spend: SpendLimit | None = None, queue: QueueLimits | None = None
        ) -> None:
            new = NewJob(
                kind=JobKind.IMAGINE, user_id=user_id, guild_id=1, channel_id=2, prompt="p", aspect_ratio="auto", cost=1
            )
            job = await store.create_job(new, rules=RULES, spend=spend, queue=queue)
            await store.finish_job(job.id, delivered=True)

        limited_pair = partial(store_pair, spend=spend_cap(), queue=QUEUE)  # as JobRunner creates
        bound_pair = await _bound_pair(db, users, new_id=store._new_job_id)  # the store's own ids

        async def phase(pair: Callable[[int], Awaitable[None]], rounds: int) -> None:
            async def member(user_id: int) -> None:
                for _ in range(rounds):
                    await pair(user_id)

            await asyncio.gather(*(member(u) for u in users))

        await phase(floor_pair, WARM_UP_PAIRS)  # warm-up: connections, prepared statements and plans, accounts
        await phase(bound_pair, WARM_UP_PAIRS)
        await phase(store_pair, WARM_UP_PAIRS)
        _say("ready")
        loop = asyncio.get_running_loop()
        pairs: dict[str, Callable[[int], Awaitable[None]]] = {
            "floor": floor_pair,
            "bound": bound_pair,
            "store": store_pair,
            "limited": limited_pair,
        }
        for name in _PHASES:
            word, _, rounds = (await loop.run_in_executor(None, sys.stdin.readline)).partition(" ")
            if word != "go":
                return
            await phase(pairs[name], int(rounds))
            _say(f"{name} {members * int(rounds)}")
    finally:
        await store.close()
        await pool.close()


# The bound's two statements: the floor's writes (a job row and the account; the job and the account again),
# batched as the store batches its own, each row under the same condition (enough balance; the job unfinished).
_BOUND_RESERVE = (
    "WITH x AS (SELECT * FROM unnest(?::text[], ?::bigint[]) AS x(id, user_id)), "
    "a AS (UPDATE bound_accounts SET balance = balance - 1, held = held + 1 FROM x "
    "WHERE bound_accounts.user_id = x.user_id AND balance >= 1 RETURNING x.id, x.user_id) "
    "INSERT INTO bound_jobs (id, user_id, state) SELECT id, user_id, 'queued' FROM a RETURNING id"
)
_BOUND_SETTLE = (
    "WITH x AS (SELECT * FROM unnest(?::text[]) AS x(id)), "
    "j AS (UPDATE bound_jobs SET state = 'delivered' FROM x WHERE bound_jobs.id = x.id AND state = 'queued' "
    "RETURNING bound_jobs.id, user_id), "
    "a AS (UPDATE bound_accounts SET held = held - 1 FROM j WHERE bound_accounts.user_id = j.user_id) "
    "SELECT id FROM j"
)


async def _bound_pair(
    db: PostgresDatabase, users: range, *, new_id: Callable[[], str]
) -> Callable[[int], Awaitable[None]]:
    """The bound: the least a *batched* reserve+settle can be, through the store's own Batcher and driver.

    The floor shows what batching saves; the bound shows what this machine allows any batched ledger with this
    many members: no ledger entries, history, notification, limits or Job records, just two tables.
    """
    await db.fetch_all_atomic(
        "INSERT INTO bound_accounts (user_id, balance, held) SELECT u, ?, 0 FROM unnest(?::bigint[]) AS u",
        ALLOWANCE,
        list(users),
    )

    async def reserve_many(batch: Sequence[tuple[str, int]]) -> list[Row]:
        ordered = sorted(batch, key=lambda item: item[1])  # locks in one order across processes, as the store
        return await db.fetch_all_atomic(_BOUND_RESERVE, [i for i, _ in ordered], [u for _, u in ordered])

    async def settle_many(batch: Sequence[str]) -> list[Row]:
        return await db.fetch_all_atomic(_BOUND_SETTLE, sorted(batch))

    async def reserve_one(item: tuple[str, int]) -> Row | None:
        return next(iter(await reserve_many([item])), None)

    async def settle_one(item: str) -> Row | None:
        return next(iter(await settle_many([item])), None)

    reserves, settles = Batcher(reserve_many, reserve_one), Batcher(settle_many, settle_one)

    async def bound_pair(user_id: int) -> None:
        job_id = new_id()
        if await reserves.submit((job_id, user_id), key=user_id, row_id=job_id) is None:
            raise AssertionError(f"the bound refused a reservation for member {user_id}")
        if await settles.submit(job_id, key=job_id, row_id=job_id) is None:
            raise AssertionError(f"the bound did not settle job {job_id}")

    return bound_pair


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "worker":
        sys.exit("usage: python -m bench.ledger_pg worker DSN FIRST_USER MEMBERS")
    asyncio.run(_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
