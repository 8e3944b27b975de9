"""Fakes of the job runner's ports (bot.engine.ports): an in-memory store, a notifier, a scripted reAPI and a clock.

They keep the contracts the real adapters keep (conditional transitions, settle-once, the ledger's
reserve/capture/refund) so the runner can be driven through every branch without Discord, SQL or HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from PIL import Image

from bot.engine.ports import DeliveryDeferred, DeliveryFailed
from bot.reapi import DownloadedImage, SubmittedTask, Task
from bot.store import Balance, InsufficientBalance, Job, JobState, QueueLimitExceeded
from bot.store.steps import NamedSteps

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from bot.engine.failures import JobFailure
    from bot.engine.images import PreparedImage
    from bot.engine.ports import DeliveryJournal
    from bot.engine.progress import Progress
    from bot.store import AccountRules, ClaimLimits, NewJob, QueueLimits, SpendLimit


class FakeClock:
    """Wall-clock seconds that only move when the runner sleeps (or a test advances them)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class StoreDown(Exception):
    """What the fake store raises when a test makes it fail (a locked or lost database)."""


class FakeStore(NamedSteps):
    """The runner's JobStore in memory, with the real store's conditional semantics and injectable failures."""

    def __init__(self, clock: FakeClock, *, balance: int = 100) -> None:
        self.clock = clock
        self.jobs: dict[str, Job] = {}
        self.ledger: list[tuple[str, str]] = []  # (job id, reserve|capture|refund)
        self.balances: dict[int, int] = {}
        self.start_balance = balance
        self.meta: dict[str, str] = {}
        self.banned: set[tuple[int, str]] = set()
        self.fail_next: dict[str, int] = {}
        self.claim_sizes: list[int] = []  # n of each claim_many call
        self.touched: dict[str, float] = {}  # job id -> when take_notices last took it (the rows' updated_at)
        self._ids = itertools.count(1)
        self._work = asyncio.Event()

    def _maybe_fail(self, method: str) -> None:
        left = self.fail_next.get(method, 0)
        if left:
            self.fail_next[method] = left - 1
            raise StoreDown(f"{method}: database is locked")

    def add(self, job: Job) -> Job:
        """Put a job in any state straight into the store (a row left by an earlier process)."""
        self.jobs[job.id] = job
        if job.cost:
            self.ledger.append((job.id, "reserve"))
        return job

    async def create_job(
        self,
        job: NewJob,
        *,
        rules: AccountRules | None,
        spend: SpendLimit | None = None,
        queue: QueueLimits | None = None,
    ) -> Job:
        await asyncio.sleep(0)  # a real store awaits its database here: other submissions run meanwhile
        self._maybe_fail("create_job")
        if queue is not None:
            waiting = [j for j in self.jobs.values() if j.state is JobState.QUEUED]
            if len([j for j in waiting if j.user_id == job.user_id]) >= queue.per_user_queued:
                raise QueueLimitExceeded(limit=queue.per_user_queued, per_user=True)
            if len(waiting) >= queue.max_queued:
                raise QueueLimitExceeded(limit=queue.max_queued, per_user=False)
        cost = job.cost if rules is not None else 0
        balance = self.balances.setdefault(job.user_id, self.start_balance)
        if cost > balance:
            raise InsufficientBalance(Balance(job.user_id, job.scope, balance, self.clock.now + 3600), cost)
        self.balances[job.user_id] = balance - cost
        values = {name: getattr(job, name) for name in job.__dataclass_fields__}
        values["cost"] = cost
        stored = Job(**values, id=f"{next(self._ids):012x}", state=JobState.QUEUED, created_at=self.clock.now)
        self.jobs[stored.id] = stored
        if cost:
            self.ledger.append((stored.id, "reserve"))
        self._work.set()
        return stored

    async def get_job(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    async def active_jobs(self) -> list[Job]:
        return sorted((j for j in self.jobs.values() if not j.state.is_terminal), key=lambda j: (j.created_at, j.id))

    async def transition(
        self, job_id: str, *, from_states: Collection[JobState], to: JobState, **values: Any
    ) -> Job | None:
        self._maybe_fail("transition")
        assert not to.is_terminal, "use finish_job"
        job = self.jobs.get(job_id)
        if job is None or job.state.is_terminal or job.state not in from_states:
            return None
        if to is JobState.SUBMITTING:
            values.setdefault("charged", True)  # from 'submitting' on, reAPI may have charged
        moved = replace(job, state=to, **values)
        self.jobs[job_id] = moved
        return moved

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
        self._maybe_fail("finish_job")
        self._maybe_fail("capture" if delivered else "refund")
        job = self.jobs.get(job_id)
        if job is None or job.state.is_terminal or (only_from is not None and job.state not in only_from):
            return None
        finished = replace(
            job,
            state=JobState.DELIVERED if delivered else JobState.FAILED,
            result_message_id=result_message_id if result_message_id is not None else job.result_message_id,
            error_code=error_code,
            error_message=error_message,
            charged=job.charged if charged is None else charged,
            notice_pending=notice_pending,
            finished_at=self.clock.now,
            lease_until=None,
        )
        self._work.set()
        self.jobs[job_id] = finished
        if job.cost:
            self.ledger.append((job_id, "capture" if delivered else "refund"))
            if not delivered:
                self.balances[job.user_id] = self.balances.get(job.user_id, self.start_balance) + job.cost
        return finished

    # -- the queue: claims and leases, with the SQL store's fair order ----------------------------------------

    def _holds_slot(self, job: Job) -> bool:
        return not job.state.is_terminal and job.lease_until is not None and job.lease_until > self.clock.now

    def _lease(self, job: Job, worker: str, lease_seconds: float) -> Job:
        leased = replace(job, claimed_by=worker, lease_until=self.clock.now + lease_seconds, attempt=job.attempt + 1)
        self.jobs[job.id] = leased
        return leased

    def _fair_order(self) -> list[Job]:
        held = Counter(j.user_id for j in self.jobs.values() if self._holds_slot(j))
        waiting = sorted(
            (j for j in self.jobs.values() if j.state is JobState.QUEUED and not self._holds_slot(j)),
            key=lambda j: (j.created_at, j.id),
        )
        turn: Counter[int] = Counter()
        ranked = []
        for job in waiting:
            ranked.append((held[job.user_id] + turn[job.user_id], job.created_at, job.id, job))
            turn[job.user_id] += 1
        return [entry[-1] for entry in sorted(ranked, key=lambda e: e[:3])]

    async def claim_next(self, worker: str, *, lease_seconds: float, limits: ClaimLimits) -> Job | None:
        await asyncio.sleep(0)
        self._maybe_fail("claim_next")
        return self._claim_one(worker, lease_seconds, limits)

    def _claim_one(self, worker: str, lease_seconds: float, limits: ClaimLimits) -> Job | None:
        held = [j for j in self.jobs.values() if self._holds_slot(j)]
        if len(held) >= limits.max_running:
            return None
        per_user = Counter(j.user_id for j in held)
        for job in self._fair_order():
            if per_user[job.user_id] < limits.per_user_running:
                return self._lease(job, worker, lease_seconds)
        return None

    async def claim_many(
        self, worker: str, n: int, *, lease_seconds: float, limits: ClaimLimits, orphans: bool = False
    ) -> list[Job]:
        await asyncio.sleep(0)
        self._maybe_fail("claim_many")
        self.claim_sizes.append(n)
        claimed: list[Job] = []
        for _ in range(n):  # one transaction here: nothing else runs between these claims
            job = self._orphan(worker, lease_seconds, limits) if orphans else None
            job = job or self._claim_one(worker, lease_seconds, limits)
            if job is None:
                break
            claimed.append(job)
        return claimed

    async def claim_orphan(self, worker: str, *, lease_seconds: float, limits: ClaimLimits) -> Job | None:
        await asyncio.sleep(0)
        return self._orphan(worker, lease_seconds, limits)

    def _orphan(self, worker: str, lease_seconds: float, limits: ClaimLimits) -> Job | None:
        held = [j for j in self.jobs.values() if self._holds_slot(j)]
        per_user = Counter(j.user_id for j in held)
        orphans = sorted(
            (
                j
                for j in self.jobs.values()
                if j.state in (JobState.SUBMITTING, JobState.RUNNING, JobState.DELIVERING) and not self._holds_slot(j)
            ),
            key=lambda j: (j.created_at, j.id),
        )
        for job in orphans:
            # One in 'submitting' is only refunded, so it may be taken even when the slots are full.
            within = len(held) < limits.max_running and per_user[job.user_id] < limits.per_user_running
            if within or job.state is JobState.SUBMITTING:
                return self._lease(job, worker, lease_seconds)
        return None

    async def renew_leases(self, worker: str, job_ids: Collection[str], *, lease_seconds: float) -> set[str]:
        lost = set()
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            # Like the SQL store: a lease that lapsed is lost, even if nobody has taken the job yet.
            if job is None or not self._holds_slot(job) or job.claimed_by != worker:
                lost.add(job_id)
            else:
                self.jobs[job_id] = replace(job, lease_until=self.clock.now + lease_seconds)
        return lost

    async def release(self, worker: str, job_ids: Collection[str]) -> None:
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            if job is not None and job.claimed_by == worker and not job.state.is_terminal:
                self.jobs[job_id] = replace(job, lease_until=self.clock.now)
        self._work.set()

    async def waiting_places(self) -> dict[str, int]:
        return {job.id: n for n, job in enumerate(self._fair_order(), 1)}

    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109 (a wait, not an operation with a timeout)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), timeout)
        self._work.clear()

    async def take_notices(self, *, idle: float, within: float | None = None, limit: int | None = 100) -> list[Job]:
        self._maybe_fail("take_notices")
        now = self.clock()
        pending = sorted(
            (j for j in self.jobs.values() if j.state.is_terminal and j.notice_pending),
            key=lambda j: (j.finished_at or 0.0, j.id),
        )
        taken = [
            j
            for j in pending
            if self.touched.get(j.id, j.finished_at or 0.0) <= now - idle
            and (within is None or (j.finished_at or 0.0) >= now - within)
        ][:limit]  # a slice to None: all
        self.touched.update((j.id, now) for j in taken)
        return taken

    async def touch_notices(self, job_ids: Collection[str]) -> None:
        self._maybe_fail("touch_notices")
        now = self.clock()
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            if job is not None and job.notice_pending:
                self.touched[job_id] = now

    async def clear_notice(self, job_id: str) -> None:
        self._maybe_fail("clear_notice")
        self.jobs[job_id] = replace(self.jobs[job_id], notice_pending=False)

    async def recent_durations(self, limit: int) -> list[float]:
        return []

    async def banned_in(self, user_id: int, scopes: Sequence[str]) -> str | None:
        return next((s for s in scopes if (user_id, s) in self.banned), None)

    # What SpendGuard uses.
    async def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        self.meta[key] = value

    async def claim_meta(self, key: str, value: str) -> bool:
        return self.meta.setdefault(key, value) == value

    def settles(self, job_id: str) -> list[str]:
        """The ledger entries that settled a job (exactly one for a finished job)."""
        return [reason for jid, reason in self.ledger if jid == job_id and reason != "reserve"]


