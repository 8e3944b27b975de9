"""Records of the credit administration: the owner's spend cap, usage reports and the ledger audit."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ClaimLimits",
    "DatabaseInUse",
    "DayUsage",
    "LedgerAudit",
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
