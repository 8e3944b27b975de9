"""Records of the credits and their administration: a member's rules, balance and ledger entries, the owner's
spend cap, the queue's limits, usage reports and the ledger audit."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "AccountRules",
    "Balance",
    "ClaimLimits",
    "DatabaseInUse",
    "DayUsage",
    "InsufficientBalance",
    "LedgerAudit",
    "LedgerEntry",
    "QueueLimitExceeded",
    "QueueLimits",
    "SpendCapExceeded",
    "SpendLimit",
    "Usage",
    "UserUsage",
]


class SpendCapExceeded(Exception):
    """Accepting the job would pass the owner's daily reAPI spend cap; nothing was stored.

    Both figures are in thousandths of a reAPI credit: ``counted`` already counts today, ``cap`` is the limit.
    """

    def __init__(self, counted: int, cap: int) -> None:
        super().__init__(f"{counted} millicredits already count against a cap of {cap}")
        self.counted = counted
        self.cap = cap


class QueueLimitExceeded(Exception):
    """Accepting the job would pass a limit on waiting jobs; nothing was stored.

    ``per_user`` tells which limit: the member's own (``jobs.per_user_queued``) or everyone's (``jobs.max_queued``).
    """

    def __init__(self, *, limit: int, per_user: bool) -> None:
        super().__init__(f"{'the member has' if per_user else 'there are'} {limit} jobs waiting already")
        self.limit = limit
        self.per_user = per_user


class DatabaseInUse(Exception):
    """Another bot process already serves this SQLite file: SQLite keeps one bot process; several need PostgreSQL."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the SQLite database {path} is in use by another imagine-bot process: SQLite serves one bot process; "
            "to run several, use PostgreSQL (database.url = postgresql://…)"
        )
        self.path = path


@dataclass(frozen=True, slots=True)
class ClaimLimits:
    """How many jobs may hold a runner slot at once (a live lease on an unfinished job): in all, and per member.

    Checked by ``claim_next`` and ``claim_orphan`` against the database, so they hold across processes.
    """

    max_running: int
    per_user_running: int


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """How many jobs may wait (state 'queued') at once: in all, and per member. Checked inside create_job."""

    max_queued: int
    per_user_queued: int


@dataclass(frozen=True, slots=True)
class SpendLimit:
    """The owner's daily cap in thousandths of a reAPI credit: the reAPI cost (``Job.reapi_millicredits``) of jobs
    waiting plus jobs sent since ``since`` that reAPI may have charged for (``Job.charged``, a stored fact), plus
    the new job's, must stay within it.
    """

    since: float
    max_millicredits: int


@dataclass(frozen=True, slots=True)
class DayUsage:
    """One UTC day of activity."""

    day_start: float
    delivered: int
    failed: int
    credits: int  # bot credits captured
    charged: int  # images reAPI may have charged the owner for
    spent_millicredits: int = 0  # what reAPI may have charged for them, in thousandths of a reAPI credit


@dataclass(frozen=True, slots=True)
class UserUsage:
    """One member's delivered images and captured credits over a window."""

    user_id: int
    delivered: int
    credits: int


@dataclass(frozen=True, slots=True)
class Usage:
    """Activity per day, the top members, and the jobs accepted but not yet sent to reAPI."""

    days: tuple[DayUsage, ...]
    top_users: tuple[UserUsage, ...]
    in_flight: int
    in_flight_millicredits: int = 0  # what reAPI will charge for those jobs, in thousandths of a reAPI credit


@dataclass(frozen=True, slots=True)
class LedgerAudit:
    """What ``imagine-bot ledger check`` found; ``problems`` is empty when the books balance."""

    accounts: int
    entries: int
    reserves: int
    in_flight: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether every balance and every reservation checks out."""
        return not self.problems


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One append-only change to a balance.

    ``id`` orders an account's own entries (allowances, grants, adjustments); a job's reservation and settlement
    are read from the job's row and have none (``job_id`` names it).
    """

    id: int | None
    user_id: int
    scope: str
    delta: int
    reason: str
    job_id: str | None
    actor_id: int | None
    created_at: float
    note: str | None = None
    cap: int | None = None  # on 'allowance' entries: the max_balance the refill was applied under


@dataclass(frozen=True, slots=True)
class AccountRules:
    """The allowance rules that apply to one member when their balance is touched.

    ``anchor`` None refills on a rolling schedule (every ``period_seconds`` after the account's period began);
    otherwise refills happen at ``anchor + k * period_seconds`` (epoch seconds, UTC), e.g. daily at 06:00.
    """

    allowance: int
    period_seconds: float
    max_balance: int
    anchor: float | None = None

    def period_start(self, now: float) -> float:
        """When a period beginning at ``now`` starts: ``now`` itself (rolling) or the last scheduled refill."""
        if self.anchor is None:
            return now
        return self.anchor + math.floor((now - self.anchor) / self.period_seconds) * self.period_seconds

    def refills_due(self, period_start: float, now: float) -> tuple[int, float]:
        """How many refills are due since ``period_start``, and where the current period starts."""
        if self.anchor is None:
            periods = max(0, math.floor((now - period_start) / self.period_seconds))
            return periods, period_start + periods * self.period_seconds
        # Scheduled boundaries crossed in (period_start, now]; also right for a start left by a rolling schedule.
        crossed = math.floor((now - self.anchor) / self.period_seconds) - math.floor(
            (period_start - self.anchor) / self.period_seconds
        )
        if crossed < 1:
            return 0, period_start
        return crossed, self.period_start(now)

    def next_refill(self, period_start: float) -> float:
        """When the next refill is due for a period that started at ``period_start``."""
        return self.period_start(period_start) + self.period_seconds

    def refilled(self, balance: int, periods: int, *, held: int = 0) -> int:
        """The spendable balance after ``periods`` refills, never lowered.

        Refills never lift ``balance + held`` above ``max_balance``, so refunding what is held cannot pass it either.
        """
        if periods < 1 or balance + held >= self.max_balance:
            return balance
        return min(self.max_balance - held, balance + periods * self.allowance)


@dataclass(frozen=True, slots=True)
class Balance:
    """A member's balance after any refill that was due.

    ``balance`` is what the member can spend; ``held`` is reserved for their jobs in progress (returned to
    ``balance`` if they fail, gone once delivered).
    """

    user_id: int
    scope: str
    balance: int
    next_refill_at: float
    held: int = 0


class InsufficientBalance(Exception):
    """The member cannot pay for the job; nothing was stored."""

    def __init__(self, balance: Balance, cost: int) -> None:
        super().__init__(f"balance {balance.balance} is below the cost {cost}")
        self.balance = balance
        self.cost = cost
