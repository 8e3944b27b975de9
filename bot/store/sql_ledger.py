"""The balance primitives every money change is built from: lock and refill an account, reserve, append."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.records import Balance, InsufficientBalance

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.store.db import Database, Row, Tx
    from bot.store.records import AccountRules

__all__ = ["LedgerSql"]

_PERIOD_HINTS = 100_000  # accounts whose period start is remembered (about 10 MB at most)


class LedgerSql:
    """Mixed into SqlStore (through AccountsSql): account rows and ledger entries, always inside a caller's Tx."""

    _db: Database
    _clock: Callable[[], float]
    _for_update: str  # " FOR UPDATE" where reads before a write must lock the row (PostgreSQL), else ""
    _periods: dict[tuple[int, str], float]  # each account's period start as last seen: a hint, never trusted

    async def _reserve(self, tx: Tx, user_id: int, scope: str, cost: int, rules: AccountRules) -> None:
        """Move ``cost`` from the spendable balance to held (the account was touched earlier in ``tx``)."""
        changed = await tx.execute(
            "UPDATE accounts SET balance = balance - ?, held = held + ? "
            "WHERE user_id = ? AND scope = ? AND balance >= ?",
            cost,
            cost,
            user_id,
            scope,
            cost,
        )
        if changed != 1:
            # The refill applied by the touch is rolled back with the transaction; it is recomputed next time.
            raise InsufficientBalance(await self._read_balance(tx, user_id, scope, rules), cost)

    async def _reserve_quickly(
        self, tx: Tx, user_id: int, scope: str, cost: int, rules: AccountRules, now: float
    ) -> bool:
        """Reserve ``cost`` in one statement when no refill can be due; False leaves it to the full path.

        ``_periods`` remembers each account's period start as last seen; if no refill is due for it at ``now``, the
        reservation is conditional on the row still having that period start (and enough balance), so a stale
        hint (another process refilled, an admin reset) only means the full path: touch, then ``_reserve``.
        """
        seen = self._periods.get((user_id, scope))
        if seen is None or rules.refills_due(seen, now)[0] >= 1:
            return False
        changed = await tx.execute(
            "UPDATE accounts SET balance = balance - ?, held = held + ? "
            "WHERE user_id = ? AND scope = ? AND balance >= ? AND period_start = ?",
            cost,
            cost,
            user_id,
            scope,
            cost,
            seen,
        )
        return changed == 1

    def _remember_period(self, user_id: int, scope: str, period_start: float | None) -> None:
        if len(self._periods) >= _PERIOD_HINTS:
            self._periods.clear()  # a hint is only a shortcut: dropping them all is always safe
        if period_start is None:
            self._periods.pop((user_id, scope), None)
        else:
            self._periods[user_id, scope] = period_start

    async def _lock_account(self, tx: Tx, user_id: int, scope: str) -> Row | None:
        # FOR UPDATE on PostgreSQL: a refund committing between this read and the refill below would otherwise
        # make the refill's conditional UPDATE miss, and the member be refused although a refill was due.
        return await tx.fetchone(
            "SELECT balance, held, period_start, spent FROM accounts "
            f"WHERE user_id = ? AND scope = ?{self._for_update}",
            user_id,
            scope,
        )

    async def _touch_account(self, tx: Tx, user_id: int, scope: str, rules: AccountRules, now: float) -> Balance:
        """Lock the account (creating it with a full allowance) and apply the refills due since its period began."""
        row = await self._lock_account(tx, user_id, scope)
        if row is None:
            start = min(rules.allowance, rules.max_balance)
            created = await tx.execute(
                "INSERT INTO accounts (user_id, scope, balance, period_start) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_id, scope) DO NOTHING",
                user_id,
                scope,
                start,
                rules.period_start(now),
            )
            if created == 1 and start > 0:
                await self._append(tx, user_id, scope, start, "allowance", None, now, cap=rules.max_balance, spent=0)
            # Another transaction may have created it first (DO NOTHING takes no lock): lock it now.
            row = await self._lock_account(tx, user_id, scope)
            assert row is not None
        balance, held, period_start = int(row["balance"]), int(row["held"]), float(row["period_start"])
        periods, new_start = rules.refills_due(period_start, now)
        if periods >= 1:
            refilled = rules.refilled(balance, periods, held=held)
            # Conditional on what was read, so two concurrent touches cannot both refill.
            changed = await tx.execute(
                "UPDATE accounts SET balance = ?, period_start = ? "
                "WHERE user_id = ? AND scope = ? AND balance = ? AND held = ? AND period_start = ?",
                refilled,
                new_start,
                user_id,
                scope,
                balance,
                held,
                period_start,
            )
            if changed == 1 and refilled != balance:
                delta = refilled - balance
                cap, spent = rules.max_balance, int(row["spent"])  # what was captured by now, under the lock
                await self._append(tx, user_id, scope, delta, "allowance", None, now, cap=cap, spent=spent)
            self._remember_period(user_id, scope, new_start if changed == 1 else None)
        else:
            self._remember_period(user_id, scope, period_start)
        return await self._read_balance(tx, user_id, scope, rules)

    async def _read_balance(self, tx: Tx, user_id: int, scope: str, rules: AccountRules) -> Balance:
        row = await tx.fetchone(
            "SELECT balance, held, period_start FROM accounts WHERE user_id = ? AND scope = ?", user_id, scope
        )
        assert row is not None
        return Balance(
            user_id=user_id,
            scope=scope,
            balance=int(row["balance"]),
            next_refill_at=rules.next_refill(float(row["period_start"])),
            held=int(row["held"]),
        )

    @staticmethod
    async def _append(
        tx: Tx,
        user_id: int,
        scope: str,
        delta: int,
        reason: str,
        actor_id: int | None,
        now: float,
        note: str | None = None,
        *,
        cap: int | None = None,
        spent: int | None = None,
    ) -> None:
        """Append an entry of the account's own (an allowance, a grant, an adjustment), under its row lock.

        A job's entries are not appended: the ledger view reads them from its row. An allowance records the cap it
        was applied under and the account's captured total then (``spent``), which the refill audit needs.
        """
        await tx.execute(
            "INSERT INTO account_entries (user_id, scope, delta, reason, actor_id, created_at, note, cap, spent) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            user_id,
            scope,
            delta,
            reason,
            actor_id,
            now,
            note,
            cap,
            spent,
        )
