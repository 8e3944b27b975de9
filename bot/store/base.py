"""Storage interface: the one Protocol every backend implements (its records: ``bot.store.jobs`` and
``bot.store.records``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from bot.store.sql_settings import SettingsStorage

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from bot.store.jobs import HistoryEntry, Job, JobState, NewJob
    from bot.store.members import MemberPreferences
    from bot.store.records import (
        AccountRules,
        Balance,
        ClaimLimits,
        LedgerAudit,
        LedgerEntry,
        QueueLimits,
        SpendLimit,
        Usage,
    )

__all__ = ["Store"]


class Store(SettingsStorage, Protocol):
    """Everything the bot persists. Money and state changes are atomic and conditional."""

    async def close(self) -> None:
        """Release connections."""
        ...

    async def create_job(
        self,
        job: NewJob,
        *,
        rules: AccountRules | None,
        spend: SpendLimit | None = None,
        queue: QueueLimits | None = None,
    ) -> Job:
        """Store a queued job and reserve its cost in one transaction.

        ``rules`` None means the member is not charged (the cost must then be 0). ``spend`` is the owner's
        daily cap and ``queue`` the limits on waiting jobs, both checked in the same transaction, in that
        order, before the balance.

        Raises
        ------
        SpendCapExceeded
            One more image would pass ``spend``; nothing was stored.
        QueueLimitExceeded
            The member, or everyone, already has as many jobs waiting as ``queue`` allows; nothing was stored.
        InsufficientBalance
            The balance (after any refill due) is below ``job.cost``; nothing was stored.
        """
        ...

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id, if it exists."""
        ...

    async def active_jobs(self) -> list[Job]:
        """Every job not yet delivered or failed, oldest first (what a restart resumes)."""
        ...

    async def transition(
        self, job_id: str, *, from_states: Collection[JobState], to: JobState, **values: Any
    ) -> Job | None:
        """Move a job to ``to`` (setting ``values``) only if it is in one of ``from_states``.

        ``to`` may equal the current state (e.g. DELIVERING → DELIVERING to record ``post_started_at``). Entering
        SUBMITTING marks the job ``charged``. Returns the updated job, or None when it was not in an expected
        state (someone else moved it).
        """
        ...

    async def mark_submitting(self, job_id: str, *, at: float) -> Job | None:
        """queued → submitting, before the POST (sets ``charged``: from here on reAPI may charge)."""
        ...

    async def mark_running(self, job_id: str, *, task_id: str, at: float) -> Job | None:
        """submitting → running with reAPI's task id."""
        ...

    async def mark_delivering(self, job_id: str, *, at: float) -> Job | None:
        """running → delivering, when the task is completed."""
        ...

    async def record_post_started(self, job_id: str, *, at: float) -> Job | None:
        """A delivering job is about to post its result as a new message."""
        ...

    async def record_result_message(
        self, job_id: str, *, message_id: int, channel_id: int | None = None, ephemeral: bool = False
    ) -> Job | None:
        """A delivering job's result is in message ``message_id``: in DM channel ``channel_id`` when given, else in
        the job's channel (``ephemeral``: shown to its member only)."""
        ...

    async def record_delivery_retry(self, job_id: str, *, attempts: int, retry_at: float) -> Job | None:
        """A delivering job's delivery was put off: ``attempts`` so far, the next one not before ``retry_at``."""
        ...

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
        """End a job: capture its reservation when delivered, refund it otherwise; end its lease (the ended job is
        the member's history entry).

        Happens at most once per job: returns None if the job had already ended, or (with ``only_from``)
        was not in one of those states, e.g. a cancel that must not catch a job already sent to reAPI.
        ``charged`` overwrites the stored fact when given; ``notice_pending`` marks an outcome still to show.
        """
        ...

    # -- the job queue: leases in the database, so several processes share one queue ------------------

    async def claim_next(self, worker: str, *, lease_seconds: float, limits: ClaimLimits) -> Job | None:
        """Claim the next waiting job (queued, no live lease) in fair order, if ``limits`` leave a slot.

        Fair order is a round robin over members across all processes: each waiting job ranks by the slots its
        member holds now plus its 0-based place among that member's waiting jobs (oldest first), then by
        ``created_at`` and id; a member already holding ``per_user_running`` slots is passed over. The claim sets
        ``claimed_by``, a lease of ``lease_seconds`` from now and ``attempt + 1``. None when nothing may start.
        """
        ...

    async def claim_many(
        self, worker: str, n: int, *, lease_seconds: float, limits: ClaimLimits, orphans: bool = False
    ) -> list[Job]:
        """Claim up to ``n`` jobs in one transaction: the ones ``n`` successive ``claim_next`` calls take.

        In fair order, as many as ``limits`` leave slots for (each member within ``per_user_running``); [] when
        nothing may start. One transaction fills every free slot at once instead of one claim per slot. With
        ``orphans``, the jobs successive ``claim_orphan`` calls would take come first (in that order), then the
        waiting ones for what is left: the look for orphans costs no transaction of its own.
        """
        ...

    async def claim_orphan(self, worker: str, *, lease_seconds: float, limits: ClaimLimits) -> Job | None:
        """Claim the oldest job in submitting/running/delivering whose lease ran out (or never was), to resume it.

        It then holds a slot like a new job and counts against ``limits``; only an orphan in 'submitting' is
        claimed even when the limits are full, since resuming it only settles it (it is never re-POSTed).
        """
        ...

    async def renew_leases(self, worker: str, job_ids: Collection[str], *, lease_seconds: float) -> set[str]:
        """Extend to now + ``lease_seconds`` the live leases ``worker`` holds on these unfinished jobs.

        Returns the ids it no longer holds: ended, claimed by another worker, or whose lease already ran out
        (a lapsed lease is lost even if nobody took the job yet: it may be claimed again like any orphan).
        """
        ...

    async def release(self, worker: str, job_ids: Collection[str]) -> None:
        """A graceful stop: the leases ``worker`` holds on these jobs end now, so any process may resume them."""
        ...

    async def waiting_places(self) -> dict[str, int]:
        """The 1-based place of every waiting job in the fair order ``claim_next`` follows (queue positions)."""
        ...

    async def held_slots(self) -> int:
        """How many jobs hold a runner slot now (unfinished, with a live lease)."""
        ...

    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109 (returns normally at the deadline: not a cancel scope)
        """Return when work may have become available (a job created, ended or released), or after ``timeout``.

        PostgreSQL listens for other processes' notifications; SQLite hears its own process only. May return
        early without cause; never raises for a lost connection (it then waits out ``timeout``).
        """
        ...

    async def take_notices(self, *, idle: float, within: float | None = None, limit: int | None = 100) -> list[Job]:
        """Ended jobs whose outcome the member has not been shown yet (notice_pending) and that nobody touched for
        ``idle`` seconds, oldest first; each is touched, so other takes pass over it for ``idle`` seconds.
        ``within``: only jobs that ended at most that many seconds ago; ``limit``: at most that many (None: all)."""
        ...

    async def touch_notices(self, job_ids: Collection[str]) -> None:
        """These jobs' notices are still being shown by this process: touch them (as a take does), so that other
        processes' takes pass over them for their ``idle`` seconds; jobs without a pending notice are left alone."""
        ...

    async def clear_notice(self, job_id: str) -> None:
        """The outcome of this job has been shown."""
        ...

    async def history(self, user_id: int, *, limit: int, offset: int = 0) -> list[HistoryEntry]:
        """A member's finished jobs, newest first."""
        ...

    async def recent_durations(self, limit: int) -> list[float]:
        """How long recent delivered jobs took at reAPI, for progress estimates."""
        ...

    async def balance(self, user_id: int, scope: str, rules: AccountRules) -> Balance:
        """A member's balance, applying any refill that is due."""
        ...

    async def ledger(self, user_id: int | None = None) -> list[LedgerEntry]:
        """Ledger entries, oldest first, for one member or everyone."""
        ...

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
        """Add ``amount`` (may pass max_balance; negative takes credits back) as a 'grant' entry.

        Raises
        ------
        InsufficientBalance
            A negative ``amount`` is larger than the balance; nothing changed.
        """
        ...

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
        """Set the balance to ``amount`` with one 'adjust' entry for the difference (conditional on the seen value)."""
        ...

    async def reset_balance(
        self, user_id: int, scope: str, rules: AccountRules, *, actor_id: int | None, note: str | None = None
    ) -> Balance:
        """A fresh start: a full allowance (capped) counting what is held, and a new refill period ('adjust')."""
        ...

    async def account_scopes(self, user_id: int) -> list[str]:
        """The scopes a member has a balance in."""
        ...

    async def ban(self, user_id: int, scope: str, *, actor_id: int | None, reason: str | None = None) -> bool:
        """Ban a member in ``scope`` ('global' or 'guild:<id>'); False if they already were."""
        ...

    async def unban(self, user_id: int, scope: str) -> bool:
        """Lift a ban; False if there was none."""
        ...

    async def banned_in(self, user_id: int, scopes: Sequence[str]) -> str | None:
        """The first of ``scopes`` the member is banned in, or None."""
        ...

    async def usage(
        self,
        day_starts: Sequence[float],
        *,
        guild_id: int | None = None,
        top: int = 5,
    ) -> Usage:
        """Activity for each 24-hour day starting at ``day_starts`` (ascending), optionally for one guild."""
        ...

    async def audit_ledger(self) -> LedgerAudit:
        """Check the books: balances equal their ledger sums, held and spent equal the cost of the unfinished and
        the delivered jobs, and no refill lifted balance + held above its max_balance (a job's reservation and
        settlement are read from its row, so each is once by construction).
        """
        ...

    async def claim_meta(self, key: str, value: str) -> bool:
        """Store a value only if ``key`` is new; True for the one caller that stored it (e.g. "notify once")."""
        ...

    async def schema_version(self) -> int:
        """The newest migration recorded in the database; above the newest this code knows = a newer bot's."""
        ...

    async def get_meta(self, key: str) -> str | None:
        """A small bot-wide value (e.g. the hash of the last synced command tree)."""
        ...

    async def set_meta(self, key: str, value: str) -> None:
        """Store a small bot-wide value."""
        ...

    # -- the members' own commands (bot.store.sql_members) -------------------------------------------

    async def preferences(self, user_id: int) -> MemberPreferences:
        """The member's /preferences (the defaults when they never set any)."""
        ...

    async def save_preferences(self, preferences: MemberPreferences) -> MemberPreferences:
        """Store all of a member's preferences at once; returns what was stored."""
        ...

    async def member_jobs(self, user_id: int, *, limit: int) -> list[Job]:
        """The member's unfinished jobs, oldest first, at most ``limit``."""
        ...

    async def member_images_per_day(self, user_id: int, day_starts: Sequence[float]) -> list[int]:
        """How many images the member received on each 24-hour day starting at ``day_starts``."""
        ...
