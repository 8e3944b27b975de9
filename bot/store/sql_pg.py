"""PostgreSQL's one-statement forms of the money steps: a reserve, or a settle, in one round trip.

PostgreSQL runs data-modifying CTEs, and a single statement is atomic on its own (autocommit: no BEGIN/COMMIT
round trips). So where SQLite runs a step as several statements in a unit (cheap there: no network), PostgreSQL
runs the same writes, in the same order and under the same row locks, as one statement:

* a settle: lock and end the job (only if unfinished), move its credits and notify the workers; nothing at all if
  the job had already ended (the ended job is its history row and its settlement's ledger entry: views);
* a reserve, when no refill can be due and no limit is checked: take the credits (only with enough balance and the
  period start last seen), insert the job (its reservation's ledger entry), notify; nothing at all otherwise (the
  caller then takes the full path);
* the tail of the full path: insert the job and notify, inside the caller's transaction.

Parameters of a ``INSERT … SELECT`` get no type from their target column, so they are cast to the column's type,
read once from the catalog.

The reserve and the settle of many callers in one process go out together as one statement over ``unnest()``d arrays
(``bot.store.pg_batch``): the same writes and the same conditions per row (``balance >= cost`` on the member's row,
``state NOT IN (terminal)`` on the job's), one round trip and one commit for all. A batch's new jobs, and its
settles' values, go as one array of the jobs table's own row type, not one array per column: asyncpg checks every
element of an array against ``collections.abc`` classes in Python before encoding it (~27 checks per new job that
way, ~4 for a row), and the server unnests two or three arrays instead of 27 or 10 (each into a tuplestore of its
own). The row locks of two processes' batches must be taken in one order (else each may hold what the other waits
for: a deadlock, and a second's wait before PostgreSQL breaks it). A settle batch sums its jobs' costs per account
in key order and its plan meets the accounts one by one in that order (a nested loop over the few sums). A
reservation's accounts are found through the key's index by ``user_id = ANY(…)``, which walks the index in key
order, whatever order the rows have on disk: joined to the batch's rows alone, the table was read whole in a hash
join (in the table's order) once it held a couple of thousand members, as the plan a pooled connection keeps cannot
count the batch's rows (``test_a_batch_locks_its_accounts_in_key_order…`` guards the reservations' order).

Creations checked against the spend cap and the queue limits (every one JobRunner makes) take turns on the
creations lock across every process; those that arrive together in one process take one turn between them: one
transaction locks their members' rows (in order, as create_job's own transaction does first), then the creations
lock, and one statement counts once and takes the rows that fit in their order of arrival. A row that does not fit
(or whose reservation does not hold) is left to its caller's own transaction, which decides it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from bot.store.pg_batch import Batcher
from bot.store.sql_limits import CREATIONS_LOCK, SPENT, WAITING
from bot.store.sql_rows import NEW_JOB_COLUMNS, TERMINAL

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from bot.store.db import Database, Row, Tx
    from bot.store.records import QueueLimits, SpendLimit

__all__ = ["WORK_CHANNEL", "PgSteps"]

_NEW_ID_AT = NEW_JOB_COLUMNS.index("id")

WORK_CHANNEL = "imaginebot_jobs"  # the LISTEN/NOTIFY channel workers wake on

_NOTIFY = "SELECT j.*, pg_notify(?::text, '') AS notified FROM j"
# A created job is not read back (create_job builds it from what it inserted): only its id, to say it was.
_NOTIFY_CREATED = "SELECT j.id, pg_notify(?::text, '') AS notified FROM j"


@lru_cache(maxsize=4)
def _insert_sql(types: tuple[str, ...], quick: bool) -> str:
    """A new job's INSERT (of ``NEW_JOB_COLUMNS``, cast to ``types``), with its reservation first when ``quick``."""
    casts = ", ".join(f"?::{t}" for t in types)
    reserve = (
        "a AS (UPDATE accounts SET balance = balance - ?, held = held + ? "
        "WHERE user_id = ? AND scope = ? AND balance >= ? AND period_start = ? RETURNING user_id), "
        if quick
        else ""
    )
    source = " FROM a" if quick else ""
    return (
        f"WITH {reserve}j AS (INSERT INTO jobs ({', '.join(NEW_JOB_COLUMNS)}) SELECT {casts}{source} RETURNING id) "
        f"{_NOTIFY_CREATED}"
    )


