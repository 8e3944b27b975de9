"""The ledger audit behind ``imagine-bot ledger check``, in portable SQL over one read transaction.

It checks that balances equal their ledger sums, that each reservation is settled at most once (and only when
its job has ended), that ``held`` equals the reservations still unsettled, and that no refill ever lifted
balance + held above the max_balance it was applied under (only grants and admin adjustments may pass it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.records import LedgerAudit

if TYPE_CHECKING:
    from bot.store.db import Tx

__all__ = ["REASONS", "audit_ledger"]

REASONS = ("allowance", "grant", "reserve", "capture", "refund", "adjust")
_TERMINAL = "('delivered', 'failed')"
_SETTLE = "('capture', 'refund')"


async def audit_ledger(tx: Tx) -> LedgerAudit:
    """Every problem found in the books; ``LedgerAudit.ok`` when there is none."""
    accounts = await _count(tx, "SELECT COUNT(*) AS n FROM accounts")
    entries = await _count(tx, "SELECT COUNT(*) AS n FROM ledger")
    reserves = await _count(tx, "SELECT COUNT(*) AS n FROM ledger WHERE reason = 'reserve'")
    in_flight = await _count(
        tx,
        "SELECT COUNT(*) AS n FROM ledger r JOIN jobs j ON j.id = r.job_id "
        f"WHERE r.reason = 'reserve' AND j.state NOT IN {_TERMINAL}",
    )
    problems = await _balance_problems(tx)
    problems += await _reserve_problems(tx)
    problems += await _held_problems(tx)
    problems += await _refill_problems(tx)
    return LedgerAudit(accounts, entries, reserves, in_flight, tuple(problems))


async def _balance_problems(tx: Tx) -> list[str]:
    problems = []
    for r in await tx.fetchall(
        "SELECT a.user_id, a.scope, a.balance, COALESCE(SUM(l.delta), 0) AS total FROM accounts a "
        "LEFT JOIN ledger l ON l.user_id = a.user_id AND l.scope = a.scope "
        "GROUP BY a.user_id, a.scope, a.balance"
    ):
        if int(r["balance"]) != int(r["total"]):
            problems.append(
                f"account {r['user_id']}/{r['scope']}: balance {r['balance']} but the ledger sums to {r['total']}"
            )
    for r in await tx.fetchall(
        "SELECT DISTINCT l.user_id, l.scope FROM ledger l LEFT JOIN accounts a "
        "ON a.user_id = l.user_id AND a.scope = l.scope WHERE a.user_id IS NULL"
    ):
        problems.append(f"ledger entries for {r['user_id']}/{r['scope']}, which has no account")
    for r in await tx.fetchall(
        f"SELECT id, reason FROM ledger WHERE reason NOT IN ({', '.join('?' for _ in REASONS)}) "
        f"OR (job_id IS NULL AND reason IN ('reserve', 'capture', 'refund'))",
        *REASONS,
    ):
        problems.append(f"ledger entry {r['id']}: unexpected {r['reason']!r} entry")
    for r in await tx.fetchall(
        "SELECT job_id, reason, COUNT(*) AS n FROM ledger WHERE reason = 'reserve' GROUP BY job_id, reason "
        "HAVING COUNT(*) > 1 UNION ALL "
        f"SELECT job_id, 'settle' AS reason, COUNT(*) AS n FROM ledger WHERE reason IN {_SETTLE} "
        "GROUP BY job_id HAVING COUNT(*) > 1"
    ):
        problems.append(f"job {r['job_id']}: {r['n']} {r['reason']} entries (at most one allowed)")
    return problems


async def _reserve_problems(tx: Tx) -> list[str]:
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


async def _held_problems(tx: Tx) -> list[str]:
    """accounts.held must equal the reservations not yet captured or refunded."""
    return [
        f"account {r['user_id']}/{r['scope']}: held {r['held']} but its unsettled reservations sum to {r['unsettled']}"
        for r in await tx.fetchall(
            "SELECT a.user_id, a.scope, a.held, COALESCE(SUM(-r.delta), 0) AS unsettled FROM accounts a "
            "LEFT JOIN ledger r ON r.user_id = a.user_id AND r.scope = a.scope AND r.reason = 'reserve' "
            f"AND NOT EXISTS (SELECT 1 FROM ledger s WHERE s.job_id = r.job_id AND s.reason IN {_SETTLE}) "
            "GROUP BY a.user_id, a.scope, a.held"
        )
        if int(r["held"]) != int(r["unsettled"])
    ]


async def _refill_problems(tx: Tx) -> list[str]:
    """No 'allowance' entry lifted balance + held above the max_balance it recorded.

    balance + held after an entry is the running sum of the account's entries in ledger order where a reserve
    and a refund count 0 (they move credits between balance and held) and a capture counts what its job reserved
    (the held credits are spent). Every ledger write locks its account row first, so id order is commit order.
    """
    return [
        f"ledger entry {r['id']}: allowance of {r['delta']} for {r['user_id']}/{r['scope']} lifted balance + held "
        f"to {r['total']}, above max_balance {r['cap']}"
        for r in await tx.fetchall(
            "SELECT id, user_id, scope, delta, cap, total FROM (SELECT l.id, l.user_id, l.scope, l.reason, l.delta, "
            "l.cap, SUM(CASE WHEN l.reason IN ('reserve', 'refund') THEN 0 WHEN l.reason = 'capture' "
            "THEN COALESCE(r.delta, 0) ELSE l.delta END) "
            "OVER (PARTITION BY l.user_id, l.scope ORDER BY l.id) AS total FROM ledger l "
            "LEFT JOIN ledger r ON l.reason = 'capture' AND r.job_id = l.job_id AND r.reason = 'reserve') t "
            "WHERE reason = 'allowance' AND cap IS NOT NULL AND delta > 0 AND total > cap ORDER BY id"
        )
    ]


async def _count(tx: Tx, sql: str) -> int:
    row = await tx.fetchone(sql)
    return int(row["n"]) if row else 0
