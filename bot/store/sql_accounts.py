"""Credit administration in portable SQL: grants, adjustments, bans, the spend cap, usage and the ledger audit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.records import (
    Balance,
    DayUsage,
    InsufficientBalance,
    QueueLimitExceeded,
    SpendCapExceeded,
    Usage,
    UserUsage,
)
from bot.store.sql_audit import audit_ledger
from bot.store.sql_ledger import LedgerSql
from bot.store.sql_limits import CREATIONS_LOCK, SPENT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.store.db import Tx
    from bot.store.records import AccountRules, LedgerAudit, QueueLimits, SpendLimit

__all__ = ["AccountsSql"]

_TERMINAL = "('delivered', 'failed')"
_DAY = 86_400.0
# A conditional update on a seen balance loses only to a concurrent change; retry that many times.
_ATTEMPTS = 20


class AccountsSql(LedgerSql):
    """Mixed into SqlStore: the administrative side of the ledger. Money changes stay conditional."""

    # -- the owner's spend cap --------------------------------------------------------------------

    async def _lock_creations(self, tx: Tx) -> None:
        """Make limited creations count one after another (called inside create_job's transaction).

        Every creation checked against the spend cap or the queue limits takes this lock first, so on PostgreSQL
        (READ COMMITTED: each later statement reads what committed before it) two of them can never both see room
        for one more job. There it is an advisory lock held until the transaction ends: a waiter sleeps until its
        turn. Updating one row instead (as SQLite still does) woke every waiter at each commit to re-check a new
        version of that row: 50 concurrent members spent most of the server's CPU there.
        """
        if self._db.locks_rows:
            await tx.execute("SELECT pg_advisory_xact_lock(?)", CREATIONS_LOCK)
        else:  # SQLite: its one writer runs a transaction at a time anyway; this write only marks the moment
            await tx.execute("UPDATE spend_lock SET taken = ? WHERE id = 1", self._clock())

    async def _check_limits(
        self, tx: Tx, user_id: int, spend: SpendLimit | None, queue: QueueLimits | None, cost: int
    ) -> None:
        """Refuse the job being created if it would pass the spend cap (its reAPI cost: ``cost`` millicredits), or
        if the member, or everyone, has as many jobs waiting as allowed: in that order.

        Called after ``_lock_creations``, which it is held under, so both limits are read in one statement (one
        round trip less while every other limited creation waits).
        """
        spent = SPENT if spend is not None else "0"
        queued = (
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN user_id = ? THEN 1 ELSE 0 END), 0) AS mine "
            "FROM jobs WHERE state = 'queued'"
            if queue is not None
            else "SELECT 0 AS n, 0 AS mine"
        )
        params = [*([spend.since] if spend is not None else []), *([user_id] if queue is not None else [])]
        row = await tx.fetchone(f"SELECT {spent} AS spent, q.n, q.mine FROM ({queued}) q", *params)
        assert row is not None  # one row, always
        if spend is not None and int(row["spent"]) + cost > spend.max_millicredits:
            raise SpendCapExceeded(int(row["spent"]), spend.max_millicredits)
        if queue is not None:
            if int(row["mine"]) >= queue.per_user_queued:
                raise QueueLimitExceeded(limit=queue.per_user_queued, per_user=True)
            if int(row["n"]) >= queue.max_queued:
                raise QueueLimitExceeded(limit=queue.max_queued, per_user=False)

    # -- balances changed by admins and operators -------------------------------------------------

    async def grant(
        self,
        user_id: int,
        scope: str,
        amount: int,
        rules: AccountRules,
        *,
        actor_id: int | None,
        note: str | None = None,
    ) -> Balance:
        """Add ``amount`` as a 'grant' entry; a negative amount never takes the balance below zero."""
        if amount == 0:
            raise ValueError("a grant must change the balance")
        now = self._clock()

        async def unit(tx: Tx) -> Balance:
            await self._touch_account(tx, user_id, scope, rules, now)
            changed = await tx.execute(
                "UPDATE accounts SET balance = balance + ? WHERE user_id = ? AND scope = ? AND balance + ? >= 0",
                amount,
                user_id,
                scope,
                amount,
            )
            if changed != 1:
                raise InsufficientBalance(await self._read_balance(tx, user_id, scope, rules), -amount)
            await self._append(tx, user_id, scope, amount, "grant", actor_id, now, note)
            return await self._read_balance(tx, user_id, scope, rules)

        return await self._db.run(unit)

    async def set_balance(
        self,
        user_id: int,
        scope: str,
        amount: int,
        rules: AccountRules,
        *,
        actor_id: int | None,
        note: str | None = None,
    ) -> Balance:
        """Set the spendable balance to exactly ``amount`` (what is held stays held; may pass max_balance)."""
        if amount < 0:
            raise ValueError("a balance cannot be negative")
        return await self._adjust(user_id, scope, rules, amount, None, actor_id=actor_id, note=note)

    async def reset_balance(
        self, user_id: int, scope: str, rules: AccountRules, *, actor_id: int | None, note: str | None = None
    ) -> Balance:
        """A full allowance (capped at max_balance) counting what is held, and a refill period starting now.

        The spendable balance becomes ``min(allowance, max_balance) - held`` (at least 0), so refunding the jobs in
        progress brings the member to exactly a full allowance, never past it.
        """
        start = rules.period_start(self._clock())
        target = min(rules.allowance, rules.max_balance)
        return await self._adjust(
            user_id, scope, rules, target, start, actor_id=actor_id, note=note or "reset", counting_held=True
        )

    async def _adjust(
        self,
        user_id: int,
        scope: str,
        rules: AccountRules,
        target: int,
        period_start: float | None,
        *,
        actor_id: int | None,
        note: str | None,
        counting_held: bool = False,
    ) -> Balance:
        now = self._clock()

        async def unit(tx: Tx) -> Balance:
            for _ in range(_ATTEMPTS):
                await self._touch_account(tx, user_id, scope, rules, now)
                row = await tx.fetchone(
                    "SELECT balance, held, period_start FROM accounts WHERE user_id = ? AND scope = ?", user_id, scope
                )
                assert row is not None
                seen, held, seen_start = int(row["balance"]), int(row["held"]), float(row["period_start"])
                spendable = max(0, target - held) if counting_held else target
                # Conditional on what was read: a reservation landing in between makes this miss, and we re-read.
                changed = await tx.execute(
                    "UPDATE accounts SET balance = ?, period_start = ? "
                    "WHERE user_id = ? AND scope = ? AND balance = ? AND held = ? AND period_start = ?",
                    spendable,
                    seen_start if period_start is None else period_start,
                    user_id,
                    scope,
                    seen,
                    held,
                    seen_start,
                )
                if changed == 1:
                    if spendable != seen:
                        delta = spendable - seen
                        await self._append(tx, user_id, scope, delta, "adjust", actor_id, now, note)
                    return await self._read_balance(tx, user_id, scope, rules)
            raise RuntimeError(f"the balance of {user_id} in {scope} kept changing; try again")

        return await self._db.run(unit)

    async def account_scopes(self, user_id: int) -> list[str]:
        """The scopes a member has a balance in."""
        rows = await self._db.run(
            lambda tx: tx.fetchall("SELECT scope FROM accounts WHERE user_id = ? ORDER BY scope", user_id)
        )
        return [str(r["scope"]) for r in rows]

    # -- bans -------------------------------------------------------------------------------------

    async def ban(self, user_id: int, scope: str, *, actor_id: int | None, reason: str | None = None) -> bool:
        """Ban a member in ``scope``; False if they already were."""
        now = self._clock()
        added = await self._db.run(
            lambda tx: tx.execute(
                "INSERT INTO bans (user_id, scope, actor_id, reason, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (user_id, scope) DO NOTHING",
                user_id,
                scope,
                actor_id,
                reason,
                now,
            )
        )
        return added == 1

    async def unban(self, user_id: int, scope: str) -> bool:
        """Lift a ban; False if there was none."""
        removed = await self._db.run(
            lambda tx: tx.execute("DELETE FROM bans WHERE user_id = ? AND scope = ?", user_id, scope)
        )
        return removed == 1

    async def banned_in(self, user_id: int, scopes: Sequence[str]) -> str | None:
        """The first of ``scopes`` the member is banned in."""
        if not scopes:
            return None
        rows = await self._db.run(
            lambda tx: tx.fetchall(
                f"SELECT scope FROM bans WHERE user_id = ? AND scope IN ({', '.join('?' for _ in scopes)})",
                user_id,
                *scopes,
            )
        )
        found = {str(r["scope"]) for r in rows}
        return next((s for s in scopes if s in found), None)

    # -- reports ----------------------------------------------------------------------------------

    async def usage(
        self,
        day_starts: Sequence[float],
        *,
        guild_id: int | None = None,
        top: int = 5,
    ) -> Usage:
        """Activity for each 24-hour day starting at ``day_starts``, the top members, and jobs not yet sent."""
        guild_sql, guild_params = (" AND guild_id = ?", [guild_id]) if guild_id is not None else ("", [])
        days = []
        async with self._db.transaction() as tx:
            for start in day_starts:
                end = start + _DAY
                finished = "finished_at >= ? AND finished_at < ?"
                row = await tx.fetchone(
                    f"SELECT COALESCE(SUM(CASE WHEN state = 'delivered' AND {finished} THEN 1 ELSE 0 END), 0) AS d, "
                    f"COALESCE(SUM(CASE WHEN state = 'failed' AND {finished} THEN 1 ELSE 0 END), 0) AS f, "
                    f"COALESCE(SUM(CASE WHEN state = 'delivered' AND {finished} THEN cost ELSE 0 END), 0) AS c, "
                    "COALESCE(SUM(CASE WHEN submit_started_at >= ? AND submit_started_at < ? "
                    "AND charged = 1 THEN image_count ELSE 0 END), 0) AS s, "
                    "COALESCE(SUM(CASE WHEN submit_started_at >= ? AND submit_started_at < ? "
                    "AND charged = 1 THEN reapi_millicredits ELSE 0 END), 0) AS m "
                    f"FROM jobs WHERE (({finished}) OR (submit_started_at >= ? AND submit_started_at < ?)){guild_sql}",
                    *(start, end) * 7,
                    *guild_params,
                )
                assert row is not None
                days.append(DayUsage(start, int(row["d"]), int(row["f"]), int(row["c"]), int(row["s"]), int(row["m"])))
            users: list[UserUsage] = []
            if day_starts:
                rows = await tx.fetchall(
                    "SELECT user_id, COUNT(*) AS d, COALESCE(SUM(cost), 0) AS c FROM jobs "
                    f"WHERE state = 'delivered' AND finished_at >= ? AND finished_at < ?{guild_sql} "
                    "GROUP BY user_id ORDER BY d DESC, c DESC, user_id LIMIT ?",
                    day_starts[0],
                    day_starts[-1] + _DAY,
                    *guild_params,
                    top,
                )
                users = [UserUsage(int(r["user_id"]), int(r["d"]), int(r["c"])) for r in rows]
            row = await tx.fetchone(
                "SELECT COUNT(*) AS n, COALESCE(SUM(reapi_millicredits), 0) AS m FROM jobs "
                f"WHERE submit_started_at IS NULL AND state NOT IN {_TERMINAL}" + guild_sql,
                *guild_params,
            )
        waiting, waiting_cost = (int(row["n"]), int(row["m"])) if row else (0, 0)
        return Usage(tuple(days), tuple(users), waiting, waiting_cost)

    async def audit_ledger(self) -> LedgerAudit:
        """What ``imagine-bot ledger check`` verifies (see ``bot.store.sql_audit``)."""
        return await self._db.run(audit_ledger)

    # -- meta -------------------------------------------------------------------------------------

    async def claim_meta(self, key: str, value: str) -> bool:
        """Store ``value`` only if ``key`` is new; True for the one caller that did."""
        added = await self._db.run(
            lambda tx: tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", key, value
            )
        )
        return added == 1