# A batch's new jobs: the period start each reservation saw, and each job as a row of the jobs table (in which only
# NEW_JOB_COLUMNS are set; the INSERT takes only those, and the columns' defaults the rest). unnest() of several
# arrays in FROM gives a row per place with a composite's columns spread out, each row taken apart once (selecting
# ``(r).*`` takes it apart once per column: ~5 µs more of the server's time per job, at 13 jobs a batch).
_NEW_ROWS = "?::double precision[], ?::jobs[]"


def _reserved(only: str) -> str:
    """The tail of a batch of reservations from ``x``: take each row's credits (only with enough balance and the
    period start it saw; ``only``: a further condition on ``x``, or nothing), insert the jobs whose credits were
    taken, and notify.

    The accounts' UPDATE reads the reservations from ``k``, the five columns it needs, not from ``x``: an
    ``UPDATE … FROM`` carries each joined row whole to its end (to recheck it if another transaction changed the
    account meanwhile), and a row of ``x`` is a whole job and more (45 columns, 46 in the limited batch), built
    into one value per reservation.
    """
    columns = NEW_JOB_COLUMNS
    return (
        f"k AS MATERIALIZED (SELECT id, user_id, scope, cost, r_seen FROM x{f' WHERE {only}' if only else ''}), "
        "a AS (UPDATE accounts SET balance = accounts.balance - k.cost, held = accounts.held + k.cost FROM k "
        "WHERE accounts.user_id = ANY(ARRAY(SELECT user_id FROM k)) "  # the key's index, in key order
        "AND accounts.user_id = k.user_id AND accounts.scope = k.scope AND accounts.balance >= k.cost "
        "AND accounts.period_start = k.r_seen RETURNING k.id), "
        f"j AS (INSERT INTO jobs ({', '.join(columns)}) SELECT {', '.join(f'x.{c}' for c in columns)} FROM x "
        f"WHERE x.id IN (SELECT id FROM a) RETURNING id) {_NOTIFY_CREATED}"
    )


# Many quick reservations: each row's credits taken only with enough balance and the period start it saw.
_RESERVE_BATCH = f"WITH x AS (SELECT * FROM unnest({_NEW_ROWS}) AS x(r_seen)), {_reserved('')}"


@lru_cache(maxsize=8)
def _limited_batch_sql(spend: bool, queue: bool) -> str:
    """Many quick reservations checked against the limits, under the creations lock, in their order of arrival.

    A row fits if it would with every row before it in the batch taken (whether or not that one is): never more
    than the limits allow, and a row left out this way goes the one-by-one way, which decides it exactly.
    Parameters: the order of arrival, the new rows (``_reserve_arrays``), then the cap's day start and the cap
    (``spend``), then the queue limits (``queue``).
    """
    fits = [
        *(["r.spent_after <= ?::bigint"] if spend else []),
        *(["r.waiting_after <= ?::bigint AND r.mine < ?::bigint"] if queue else []),
    ]
    return (
        f"WITH x AS (SELECT * FROM unnest(?::bigint[], {_NEW_ROWS}) AS x(r_n, r_seen)), "
        f"c AS (SELECT {SPENT if spend else '0'} AS spent, ({WAITING}) AS waiting), "
        "m AS (SELECT user_id, COUNT(*) AS mine FROM jobs WHERE state = 'queued' "
        "AND user_id IN (SELECT user_id FROM x) GROUP BY user_id), "
        "r AS (SELECT x.id, c.spent + SUM(x.reapi_millicredits) OVER w AS spent_after, "
        "c.waiting + ROW_NUMBER() OVER w AS waiting_after, COALESCE(m.mine, 0) AS mine "
        "FROM x CROSS JOIN c LEFT JOIN m ON m.user_id = x.user_id WINDOW w AS (ORDER BY x.r_n)), "
        f"ok AS (SELECT r.id FROM r WHERE {' AND '.join(fits) or 'TRUE'}), "
        f"{_reserved('x.id IN (SELECT id FROM ok)')}"
    )


_LOCK_ACCOUNTS = (
    "SELECT 1 FROM accounts WHERE (user_id, scope) IN (SELECT * FROM unnest(?::bigint[], ?::text[])) "
    "ORDER BY user_id, scope FOR UPDATE"
)