@dataclass
class Post:
    """A message the fake notifier posted in a channel."""

    message_id: int
    job_id: str


@dataclass
class FakeNotifier:
    """Records what the runner shows; ``placeholder_gone`` makes delivery take the recorded fallback post."""

    store: FakeStore | None = None
    placeholder_gone: bool = False
    refuse_failures: bool = False
    refuse_delivery: bool = False
    defer_deliveries: int = 0  # this many deliveries meet a 429 Discord's library gave up on (then it works)
    defer_retry_after: float | None = None
    crash_after_post: bool = False
    post_place: dict[str, Any] = field(default_factory=dict)  # where a fallback post lands (the journal's keywords)
    hold_failures: asyncio.Event | None = None  # set: a failure notice is shown only once it is set
    progress_calls: list[tuple[str, Progress]] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)
    images_shown: dict[str, int] = field(default_factory=dict)  # job id -> images in its (last) delivery
    delivery_times: list[float] = field(default_factory=list)  # the store's clock at each delivery call
    failures: list[tuple[str, JobFailure, JobState | None]] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    closed: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(9000))

    def progress(self, job: Job, progress: Progress) -> None:
        self.progress_calls.append((job.id, progress))

    async def deliver(
        self, job: Job, image: PreparedImage, *, journal: DeliveryJournal, more: Sequence[PreparedImage] = ()
    ) -> int:
        self.deliveries.append(job.id)
        self.images_shown[job.id] = 1 + len(more)
        if self.store is not None:
            self.delivery_times.append(self.store.clock.now)
        if self.refuse_delivery:
            raise DeliveryFailed("403 everywhere")
        if self.defer_deliveries > 0:
            self.defer_deliveries -= 1
            raise DeliveryDeferred("429 past the library's retries", retry_after=self.defer_retry_after)
        if job.result_message_id is not None:
            return job.result_message_id
        if not self.placeholder_gone:
            assert job.placeholder_message_id is not None
            return job.placeholder_message_id
        if job.post_started_at is not None:
            # An earlier attempt may have posted before a crash: adopt its message (the footer names the job).
            for post in self.posts:
                if post.job_id == job.id:
                    await journal.posted(post.message_id)
                    return post.message_id
        await journal.posting()
        post = Post(next(self._ids), job.id)
        self.posts.append(post)
        if self.crash_after_post:
            raise asyncio.CancelledError  # the process dies between sending and recording
        await journal.posted(post.message_id, **self.post_place)
        return post.message_id

    async def fail(self, job: Job, failure: JobFailure) -> bool:
        # Record the state the ledger held when the member was told (settle first, then tell).
        stored = self.store.jobs.get(job.id) if self.store is not None else None
        self.failures.append((job.id, failure, stored.state if stored else None))
        if self.hold_failures is not None:
            await self.hold_failures.wait()
        return not self.refuse_failures

    async def close(self) -> None:
        self.closed = True

    def queue_texts(self, job_id: str) -> list[tuple[int | None, int | None]]:
        """The queue places shown for one job, in order."""
        return [(p.position, p.position_to) for jid, p in self.progress_calls if jid == job_id and p.position]


