"""The Store's logic, written once in portable SQL over a tiny driver interface (SQLite, PostgreSQL)."""

from __future__ import annotations

import secrets
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.store.jobs import HistoryEntry, Job, JobKind, JobState, NewJob
from bot.store.records import AccountRules, Balance, LedgerEntry
from bot.store.sql_accounts import AccountsSql
from bot.store.sql_members import MembersSql
from bot.store.sql_pg import PgSteps
from bot.store.sql_queue import QueueSql
from bot.store.sql_rows import (
    JOB_COLUMNS,
    NEW_JOB_COLUMNS,
    TERMINAL,
    job_from_row,
    new_job_params,
    queued_job,
    to_db,
)
from bot.store.sql_settings import SettingsSql
from bot.store.steps import NamedSteps

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from bot.store.db import Database, Tx
    from bot.store.records import QueueLimits, SpendLimit

__all__ = ["SqlStore"]


@lru_cache(maxsize=16)
def _insert_sql(columns: tuple[str, ...]) -> str:
    return f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


_INSERT_NEW_JOB = _insert_sql(NEW_JOB_COLUMNS)


_ID_RANDOM_BYTES = 2  # after the 8 hex digits of time: 12 in all, short enough for custom_ids and logs
_IDS_PER_DRAW = 256  # random bytes for this many ids drawn from the OS at once: one getrandom() call per 256 jobs