# A settle's values, as columns of the jobs table (finish_job's ``changes`` after the job's id; updated_at is
# finished_at): a batch sends them as rows of the table's type, with the rest of each row NULL.
_FINISH_COLUMNS = (
    "id",
    "state",
    "finished_at",
    "updated_at",
    "result_message_id",
    "error_code",
    "error_message",
    "charged",
    "notice_pending",
)
# Many settles: each job ended only if unfinished (and in the state its caller expects, if it names one); each
# member's account moved once by the sum of theirs. Parameters: whether each captures, the state it must end from
# (or NULL), the settles' rows, the channel to notify.
_FINISH_BATCH = (
    "WITH x AS (SELECT f_captures, f_from, id AS f_id, state AS f_state, finished_at AS f_at, "
    "result_message_id AS f_result, error_code AS f_code, error_message AS f_message, charged AS f_charged, "
    "notice_pending AS f_notice FROM unnest(?::boolean[], ?::text[], ?::jobs[]) AS u(f_captures, f_from)), "
    "j AS (UPDATE jobs SET state = x.f_state, finished_at = x.f_at, updated_at = x.f_at, "
    "result_message_id = COALESCE(x.f_result, jobs.result_message_id), error_code = x.f_code, "
    "error_message = x.f_message, charged = COALESCE(x.f_charged, jobs.charged), notice_pending = x.f_notice, "
    f"lease_until = NULL FROM x WHERE jobs.id = x.f_id AND jobs.state NOT IN {TERMINAL} "
    "AND (x.f_from IS NULL OR jobs.state = x.f_from) RETURNING jobs.*, x.f_captures), "
    # UPDATE … FROM moves a row once however many inputs match it: one input per account, with the sums.
    "s AS (SELECT user_id, scope, SUM(CASE WHEN f_captures THEN 0 ELSE cost END)::bigint AS back, "
    "SUM(CASE WHEN f_captures THEN cost ELSE 0 END)::bigint AS spent, SUM(cost)::bigint AS settled "
    "FROM j WHERE cost > 0 GROUP BY user_id, scope ORDER BY user_id, scope), "
    "a AS (UPDATE accounts SET balance = accounts.balance + s.back, held = accounts.held - s.settled, "
    "spent = accounts.spent + s.spent FROM s WHERE accounts.user_id = s.user_id AND accounts.scope = s.scope) "
    f"{_NOTIFY}"
)


@dataclass(frozen=True, slots=True)
class _Reserve:
    """One quick reservation: the job's values (of ``NEW_JOB_COLUMNS``), and the account's period start as last seen."""

    params: list[Any]
    user_id: int
    scope: str
    cost: int
    seen: float


def _reserve_arrays(reserves: Sequence[_Reserve], row_of: Callable[[list[Any]], tuple[Any, ...]]) -> list[list[Any]]:
    """A batch's reservations as its statement's two arrays (``_NEW_ROWS``): the period starts seen, and the new
    jobs as rows of the jobs table (``row_of``: ``new_job_params`` plus one None, in the table's column order)."""
    return [[r.seen for r in reserves], [row_of([*r.params, None]) for r in reserves]]


@dataclass(frozen=True, slots=True)
class _Limited:
    """A quick reservation that must also fit the spend cap and the queue limits (as JobRunner's creations do)."""

    reserve: _Reserve
    spend: SpendLimit | None
    queue: QueueLimits | None


@dataclass(frozen=True, slots=True)
class _Finish:
    """One settle: the job, its new column values (finish_job's ``changes``), whether it is a capture, and the
    states it may end from (none named: any unfinished one)."""

    job_id: str
    changes: Sequence[Any]
    delivered: bool
    states: Sequence[str] = ()


@lru_cache(maxsize=16)
def _finish_sql(only: int) -> str:
    states = f" AND state IN ({', '.join('?' for _ in range(only))})" if only else ""
    return (
        "WITH j AS (UPDATE jobs SET state = ?, finished_at = ?, updated_at = ?, "
        "result_message_id = COALESCE(?::bigint, result_message_id), error_code = ?, error_message = ?, "
        "charged = COALESCE(?::integer, charged), notice_pending = ?, lease_until = NULL "
        f"WHERE id = ? AND state NOT IN {TERMINAL}{states} RETURNING *), "
        # A capture spends what was held; a refund moves it back to the spendable balance.
        "a AS (UPDATE accounts SET balance = accounts.balance + CASE WHEN ?::boolean THEN 0 ELSE j.cost END, "
        "held = accounts.held - j.cost, spent = accounts.spent + CASE WHEN ?::boolean THEN j.cost ELSE 0 END "
        "FROM j WHERE j.cost > 0 AND accounts.user_id = j.user_id AND accounts.scope = j.scope) "
        f"{_NOTIFY}"
    )