def png(size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


class FakeReapi:
    """Scripted reAPI: submits answer from ``submit_script`` (else a new task), polls from ``polls``."""

    def __init__(self) -> None:
        self.submit_script: deque[BaseException | str] = deque()
        self.poll_script: dict[str, deque[BaseException | str]] = {}
        self.default_status = "completed"
        self.submits = 0
        self.polled: list[str] = []
        self.hold_submit: asyncio.Event | None = None
        self.poll_delay = 0.0  # real seconds each poll takes
        self.image = png()
        self.requests: list[Any] = []  # every GenerationRequest submitted, in order
        self.downloads: list[str] = []
        self._counts: dict[str, int] = {}  # task id -> images asked for (n)
        self._ids = itertools.count(1)

    async def submit(self, request: Any) -> SubmittedTask:
        self.submits += 1
        self.requests.append(request)
        if self.hold_submit is not None:
            await self.hold_submit.wait()
        if self.submit_script:
            step = self.submit_script.popleft()
            if isinstance(step, BaseException):
                raise step
            self._counts[step] = request.options.count
            return SubmittedTask(id=step)
        task_id = f"task_{next(self._ids)}"
        self._counts[task_id] = request.options.count
        return SubmittedTask(id=task_id)

    async def get_task(self, task_id: str) -> Task:
        self.polled.append(task_id)
        if self.poll_delay:
            await asyncio.sleep(self.poll_delay)
        script = self.poll_script.get(task_id)
        step: BaseException | str = script.popleft() if script else self.default_status
        if isinstance(step, BaseException):
            raise step
        if step == "completed":
            urls = [f"https://out.example/{task_id}-{i}.png" for i in range(self._counts.get(task_id, 1))]
            return Task(id=task_id, status="completed", output={"image_urls": urls})
        if step.startswith("failed"):
            code = int(step.split(":")[1]) if ":" in step else 50001
            return Task(id=task_id, status="failed", error={"code": code, "message": "no"})
        return Task(id=task_id, status=step)

    async def download(self, url: str, *, max_bytes: int) -> DownloadedImage:
        self.downloads.append(url)
        return DownloadedImage(self.image, "image/png")
