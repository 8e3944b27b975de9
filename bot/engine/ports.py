"""What the job runner needs from the outside world, as Protocols: storage, reAPI, Discord, time.

The runner imports only these; the Discord side (``bot.surface.notifier``), the SQL store and the reAPI client
implement them, and the unit tests give fakes of each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from bot.engine.failures import JobFailure
    from bot.engine.images import PreparedImage
    from bot.engine.progress import Progress
    from bot.reapi import DownloadedImage, GenerationRequest, SubmittedTask, Task
    from bot.store import (
        AccountRules,
        Balance,
        ClaimLimits,
        HistoryEntry,
        Job,
        JobState,
        LedgerAudit,
        NewJob,
        QueueLimits,
        SpendLimit,
        Usage,
    )

__all__ = [
    "AccountStore",
    "Alerts",
    "BanLookup",
    "Clock",
    "Cooldown",
    "DeliveryDeferred",
    "DeliveryFailed",
    "DeliveryJournal",
    "ImageService",
    "JobObserver",
    "JobStore",
    "MetaStore",
    "Notifier",
    "NullObserver",
    "SpendStore",
]


class DeliveryFailed(Exception):
    """Discord refused every way of showing a result (placeholder, channel, follow-up, DM)."""


class DeliveryDeferred(DeliveryFailed):
    """Discord could not take a result for now (a 429 past the library's own retries, a 5xx, no answer).

    Not a refusal: the runner keeps the job delivering and tries again after a backoff (at least ``retry_after``
    seconds when Discord said how long), a bounded number of times, before it gives up as for ``DeliveryFailed``.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Alerts(Protocol):
    """Somewhere to tell the bot's owners about a problem only they can fix (``bot.surface.alerts.OwnerAlerts``)."""

    def notify(self, text: str, *, key: str | None = None) -> None:
        """Send ``text`` in the background; never raises and never blocks the caller.

        Alerts with the same ``key`` are sent at most once a day (the same problem, seen again).
        """
        ...

    async def close(self) -> None:
        """Wait briefly for alerts still being sent."""
        ...


class Clock(Protocol):
    """Wall-clock seconds since the epoch (``time.time``); a fake in tests."""

    def __call__(self) -> float: ...


class Cooldown(Protocol):
    """An optional per-member pause between accepted jobs."""

    def check(self, user_id: int, *, pending: int = 0) -> None:
        """Raise a refusal (a UserFacingError) while the member must wait; ``pending``: jobs being admitted."""
        ...

    def record(self, user_id: int) -> None:
        """Count one accepted job for the member."""
        ...


class DeliveryJournal(Protocol):
    """Lets the notifier record a new message *before* and *after* posting it, so a resume never posts twice."""

    async def posting(self) -> None:
        """A new result message is about to be sent (stored before the request goes out)."""
        ...

    async def posted(self, message_id: int, *, channel_id: int | None = None, ephemeral: bool = False) -> None:
        """The new result message exists with this id (stored right after): in the member's DM channel
        ``channel_id`` when given, else in the job's channel, as an ephemeral follow-up when ``ephemeral``."""
        ...


class Notifier(Protocol):
    """Shows a job to its member: progress in the placeholder, then the image or the failure."""

    def progress(self, job: Job, progress: Progress) -> None:
        """Show ``progress`` soon; a newer call replaces one not yet sent; an identical text is never re-sent."""
        ...

    async def deliver(
        self, job: Job, image: PreparedImage, *, journal: DeliveryJournal, more: Sequence[PreparedImage] = ()
    ) -> int:
        """Show the image (and ``more``: the other images of a multi-image job) exactly once, all in one message;
        return the id of the message that holds them.

        Edits the placeholder (or the message recorded in ``job.result_message_id``); when it is gone, posts a
        new message through ``journal``; when ``job.post_started_at`` is set, first looks for the message an
        interrupted earlier attempt may have posted.

        Raises
        ------
        DeliveryDeferred
            Discord could not take it for now (429, 5xx, no answer); the runner tries again later.
        DeliveryFailed
            Discord refused every way of showing it (any ``discord.HTTPException`` ends here, never elsewhere).
        """
        ...

    async def fail(self, job: Job, failure: JobFailure) -> bool:
        """Replace the placeholder with why the job failed (and the refund); False if Discord refused."""
        ...

    async def close(self) -> None:
        """Stop pending progress edits (a shutdown)."""
        ...


class ImageService(Protocol):
    """The part of the reAPI client the runner uses (``bot.reapi.ReapiClient``)."""

    async def submit(self, request: GenerationRequest) -> SubmittedTask: ...

    async def get_task(self, task_id: str) -> Task: ...

    async def download(self, url: str, *, max_bytes: int) -> DownloadedImage: ...


class BanLookup(Protocol):
    """Whether a member is banned in one of some scopes ('global', 'guild:<id>')."""

    async def banned_in(self, user_id: int, scopes: Sequence[str]) -> str | None: ...


class MetaStore(Protocol):
    """Small bot-wide values: the reAPI pause, "alert once" claims."""

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...

    async def claim_meta(self, key: str, value: str) -> bool: ...


class SpendStore(MetaStore, Protocol):
    """What the spend guard reads and writes: today's usage and its pause."""

    async def usage(self, day_starts: Sequence[float], *, guild_id: int | None = None, top: int = 5) -> Usage: ...


class AccountStore(BanLookup, Protocol):
    """What credits administration uses: balances, admin changes, bans, history, reports and the audit."""

    async def balance(self, user_id: int, scope: str, rules: AccountRules) -> Balance: ...

    async def history(self, user_id: int, *, limit: int, offset: int = 0) -> list[HistoryEntry]: ...

    async def grant(
        self,
        user_id: int,
        scope: str,
        amount: int,
        rules: AccountRules,
        *,
        actor_id: int | None,
        note: str | None = None,
    ) -> Balance: ...

    async def set_balance(
        self,
        user_id: int,
        scope: str,
        amount: int,
        rules: AccountRules,
        *,
        actor_id: int | None,
        note: str | None = None,
    ) -> Balance: ...

    async def reset_balance(
        self, user_id: int, scope: str, rules: AccountRules, *, actor_id: int | None, note: str | None = None
    ) -> Balance: ...

    async def ban(self, user_id: int, scope: str, *, actor_id: int | None, reason: str | None = None) -> bool: ...

    async def unban(self, user_id: int, scope: str) -> bool: ...

    async def usage(self, day_starts: Sequence[float], *, guild_id: int | None = None, top: int = 5) -> Usage: ...

    async def audit_ledger(self) -> LedgerAudit: ...


class JobStore(BanLookup, Protocol):
    """The part of the store the runner uses; every change is conditional on the state the caller saw."""

    async def create_job(
        self,
        job: NewJob,
        *,
        rules: AccountRules | None,
        spend: SpendLimit | None = None,
        queue: QueueLimits | None = None,
    ) -> Job: ...

    async def get_job(self, job_id: str) -> Job | None: ...

    async def active_jobs(self) -> list[Job]: ...

    async def claim_next(self, worker: str, *, lease_seconds: float, limits: ClaimLimits) -> Job | None:
        """Claim the next waiting job in fair order (per member, across processes) if the limits allow."""
        ...

    async def claim_many(
        self, worker: str, n: int, *, lease_seconds: float, limits: ClaimLimits, orphans: bool = False
    ) -> list[Job]:
        """Claim up to ``n`` jobs in one transaction: orphans first if asked (as ``claim_orphan`` calls would),
        then waiting jobs as ``n`` successive ``claim_next`` calls would."""
        ...

    async def claim_orphan(self, worker: str, *, lease_seconds: float, limits: ClaimLimits) -> Job | None:
        """Claim an unfinished job whose lease expired (its worker died or handed it back)."""
        ...

    async def renew_leases(self, worker: str, job_ids: Collection[str], *, lease_seconds: float) -> set[str]:
        """Extend this worker's leases; return the ids it no longer holds."""
        ...

    async def release(self, worker: str, job_ids: Collection[str]) -> None:
        """End this worker's leases now (a graceful stop): any worker may resume the jobs at once."""
        ...

    async def waiting_places(self) -> dict[str, int]:
        """The 1-based place, in claim order, of every waiting job."""
        ...

    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109 (a wait, not an operation with a timeout)
        """Return when a job may have become claimable (a new job, a freed slot), or after ``timeout``."""
        ...

    async def mark_submitting(self, job_id: str, *, at: float) -> Job | None: ...

    async def mark_running(self, job_id: str, *, task_id: str, at: float) -> Job | None: ...

    async def mark_delivering(self, job_id: str, *, at: float) -> Job | None: ...

    async def record_post_started(self, job_id: str, *, at: float) -> Job | None: ...

    async def record_result_message(
        self, job_id: str, *, message_id: int, channel_id: int | None = None, ephemeral: bool = False
    ) -> Job | None: ...

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
    ) -> Job | None: ...

    async def take_notices(self, *, idle: float, within: float | None = None, limit: int | None = 100) -> list[Job]: ...

    async def touch_notices(self, job_ids: Collection[str]) -> None: ...

    async def clear_notice(self, job_id: str) -> None: ...

    async def recent_durations(self, limit: int) -> list[float]: ...


