"""The ledger audit behind ``imagine-bot ledger check``, in portable SQL over one read transaction.

The ledger is a view (migration 0016): an account's own entries (allowances, grants, adjustments) are rows of
``account_entries``; a job's reservation (-cost) and settlement (a capture of 0 or a refund of +cost, by the state
it ended in) are read from its row. So each job is reserved once and settled at most once, and only when ended, by
construction; what can still go wrong is the accounts' columns, which every money step moves beside those rows.

The audit checks that balances equal their ledger sums, that ``held`` equals the cost of the jobs still unfinished,
that ``spent`` equals the cost of the jobs delivered, and that no refill ever lifted balance + held above the
max_balance it was applied under (only grants and admin adjustments may pass it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.records import LedgerAudit

if TYPE_CHECKING:
    from bot.store.db import Tx

__all__ = ["ACCOUNT_REASONS", "audit_ledger"]

ACCOUNT_REASONS = ("allowance", "grant", "adjust")  # the entries an account makes of its own (not a job's)
_TERMINAL = "('delivered', 'failed')"


async def audit_ledger(tx: Tx) -> LedgerAudit:
    """Every problem found in the books; ``LedgerAudit.ok`` when there is none."""
    accounts = await _count(tx, "SELECT COUNT(*) AS n FROM accounts")
    entries = await _count(tx, "SELECT COUNT(*) AS n FROM ledger")
    reserves = await _count(tx, "SELECT COUNT(*) AS n FROM jobs WHERE cost > 0")
    in_flight = await _count(tx, f"SELECT COUNT(*) AS n FROM jobs WHERE cost > 0 AND state NOT IN {_TERMINAL}")
    problems = await _balance_problems(tx)
    problems += await _held_problems(tx)
    problems += await _spent_problems(tx)
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
        f"SELECT id, reason FROM account_entries WHERE reason NOT IN ({', '.join('?' for _ in ACCOUNT_REASONS)}) "
        "OR job_id IS NOT NULL",
        *ACCOUNT_REASONS,
    ):
        problems.append(f"ledger entry {r['id']}: unexpected {r['reason']!r} entry")
    return problems


async def _against_jobs(tx: Tx, column: str, jobs: str, what: str) -> list[str]:
    """Accounts whose ``column`` differs from the cost of their jobs in ``jobs`` (a condition on ``j.state``)."""
    return [
        f"account {r['user_id']}/{r['scope']}: {column} {r['recorded']} but its {what} jobs cost {r['cost']}"
        for r in await tx.fetchall(
            f"SELECT a.user_id, a.scope, a.{column} AS recorded, COALESCE(SUM(j.cost), 0) AS cost FROM accounts a "
            f"LEFT JOIN jobs j ON j.user_id = a.user_id AND j.scope = a.scope AND j.cost > 0 AND j.state {jobs} "
            f"GROUP BY a.user_id, a.scope, a.{column}"
        )
        if int(r["recorded"]) != int(r["cost"])
    ]


async def _held_problems(tx: Tx) -> list[str]:
    """accounts.held must equal the cost of the account's jobs not yet delivered or failed."""
    return await _against_jobs(tx, "held", f"NOT IN {_TERMINAL}", "unfinished")


async def _spent_problems(tx: Tx) -> list[str]:
    """accounts.spent must equal the cost of the account's delivered jobs; the captured totals its allowances
    recorded (see ``_refill_problems``) must never fall, nor pass it."""
    problems = await _against_jobs(tx, "spent", "= 'delivered'", "delivered")
    for r in await tx.fetchall(
        "SELECT t.id, t.user_id, t.scope, t.spent, t.before, a.spent AS now FROM (SELECT id, user_id, scope, spent, "
        "LAG(spent) OVER (PARTITION BY user_id, scope ORDER BY id) AS before FROM account_entries "
        "WHERE reason = 'allowance') t JOIN accounts a ON a.user_id = t.user_id AND a.scope = t.scope "
        "WHERE t.spent IS NULL OR t.spent < t.before OR t.spent > a.spent ORDER BY t.id"
    ):
        problems.append(
            f"ledger entry {r['id']}: allowance for {r['user_id']}/{r['scope']} recorded {r['spent']} credits "
            f"captured (the one before it {r['before']}, the account now {r['now']})"
        )
    return problems


async def _refill_problems(tx: Tx) -> list[str]:
    """No 'allowance' entry lifted balance + held above the max_balance it recorded.

    balance + held moves only by an account's own entries (a reservation and a refund move credits between the
    two; a capture spends held ones). After an entry it is the running sum of the account's own entries in id order
    (every write locks the account row first, so id order is commit order) less what was captured by then, which
    each allowance records (``spent``, read under the same lock).
    """
    return [
        f"ledger entry {r['id']}: allowance of {r['delta']} for {r['user_id']}/{r['scope']} lifted balance + held "
        f"to {r['total']}, above max_balance {r['cap']}"
        for r in await tx.fetchall(
            "SELECT id, user_id, scope, delta, cap, total FROM (SELECT id, user_id, scope, reason, delta, cap, "
            "SUM(delta) OVER (PARTITION BY user_id, scope ORDER BY id) - COALESCE(spent, 0) AS total "
            "FROM account_entries) t "
            "WHERE reason = 'allowance' AND cap IS NOT NULL AND delta > 0 AND total > cap ORDER BY id"
        )
    ]


async def _count(tx: Tx, sql: str) -> int:
    row = await tx.fetchone(sql)
    return int(row["n"]) if row else 0