class SqlStore(NamedSteps, QueueSql, AccountsSql, MembersSql, SettingsSql, PgSteps):
    """The Store implementation shared by every SQL backend (the queue in QueueSql, admin queries in AccountsSql)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._for_update = " FOR UPDATE" if db.locks_rows else ""
        self._periods = {}
        self._job_types = None  # PostgreSQL: the jobs table's column types, read on first use
        self._new_job_types = None  # PostgreSQL: those of the columns create_job writes, in its order
        self._job_rows_of = {}  # PostgreSQL: makers of a batch's rows of the jobs table (bot.store.sql_pg)
        self._random = bytearray()  # unused random bytes for job ids (secrets.token_bytes)
        self._batchers = None  # PostgreSQL: reserves and settles sent together (bot.store.pg_batch), on first use

    async def close(self) -> None:
        """Close the underlying database (after the batched statements on their way)."""
        await self._close_batches()
        await self._db.close()

    # -- jobs -------------------------------------------------------------------------------------

    async def create_job(
        self,
        job: NewJob,
        *,
        rules: AccountRules | None,
        spend: SpendLimit | None = None,
        queue: QueueLimits | None = None,
    ) -> Job:
        """Store a queued job and reserve its cost in one transaction (spend cap, then queue limits, then balance)."""
        now = self._clock()
        cost = job.cost if rules is not None else 0
        job_id = self._new_job_id()
        # The INSERT's parameters straight from the NewJob (no dict per job), and the Job it makes built from them
        # too: reading the row back (RETURNING * or a SELECT) cost more than the INSERT, on either backend.
        params = new_job_params(job, job_id=job_id, cost=cost, now=now)
        if self._db.writes_in_cte and spend is None and queue is None:
            # PostgreSQL, nothing to count first: reserve and insert in one statement when no refill can be due.
            seen = self._periods.get((job.user_id, job.scope)) if cost > 0 and rules is not None else None
            no_refill = cost == 0 or (seen is not None and rules is not None and rules.refills_due(seen, now)[0] == 0)
            if no_refill and await self._create_at_once(
                params, user_id=job.user_id, scope=job.scope, cost=cost, seen=seen
            ):
                return queued_job(job, job_id=job_id, cost=cost, created_at=now)
        elif self._db.writes_in_cte and cost > 0 and rules is not None:
            # PostgreSQL, as JobRunner creates: with the others of this process under one turn of the creations lock.
            seen = self._periods.get((job.user_id, job.scope))
            if (
                seen is not None
                and rules.refills_due(seen, now)[0] == 0
                and await self._create_limited_at_once(
                    params, user_id=job.user_id, scope=job.scope, cost=cost, seen=seen, spend=spend, queue=queue
                )
            ):
                return queued_job(job, job_id=job_id, cost=cost, created_at=now)

        async def unit(tx: Tx) -> Job:
            reserved = False
            if cost > 0 and rules is not None:
                # The member's row lock first: their concurrent creations then count one after another. Usually
                # reserving at once takes it; else (a new account, a refill due, too little) touch, reserve later.
                reserved = await self._reserve_quickly(tx, job.user_id, job.scope, cost, rules, now)
                if not reserved:
                    await self._touch_account(tx, job.user_id, job.scope, rules, now)
            if spend is not None or queue is not None:
                await self._lock_creations(tx)
                await self._check_limits(tx, job.user_id, spend, queue, job.reapi_millicredits)
            if cost > 0 and rules is not None and not reserved:
                await self._reserve(tx, job.user_id, job.scope, cost, rules)
            if self._db.writes_in_cte:
                await self._insert_job_in(tx, params)  # the job and the notification: one statement
            else:
                await tx.execute(_INSERT_NEW_JOB, *params)  # the job is its reservation's ledger entry
                await self._db.notify_work(tx)
            # Every other column takes its default, which Job's defaults mirror (tests compare it with get_job).
            return queued_job(job, job_id=job_id, cost=cost, created_at=now)

        return await self._db.run(unit)

    def _new_job_id(self) -> str:
        """12 hex digits: the microsecond the job is made (modulo 2**32, ~72 minutes), then 16 random bits.

        Time first, so that jobs made one after another sit side by side in every index keyed by job id (jobs,
        history, the ledger's once-only entries): random ids put each of a batch's rows on an index page of its
        own once the tables outgrow a few pages (SQLite: WAL pages per ledger pair 2.5 -> 8.8, a copy each for the
        checkpointer). The 48 bits still spread evenly over time, so two ids are as unlikely to meet as random ones
        (two jobs made in one microsecond are told apart by 16 random bits). The clock is the wall clock, not the
        store's (a test's clock stands still).
        """
        if len(self._random) < _ID_RANDOM_BYTES:
            self._random = bytearray(secrets.token_bytes(_ID_RANDOM_BYTES * _IDS_PER_DRAW))
        taken = self._random[-_ID_RANDOM_BYTES:]
        del self._random[-_ID_RANDOM_BYTES:]  # each byte is used once
        return f"{time.time_ns() // 1000 & 0xFFFF_FFFF:08x}{taken.hex()}"

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id, if it exists."""
        row = await self._db.run(lambda tx: tx.fetchone("SELECT * FROM jobs WHERE id = ?", job_id))
        return job_from_row(row) if row else None

    async def active_jobs(self) -> list[Job]:
        """Every unfinished job, oldest first."""
        rows = await self._db.run(
            lambda tx: tx.fetchall(f"SELECT * FROM jobs WHERE state NOT IN {TERMINAL} ORDER BY created_at, id")
        )
        return [job_from_row(r) for r in rows]

    async def transition(
        self, job_id: str, *, from_states: Collection[JobState], to: JobState, **values: Any
    ) -> Job | None:
        """Conditionally move a job to another non-terminal state."""
        if to.is_terminal:
            raise ValueError("use finish_job() to end a job: it settles the credits")
        if "state" in values:
            raise ValueError("pass the new state as `to`, not as a value")
        if not from_states:
            return None
        if to is JobState.SUBMITTING:
            # From here on the POST may reach reAPI and be charged: a stored fact, until finish_job says otherwise.
            values = {"charged": True, **values}
        assignments = {"state": to.value, **values, "updated_at": self._clock()}
        sets, params = self._assignments(assignments)
        states = [s.value for s in from_states]
        row = await self._db.run(
            lambda tx: tx.fetchone(
                # A finished job is settled for good: it never moves again, whatever the caller listed.
                f"UPDATE jobs SET {sets} WHERE id = ? AND state IN ({', '.join('?' for _ in states)}) "
                f"AND state NOT IN {TERMINAL} RETURNING *",
                *params,
                job_id,
                *states,
            )
        )
        return job_from_row(row) if row else None

    async def finish_job(
        self,
        job_id: str,
        *,
        delivered: bool,
        result_message_id: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        only_from: Collection[JobState] | None = None,
        charged: bool | None = None,
        notice_pending: bool = False,
    ) -> Job | None:
        """End a job once, settling its reservation (the ended job is its history row)."""
        now = self._clock()
        state = JobState.DELIVERED if delivered else JobState.FAILED
        states = [s.value for s in only_from if not s.is_terminal] if only_from is not None else []
        if only_from is not None and not states:
            return None
        only = f" AND state IN ({', '.join('?' for _ in states)})" if states else ""
        charged_value = None if charged is None else int(charged)
        changes = [
            state.value,
            now,
            now,
            result_message_id,
            error_code,
            error_message,
            charged_value,
            int(notice_pending),
        ]
        if self._db.writes_in_cte:  # PostgreSQL: the whole step is one statement (bot.store.sql_pg)
            ended = await self._finish_at_once(job_id, states, changes, delivered)
            return job_from_row(ended) if ended is not None else None

        async def unit(tx: Tx) -> Job | None:
            ended = await tx.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, updated_at = ?, "
                "result_message_id = COALESCE(?, result_message_id), error_code = ?, error_message = ?, "
                # The lease ends with the job (freeing its slot); claimed_by stays for the record.
                "charged = COALESCE(?, charged), notice_pending = ?, lease_until = NULL "
                f"WHERE id = ? AND state NOT IN {TERMINAL}{only}",
                *changes,
                job_id,
                *states,
            )
            if ended != 1:
                return None
            # Read back in the same unit (SQLite: one writer, nothing in between); cheaper than RETURNING *.
            row = await tx.fetchone("SELECT * FROM jobs WHERE id = ?", job_id)
            assert row is not None
            job = job_from_row(row)
            if job.cost > 0:
                # A capture spends what was held; a refund moves it back to the spendable balance. The ended job
                # is the settlement's ledger entry.
                back, spent = (0, job.cost) if delivered else (job.cost, 0)
                await tx.execute(
                    "UPDATE accounts SET balance = balance + ?, held = held - ?, spent = spent + ? "
                    "WHERE user_id = ? AND scope = ?",
                    back,
                    job.cost,
                    spent,
                    job.user_id,
                    job.scope,
                )
            await self._db.notify_work(tx)
            return job

        return await self._db.run(unit)

    async def take_notices(self, *, idle: float, within: float | None = None, limit: int | None = 100) -> list[Job]:
        """Ended jobs whose outcome is still to be shown and untouched for ``idle`` seconds, oldest first.

        Each one taken is touched (its ``updated_at`` set to now), so another process's take passes over it for
        ``idle`` seconds: two live processes do not show the same notice at once. ``within``: only jobs that
        ended that many seconds ago or less; ``limit``: at most that many (None: all).
        """
        now = self._clock()
        oldest = now - within if within is not None else 0.0
        bound = " LIMIT ?" if limit is not None else ""
        lock = " FOR UPDATE SKIP LOCKED" if self._db.locks_rows else ""
        rows = await self._db.run(
            lambda tx: tx.fetchall(
                # Chosen in a CTE, not an IN (subquery): PostgreSQL may run a subquery's LIMIT more than once.
                "WITH t AS MATERIALIZED (SELECT id FROM jobs WHERE notice_pending = 1 "
                f"AND state IN {TERMINAL} AND updated_at <= ? AND finished_at >= ? "
                f"ORDER BY finished_at, id{bound}{lock}) "
                "UPDATE jobs SET updated_at = ? "
                "WHERE id IN (SELECT id FROM t) AND notice_pending = 1 AND updated_at <= ? RETURNING *",
                now - idle,
                oldest,
                *([limit] if limit is not None else []),
                now,
                now - idle,
            )
        )
        return sorted(map(job_from_row, rows), key=lambda job: (job.finished_at or 0.0, job.id))

    async def clear_notice(self, job_id: str) -> None:
        """The job's outcome has been shown."""
        await self._db.run(
            lambda tx: tx.execute("UPDATE jobs SET notice_pending = 0 WHERE id = ? AND notice_pending = 1", job_id)
        )

    async def history(self, user_id: int, *, limit: int, offset: int = 0) -> list[HistoryEntry]:
        """A member's finished jobs, newest first."""
        rows = await self._db.run(
            lambda tx: tx.fetchall(
                "SELECT * FROM history WHERE user_id = ? ORDER BY finished_at DESC, job_id LIMIT ? OFFSET ?",
                user_id,
                limit,
                offset,
            )
        )
        return [
            HistoryEntry(
                job_id=r["job_id"],
                user_id=r["user_id"],
                guild_id=r["guild_id"],
                channel_id=r["channel_id"],
                kind=JobKind(r["kind"]),
                prompt=r["prompt"],
                state=JobState(r["state"]),
                cost=r["cost"],
                result_message_id=r["result_message_id"],
                error_message=r["error_message"],
                created_at=r["created_at"],
                finished_at=r["finished_at"],
                error_code=r["error_code"],
                result_channel_id=r["result_channel_id"],
                result_ephemeral=bool(r["result_ephemeral"]),
            )
            for r in rows
        ]

    async def recent_durations(self, limit: int) -> list[float]:
        """Seconds reAPI took for the most recent delivered jobs."""
        rows = await self._db.run(
            lambda tx: tx.fetchall(
                "SELECT completed_at - submitted_at AS took FROM jobs WHERE state = 'delivered' "
                "AND submitted_at IS NOT NULL AND completed_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
                limit,
            )
        )
        return [float(r["took"]) for r in rows]

    # -- credits ----------------------------------------------------------------------------------

    async def balance(self, user_id: int, scope: str, rules: AccountRules) -> Balance:
        """A member's balance after any refill that was due."""
        now = self._clock()
        return await self._db.run(lambda tx: self._touch_account(tx, user_id, scope, rules, now))

    async def ledger(self, user_id: int | None = None) -> list[LedgerEntry]:
        """Ledger entries, oldest first (a job's reservation and settlement are read from its row: no ``id``)."""
        where, params = ("WHERE user_id = ?", [user_id]) if user_id is not None else ("", [])
        sql = f"SELECT * FROM ledger {where} ORDER BY created_at, step, id"
        rows = await self._db.run(lambda tx: tx.fetchall(sql, *params))
        return [
            LedgerEntry(
                id=r["id"],
                user_id=r["user_id"],
                scope=r["scope"],
                delta=r["delta"],
                reason=r["reason"],
                job_id=r["job_id"],
                actor_id=r["actor_id"],
                created_at=r["created_at"],
                note=r["note"],
                cap=r["cap"],
            )
            for r in rows
        ]

    # -- meta -------------------------------------------------------------------------------------

    async def schema_version(self) -> int:
        """The newest migration recorded in the database (opening the store applies every one it knows)."""
        row = await self._db.run(lambda tx: tx.fetchone("SELECT MAX(version) AS v FROM schema_version"))
        return int(row["v"]) if row and row["v"] is not None else 0

    async def get_meta(self, key: str) -> str | None:
        """A small bot-wide value."""
        row = await self._db.run(lambda tx: tx.fetchone("SELECT value FROM meta WHERE key = ?", key))
        return str(row["value"]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        """Store a small bot-wide value."""
        await self._db.run(
            lambda tx: tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                key,
                value,
            )
        )

    @staticmethod
    def _assignments(values: Mapping[str, Any]) -> tuple[str, Sequence[Any]]:
        unknown = set(values) - JOB_COLUMNS - {"updated_at"}
        if unknown:
            raise ValueError(f"unknown job fields: {sorted(unknown)}")
        return ", ".join(f"{name} = ?" for name in values), [to_db(n, v) for n, v in values.items()]