class JobObserver(Protocol):
    """Hears what happens to jobs, for the metrics (``bot.observability.Metrics``).

    The runner calls it at the transitions it already stores, so the numbers come from one place instead of
    counters spread through the code. Every method is cheap, synchronous and never raises.
    """

    def job_accepted(self, job: Job) -> None:
        """A new job was stored as queued and ``job.cost`` credits were reserved for it."""
        ...

    def job_state(self, job: Job) -> None:
        """This runner holds ``job`` in ``job.state``: resumed after a restart, or moved on (and stored)."""
        ...

    def job_polled(self, job: Job) -> None:
        """The job's reAPI task is being polled once more (one logical poll, whatever its HTTP retries)."""
        ...

    def job_finished(self, job: Job) -> None:
        """``job`` (the stored row) was settled: delivered (captured), or failed with ``job.error_code`` (refunded)."""
        ...

    def job_released(self, job_id: str) -> None:
        """The runner let go of the job: it ended, was paused for a shutdown, or is handled elsewhere."""
        ...


class NullObserver:
    """A JobObserver that ignores everything: the runner's default when metrics are off (and in unit tests)."""

    def job_accepted(self, job: Job) -> None:
        """Ignored."""

    def job_state(self, job: Job) -> None:
        """Ignored."""

    def job_polled(self, job: Job) -> None:
        """Ignored."""

    def job_finished(self, job: Job) -> None:
        """Ignored."""

    def job_released(self, job_id: str) -> None:
        """Ignored."""