class PgSteps:
    """Mixed into SqlStore: the one-statement steps, used when ``Database.writes_in_cte`` (PostgreSQL)."""

    _db: Database
    _job_types: dict[str, str] | None
    _new_job_types: tuple[str, ...] | None
    _job_rows_of: dict[tuple[str, ...], Callable[[list[Any]], tuple[Any, ...]]]
    _batchers: tuple[Batcher[_Reserve], Batcher[_Finish], Batcher[_Limited]] | None

    def _batched(self) -> tuple[Batcher[_Reserve], Batcher[_Finish], Batcher[_Limited]]:
        if self._batchers is None:
            self._batchers = (
                Batcher(self._reserve_many, self._reserve_one),
                Batcher(self._finish_many, self._finish_one),
                Batcher(self._limited_many, self._limited_one),
            )
        return self._batchers

    async def _close_batches(self) -> None:
        """Let the statements on the wire finish (their callers hear them) before the pool closes."""
        if self._batchers is not None:
            for batcher in self._batchers:
                await batcher.close()

    async def _column_types(self, tx: Tx | None = None) -> dict[str, str]:
        """The jobs table's column types, read once; inside a transaction, through its ``tx``.

        A transaction holds its pooled connection: reading through another could wait for ever on a pool that
        every transaction holds a connection of.
        """
        if self._job_types is None:
            sql = (
                "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
                "WHERE attrelid = 'jobs'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            )
            rows = await (tx.fetchall(sql) if tx is not None else self._db.fetch_all_atomic(sql))
            self._job_types = {str(r["attname"]): str(r["type"]) for r in rows}  # in the row type's order
        return self._job_types

    async def _job_rows(self, columns: tuple[str, ...], tx: Tx | None = None) -> Callable[[list[Any]], tuple[Any, ...]]:
        """Turns the values of ``columns`` plus a None into a row of the jobs table: each value in the table's
        column order, None in every other column (which the statement reading the row leaves alone: an INSERT
        takes their defaults). Inside a transaction, read through its ``tx`` (as ``_column_types``)."""
        row_of = self._job_rows_of.get(columns)
        if row_of is None:
            missing = len(columns)  # the None's place
            places = [columns.index(c) if c in columns else missing for c in await self._column_types(tx)]
            row_of = self._job_rows_of[columns] = itemgetter(*places)
        return row_of

    async def _insert_types(self, tx: Tx | None = None) -> tuple[str, ...]:
        """The types of ``NEW_JOB_COLUMNS``, which an ``INSERT … SELECT`` must cast its parameters to."""
        if self._new_job_types is None:
            types = await self._column_types(tx)
            self._new_job_types = tuple(types[c] for c in NEW_JOB_COLUMNS)
        return self._new_job_types

    async def _create_at_once(
        self, params: list[Any], *, user_id: int, scope: str, cost: int, seen: float | None
    ) -> bool:
        """Reserve (when ``seen`` is given), insert and notify in one statement; False when nothing was reserved.

        ``params`` are ``new_job_params``: the values of ``NEW_JOB_COLUMNS``.
        """
        types = await self._insert_types()
        if seen is None:
            return await self._db.fetch_atomic(_insert_sql(types, False), *params, WORK_CHANNEL) is not None
        reserve = _Reserve(params, user_id, scope, cost, seen)
        job_id = params[_NEW_ID_AT]
        return await self._batched()[0].submit(reserve, key=(user_id, scope), row_id=job_id) is not None

    async def _create_limited_at_once(
        self,
        params: list[Any],
        *,
        user_id: int,
        scope: str,
        cost: int,
        seen: float,
        spend: SpendLimit | None,
        queue: QueueLimits | None,
    ) -> bool:
        """Reserve and insert with the others arriving in this process, if it fits the limits; False: decide alone.

        ``params`` are ``new_job_params``. False means nothing was written: the caller's own transaction decides
        (and raises the refusal that applies: spend cap, then queue limits, then balance).
        """
        limited = _Limited(_Reserve(params, user_id, scope, cost, seen), spend, queue)
        job_id = params[_NEW_ID_AT]
        return await self._batched()[2].submit(limited, key=(user_id, scope), row_id=job_id) is not None

    async def _limited_one(self, item: _Limited) -> None:
        """A batch of one, or one of a batch the server refused: its caller's own transaction decides it."""

    async def _limited_many(self, batch: Sequence[_Limited]) -> list[Row]:
        """One transaction: the members' rows locked in order, then the creations lock (the order create_job's own
        transaction takes them in), then one statement per set of limits (all the same but for members with
        unlimited credits, who have no spend cap). One transaction, so that a statement the server refuses leaves
        nothing of the turn behind when each request is then decided alone."""
        return await self._db.run(partial(self._limited_in, batch))

    async def _limited_in(self, batch: Sequence[_Limited], tx: Tx) -> list[Row]:
        accounts = sorted({(i.reserve.user_id, i.reserve.scope) for i in batch})
        await tx.fetchall(_LOCK_ACCOUNTS, [u for u, _ in accounts], [s for _, s in accounts])
        await tx.execute("SELECT pg_advisory_xact_lock(?)", CREATIONS_LOCK)
        row_of = await self._job_rows(NEW_JOB_COLUMNS, tx)
        groups: dict[tuple[SpendLimit | None, QueueLimits | None], list[_Limited]] = {}
        for item in batch:
            groups.setdefault((item.spend, item.queue), []).append(item)
        rows: list[Row] = []
        for (spend, queue), items in groups.items():  # each statement counts what the ones before it inserted
            arrays = [list(range(len(items))), *_reserve_arrays([i.reserve for i in items], row_of)]
            limits = [
                *([spend.since, spend.max_millicredits] if spend is not None else []),
                *([queue.max_queued, queue.per_user_queued] if queue is not None else []),
            ]
            sql = _limited_batch_sql(spend is not None, queue is not None)
            rows += await tx.fetchall(sql, *arrays, *limits, WORK_CHANNEL)
        return rows

    async def _reserve_one(self, r: _Reserve) -> Row | None:
        reserve = (r.cost, r.cost, r.user_id, r.scope, r.cost, r.seen)
        sql = _insert_sql(await self._insert_types(), True)
        return await self._db.fetch_atomic(sql, *reserve, *r.params, WORK_CHANNEL)

    async def _reserve_many(self, batch: Sequence[_Reserve]) -> list[Row]:
        ordered = sorted(batch, key=lambda r: (r.user_id, r.scope))
        arrays = _reserve_arrays(ordered, await self._job_rows(NEW_JOB_COLUMNS))
        return await self._db.fetch_all_atomic(_RESERVE_BATCH, *arrays, WORK_CHANNEL)

    async def _insert_job_in(self, tx: Tx, params: list[Any]) -> None:
        """Inside ``tx``, once the credits are reserved: insert the job (its reservation's ledger entry) and notify.

        ``params`` are ``new_job_params``: the values of ``NEW_JOB_COLUMNS``.
        """
        await tx.fetchone(_insert_sql(await self._insert_types(tx), False), *params, WORK_CHANNEL)

    async def _finish_at_once(
        self, job_id: str, states: list[str], params: Sequence[Any], delivered: bool
    ) -> Row | None:
        """End the job, settle it and notify in one statement (its history is the ended row); None if already ended
        (or not in one of ``states``, when given).

        With no state or one (the engine names the one its runner holds), it goes out with the others arriving.
        """
        finish = _Finish(job_id, params, delivered, states)
        if len(states) <= 1:
            return await self._batched()[1].submit(finish, key=job_id, row_id=job_id)
        return await self._finish_one(finish)

    async def _finish_one(self, f: _Finish) -> Row | None:
        captures = f.delivered
        return await self._db.fetch_atomic(
            _finish_sql(len(f.states)), *f.changes, f.job_id, *f.states, captures, captures, WORK_CHANNEL
        )

    async def _finish_many(self, batch: Sequence[_Finish]) -> list[Row]:
        row_of = await self._job_rows(_FINISH_COLUMNS)
        ordered = sorted(batch, key=lambda f: f.job_id)
        return await self._db.fetch_all_atomic(
            _FINISH_BATCH,
            [f.delivered for f in ordered],
            [f.states[0] if f.states else None for f in ordered],
            [row_of([f.job_id, *f.changes, None]) for f in ordered],
            WORK_CHANNEL,
        )
