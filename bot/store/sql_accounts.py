"""Credit administration in portable SQL: grants, adjustments, bans, the spend cap, usage and the ledger audit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.base import Balance, InsufficientBalance
from bot.store.records import DayUsage, LedgerAudit, SpendCapExceeded, Usage, UserUsage

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

    from bot.store.base import AccountRules
    from bot.store.records import SpendLimit
    from bot.store.sql import Database, Tx

__all__ = ["AccountsSql"]

_TERMINAL = "('delivered', 'failed')"
_SETTLE = "('capture', 'refund')"
_REASONS = ("allowance", "grant", "reserve", "capture", "refund", "adjust")
_DAY = 86_400.0
# A conditional update on a seen balance loses only to a concurrent change; retry that many times.
_ATTEMPTS = 20


def _charged(codes: Collection[str]) -> tuple[str, list[str]]:
    """SQL that is true for a job reAPI may have charged for, given that it reached 'submitting'."""
    if not codes:
        return "1 = 1", []
    marks = ", ".join("?" for _ in codes)
    # COALESCE: a NULL error code must not turn the whole condition NULL (= false).
    return f"NOT (state = 'failed' AND COALESCE(error_code, '') IN ({marks}))", list(codes)


class AccountsSql:
    """Mixed into SqlStore: the administrative side of the ledger. Money changes stay conditional."""

    _db: Database
    _clock: Callable[[], float]

    if TYPE_CHECKING:

        async def _touch_account(
            self, tx: Tx, user_id: int, scope: str, rules: AccountRules, now: float
        ) -> Balance: ...

        async def _read_balance(self, tx: Tx, user_id: int, scope: str, rules: AccountRules) -> Balance: ...

        @staticmethod
        async def _append(
            tx: Tx,
            user_id: int,
            scope: str,
            delta: int,
            reason: str,
            job_id: str | None,
            actor_id: int | None,
            now: float,
            note: str | None = None,
        ) -> None: ...

    # -- the owner's spend cap --------------------------------------------------------------------

    async def _check_spend(self, tx: Tx, spend: SpendLimit) -> None:
        """Refuse the job being created if it would pass the cap (called inside create_job's transaction)."""
        # Every capped creation updates this one row first, so on PostgreSQL they count one after another.
        await tx.execute("UPDATE spend_lock SET taken = ? WHERE id = 1", self._clock())
        charged, codes = _charged(spend.uncharged_codes)
        row = await tx.fetchone(
            "SELECT COUNT(*) AS n FROM jobs WHERE "
            f"(submit_started_at IS NULL AND state NOT IN {_TERMINAL}) OR (submit_started_at >= ? AND {charged})",
            spend.since,
            *codes,
        )
        counted = int(row["n"]) if row else 0
        if counted + 1 > spend.max_jobs:
            raise SpendCapExceeded(counted, spend.max_jobs)

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
        async with self._db.transaction() as tx:
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
            await self._append(tx, user_id, scope, amount, "grant", None, actor_id, now, note)
            return await self._read_balance(tx, user_id, scope, rules)

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
        """Set the balance to ``amount``; the 'adjust' entry holds the difference to the value seen."""
        if amount < 0:
            raise ValueError("a balance cannot be negative")
        return await self._adjust(user_id, scope, rules, amount, None, actor_id=actor_id, note=note)

    async def reset_balance(
        self, user_id: int, scope: str, rules: AccountRules, *, actor_id: int | None, note: str | None = None
    ) -> Balance:
        """A full allowance (capped at max_balance) and a refill period starting now."""
        start = rules.period_start(self._clock())
        target = min(rules.allowance, rules.max_balance)
        return await self._adjust(user_id, scope, rules, target, start, actor_id=actor_id, note=note or "reset")

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
    ) -> Balance:
        now = self._clock()
        async with self._db.transaction() as tx:
            for _ in range(_ATTEMPTS):
                await self._touch_account(tx, user_id, scope, rules, now)
                row = await tx.fetchone(
                    "SELECT balance, period_start FROM accounts WHERE user_id = ? AND scope = ?", user_id, scope
                )
                assert row is not None
                seen, seen_start = int(row["balance"]), float(row["period_start"])
                # Conditional on what was read: a reservation landing in between makes this miss, and we re-read.
                changed = await tx.execute(
                    "UPDATE accounts SET balance = ?, period_start = ? "
                    "WHERE user_id = ? AND scope = ? AND balance = ? AND period_start = ?",
                    target,
                    seen_start if period_start is None else period_start,
                    user_id,
                    scope,
                    seen,
                    seen_start,
                )
                if changed == 1:
                    if target != seen:
                        await self._append(tx, user_id, scope, target - seen, "adjust", None, actor_id, now, note)
                    return await self._read_balance(tx, user_id, scope, rules)
        raise RuntimeError(f"the balance of {user_id} in {scope} kept changing; try again")

    async def account_scopes(self, user_id: int) -> list[str]:
        """The scopes a member has a balance in."""
        async with self._db.transaction() as tx:
            rows = await tx.fetchall("SELECT scope FROM accounts WHERE user_id = ? ORDER BY scope", user_id)
        return [str(r["scope"]) for r in rows]

    # -- bans -------------------------------------------------------------------------------------

    async def ban(self, user_id: int, scope: str, *, actor_id: int | None, reason: str | None = None) -> bool:
        """Ban a member in ``scope``; False if they already were."""
        async with self._db.transaction() as tx:
            added = await tx.execute(
                "INSERT INTO bans (user_id, scope, actor_id, reason, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (user_id, scope) DO NOTHING",
                user_id,
                scope,
                actor_id,
                reason,
                self._clock(),
            )
        return added == 1

    async def unban(self, user_id: int, scope: str) -> bool:
        """Lift a ban; False if there was none."""
        async with self._db.transaction() as tx:
            removed = await tx.execute("DELETE FROM bans WHERE user_id = ? AND scope = ?", user_id, scope)
        return removed == 1

    async def banned_in(self, user_id: int, scopes: Sequence[str]) -> str | None:
        """The first of ``scopes`` the member is banned in."""
        if not scopes:
            return None
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT scope FROM bans WHERE user_id = ? AND scope IN ({', '.join('?' for _ in scopes)})",
                user_id,
                *scopes,
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
        uncharged_codes: Collection[str] = (),
    ) -> Usage:
        """Activity for each 24-hour day starting at ``day_starts``, the top members, and jobs not yet sent."""
        guild_sql, guild_params = (" AND guild_id = ?", [guild_id]) if guild_id is not None else ("", [])
        charged, codes = _charged(uncharged_codes)
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
                    f"AND {charged} THEN 1 ELSE 0 END), 0) AS s "
                    f"FROM jobs WHERE (({finished}) OR (submit_started_at >= ? AND submit_started_at < ?)){guild_sql}",
                    *(start, end) * 4,
                    *codes,
                    *(start, end) * 2,
                    *guild_params,
                )
                assert row is not None
                days.append(DayUsage(start, int(row["d"]), int(row["f"]), int(row["c"]), int(row["s"])))
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
                f"SELECT COUNT(*) AS n FROM jobs WHERE submit_started_at IS NULL AND state NOT IN {_TERMINAL}"
                + guild_sql,
                *guild_params,
            )
        return Usage(tuple(days), tuple(users), int(row["n"]) if row else 0)

    async def audit_ledger(self) -> LedgerAudit:
        """Balances equal ledger sums; each reserve is settled once (capture or refund) or its job is in flight."""
        problems: list[str] = []
        async with self._db.transaction() as tx:
            accounts = await self._count(tx, "SELECT COUNT(*) AS n FROM accounts")
            entries = await self._count(tx, "SELECT COUNT(*) AS n FROM ledger")
            reserves = await self._count(tx, "SELECT COUNT(*) AS n FROM ledger WHERE reason = 'reserve'")
            in_flight = await self._count(
                tx,
                "SELECT COUNT(*) AS n FROM ledger r JOIN jobs j ON j.id = r.job_id "
                f"WHERE r.reason = 'reserve' AND j.state NOT IN {_TERMINAL}",
            )
            for r in await tx.fetchall(
                "SELECT a.user_id, a.scope, a.balance, COALESCE(SUM(l.delta), 0) AS total FROM accounts a "
                "LEFT JOIN ledger l ON l.user_id = a.user_id AND l.scope = a.scope "
                "GROUP BY a.user_id, a.scope, a.balance"
            ):
                if int(r["balance"]) != int(r["total"]):
                    problems.append(
                        f"account {r['user_id']}/{r['scope']}: balance {r['balance']} but the ledger sums to "
                        f"{r['total']}"
                    )
            for r in await tx.fetchall(
                "SELECT DISTINCT l.user_id, l.scope FROM ledger l LEFT JOIN accounts a "
                "ON a.user_id = l.user_id AND a.scope = l.scope WHERE a.user_id IS NULL"
            ):
                problems.append(f"ledger entries for {r['user_id']}/{r['scope']}, which has no account")
            for r in await tx.fetchall(
                f"SELECT id, reason FROM ledger WHERE reason NOT IN ({', '.join('?' for _ in _REASONS)}) "
                f"OR (job_id IS NULL AND reason IN ('reserve', 'capture', 'refund'))",
                *_REASONS,
            ):
                problems.append(f"ledger entry {r['id']}: unexpected {r['reason']!r} entry")
            for r in await tx.fetchall(
                "SELECT job_id, reason, COUNT(*) AS n FROM ledger WHERE reason = 'reserve' GROUP BY job_id, reason "
                "HAVING COUNT(*) > 1 UNION ALL "
                f"SELECT job_id, 'settle' AS reason, COUNT(*) AS n FROM ledger WHERE reason IN {_SETTLE} "
                "GROUP BY job_id HAVING COUNT(*) > 1"
            ):
                problems.append(f"job {r['job_id']}: {r['n']} {r['reason']} entries (at most one allowed)")
            problems.extend(await self._reserve_problems(tx))
        return LedgerAudit(accounts, entries, reserves, in_flight, tuple(problems))

    async def _reserve_problems(self, tx: Tx) -> list[str]:
        problems = []
        for r in await tx.fetchall(
            "SELECT r.job_id, r.delta, j.state, j.cost, s.reason AS settle, s.delta AS settle_delta "
            "FROM ledger r LEFT JOIN jobs j ON j.id = r.job_id "
            f"LEFT JOIN ledger s ON s.job_id = r.job_id AND s.reason IN {_SETTLE} "
            "WHERE r.reason = 'reserve' AND (j.id IS NULL OR r.delta <> -j.cost OR r.user_id <> j.user_id "
            f"OR r.scope <> j.scope OR (s.id IS NULL AND j.state IN {_TERMINAL}) "
            f"OR (s.id IS NOT NULL AND j.state NOT IN {_TERMINAL}) "
            "OR (s.reason = 'capture' AND (j.state <> 'delivered' OR s.delta <> 0)) "
            "OR (s.reason = 'refund' AND (j.state <> 'failed' OR s.delta <> -r.delta)))"
        ):
            job, state, settle = r["job_id"], r["state"], r["settle"]
            if state is None:
                problems.append(f"job {job}: reserved but the job does not exist")
            elif settle is None:
                problems.append(f"job {job}: {state} but its reservation was never captured or refunded")
            elif state not in ("delivered", "failed"):
                done = "captured" if settle == "capture" else "refunded"
                problems.append(f"job {job}: still {state} but its reservation was already {done}")
            else:
                problems.append(
                    f"job {job}: {state} with reserve {r['delta']} (cost {r['cost']}) settled by {settle} "
                    f"{r['settle_delta']}"
                )
        for r in await tx.fetchall(
            f"SELECT s.job_id, s.reason FROM ledger s WHERE s.reason IN {_SETTLE} AND NOT EXISTS "
            "(SELECT 1 FROM ledger r WHERE r.job_id = s.job_id AND r.reason = 'reserve')"
        ):
            problems.append(f"job {r['job_id']}: {r['reason']} without a reservation")
        for r in await tx.fetchall(
            "SELECT j.id FROM jobs j WHERE j.cost > 0 AND NOT EXISTS "
            "(SELECT 1 FROM ledger r WHERE r.job_id = j.id AND r.reason = 'reserve')"
        ):
            problems.append(f"job {r['id']}: costs credits but has no reservation")
        return problems

    @staticmethod
    async def _count(tx: Tx, sql: str) -> int:
        row = await tx.fetchone(sql)
        return int(row["n"]) if row else 0

    # -- meta -------------------------------------------------------------------------------------

    async def claim_meta(self, key: str, value: str) -> bool:
        """Store ``value`` only if ``key`` is new; True for the one caller that did."""
        async with self._db.transaction() as tx:
            added = await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", key, value
            )
        return added == 1
