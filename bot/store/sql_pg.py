"""PostgreSQL's one-statement forms of the money steps: a reserve, or a settle, in one round trip.

PostgreSQL runs data-modifying CTEs, and a single statement is atomic on its own (autocommit: no BEGIN/COMMIT
round trips). So where SQLite runs a step as several statements in a unit (cheap there: no network), PostgreSQL
runs the same writes, in the same order and under the same row locks, as one statement:

* a settle: lock and end the job (only if unfinished), move its credits, append the ledger entry and the history
  row, and notify the workers; nothing at all if the job had already ended;
* a reserve, when no refill can be due and no limit is checked: take the credits (only with enough balance and the
  period start last seen), insert the job and its ledger entry, notify; nothing at all otherwise (the caller then
  takes the full path);
* the tail of the full path: insert the job and its ledger entry and notify, inside the caller's transaction.

Parameters of a ``INSERT … SELECT`` get no type from their target column, so they are cast to the column's type,
read once from the catalog.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.store.sql_rows import TERMINAL, to_db

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from bot.store.db import Database, Row, Tx

__all__ = ["WORK_CHANNEL", "PgSteps"]

WORK_CHANNEL = "imaginebot_jobs"  # the LISTEN/NOTIFY channel workers wake on

_NOTIFY = "SELECT j.*, pg_notify(?::text, '') AS notified FROM j"
_RESERVE_ENTRY = (
    "l AS (INSERT INTO ledger (user_id, scope, delta, reason, job_id, actor_id, created_at, note, cap) "
    "SELECT user_id, scope, -cost, 'reserve', id, NULL, created_at, NULL, NULL FROM j WHERE cost > 0)"
)


@lru_cache(maxsize=64)
def _insert_sql(columns: tuple[str, ...], types: tuple[str, ...], quick: bool) -> str:
    casts = ", ".join(f"?::{t}" for t in types)
    reserve = (
        "a AS (UPDATE accounts SET balance = balance - ?, held = held + ? "
        "WHERE user_id = ? AND scope = ? AND balance >= ? AND period_start = ? RETURNING user_id), "
        if quick
        else ""
    )
    source = " FROM a" if quick else ""
    return (
        f"WITH {reserve}j AS (INSERT INTO jobs ({', '.join(columns)}) SELECT {casts}{source} RETURNING *), "
        f"{_RESERVE_ENTRY} {_NOTIFY}"
    )


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
        "held = accounts.held - j.cost FROM j "
        "WHERE j.cost > 0 AND accounts.user_id = j.user_id AND accounts.scope = j.scope), "
        "l AS (INSERT INTO ledger (user_id, scope, delta, reason, job_id, actor_id, created_at, note, cap) "
        "SELECT user_id, scope, CASE WHEN ?::boolean THEN 0 ELSE cost END, ?::text, id, NULL, finished_at, "
        "NULL, NULL FROM j WHERE cost > 0), "
        "h AS (INSERT INTO history (job_id, user_id, guild_id, channel_id, kind, prompt, aspect_ratio, sources, "
        "parent_job_id, state, cost, result_message_id, error_code, error_message, created_at, finished_at) "
        "SELECT id, user_id, guild_id, channel_id, kind, prompt, aspect_ratio, sources, parent_job_id, state, "
        "CASE WHEN ?::boolean THEN cost ELSE 0 END, result_message_id, error_code, error_message, created_at, "
        f"finished_at FROM j) {_NOTIFY}"
    )


class PgSteps:
    """Mixed into SqlStore: the one-statement steps, used when ``Database.writes_in_cte`` (PostgreSQL)."""

    _db: Database
    _job_types: dict[str, str] | None

    async def _column_types(self) -> dict[str, str]:
        if self._job_types is None:
            rows = await self._db.fetch_all_atomic(
                "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
                "WHERE attrelid = 'jobs'::regclass AND attnum > 0 AND NOT attisdropped"
            )
            self._job_types = {str(r["attname"]): str(r["type"]) for r in rows}
        return self._job_types

    async def _insert_params(self, values: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], list[Any]]:
        types = await self._column_types()
        columns = tuple(values)
        return columns, tuple(types[c] for c in columns), [to_db(c, values[c]) for c in columns]

    async def _create_at_once(
        self, values: Mapping[str, Any], *, user_id: int, scope: str, cost: int, seen: float | None
    ) -> Row | None:
        """Reserve (when ``seen`` is given), insert and notify in one statement; None when nothing was reserved."""
        columns, types, params = await self._insert_params(values)
        reserve: Sequence[Any] = (cost, cost, user_id, scope, cost, seen) if seen is not None else ()
        sql = _insert_sql(columns, types, seen is not None)
        return await self._db.fetch_atomic(sql, *reserve, *params, WORK_CHANNEL)

    async def _insert_job_in(self, tx: Tx, values: Mapping[str, Any], types: dict[str, str]) -> Row | None:
        """Inside ``tx``, once the credits are reserved: insert the job and its ledger entry, and notify."""
        columns = tuple(values)
        sql = _insert_sql(columns, tuple(types[c] for c in columns), False)
        return await tx.fetchone(sql, *(to_db(c, values[c]) for c in columns), WORK_CHANNEL)

    async def _finish_at_once(
        self, job_id: str, states: list[str], params: Sequence[Any], delivered: bool
    ) -> Row | None:
        """End the job, settle it, record its history and notify in one statement; None if it had already ended."""
        reason = "capture" if delivered else "refund"
        return await self._db.fetch_atomic(
            _finish_sql(len(states)), *params, job_id, *states, delivered, delivered, reason, delivered, WORK_CHANNEL
        )
