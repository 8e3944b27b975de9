"""The job runner's state machine, driven through every branch with fakes of its ports (no Discord, no SQL)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest

from bot.config import CreditsSettings, JobsSettings
from bot.engine import claims as claims_module
from bot.engine import images
from bot.engine.cooldown import Cooldown
from bot.engine.credits import CreditLedger
from bot.engine.errors import CooldownActive, InvalidOptions, QueueFull, ReapiPaused
from bot.engine.failures import FailureCode, JobFailure
from bot.engine.progress import Stage
from bot.engine.run import Run
from bot.engine.runner import JobRunner
from bot.engine.spend import SpendGuard
from bot.reapi import (
    BadRequest,
    ContentPolicy,
    InsufficientFunds,
    InvalidResponse,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    TaskNotFound,
    Unauthorized,
)
from bot.store import Job, JobKind, JobState, NewJob
from tests.engine.fakes import FakeClock, FakeNotifier, FakeReapi, FakeStore, png
from tests.refusals import refused

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from bot.engine.pricing import ModelCatalogue

USER = 7


class Alerts:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def notify(self, text: str) -> None:
        self.sent.append(text)


def new_job(prompt: str = "a fox", *, user_id: int = USER, **values: Any) -> NewJob:
    """An /imagine request in guild 1, channel 2 (placeholder message 500 unless given)."""
    return NewJob(
        kind=JobKind.IMAGINE,
        user_id=user_id,
        guild_id=1,
        channel_id=2,
        prompt=prompt,
        aspect_ratio=values.pop("aspect_ratio", "auto"),
        placeholder_message_id=values.pop("placeholder_message_id", 500),
        **values,
    )


@dataclass
class Rig:
    clock: FakeClock
    store: FakeStore
    notifier: FakeNotifier
    reapi: FakeReapi
    alerts: Alerts
    spend: SpendGuard
    runner: JobRunner

    async def submit(self, prompt: str = "a fox", *, user_id: int = USER, **values: Any) -> Job:
        await self.runner.start()  # idempotent: the claim loop runs what was submitted
        return await self.runner.submit(new_job(prompt, user_id=user_id, **values))

    async def settle(self, *job_ids: str) -> None:
        """Let the runner work until these jobs (default: all) are over; bounded."""
        for n in range(50_000):
            jobs = [self.store.jobs[j] for j in job_ids] if job_ids else list(self.store.jobs.values())
            if all(j.state.is_terminal for j in jobs) and not self.runner._tasks:
                return
            # Re-encoding runs in worker threads: once the loop alone cannot progress, give them real time.
            await asyncio.sleep(0 if n < 2_000 else 0.001)
        raise AssertionError(f"jobs did not settle: {[(j.id, j.state) for j in self.store.jobs.values()]}")


_RIGS: list[Rig] = []


@pytest.fixture(autouse=True)
async def _stop_runners() -> AsyncIterator[None]:
    """Every runner a test made is stopped afterwards (no task outlives its test)."""
    yield
    while _RIGS:
        rig = _RIGS.pop()
        if rig.reapi.hold_submit is not None:
            rig.reapi.hold_submit.set()
        await rig.runner.stop()


def make_rig(
    store: FakeStore | None = None,
    *,
    catalogue: ModelCatalogue | None = None,
    worker: str = "worker",
    sole_worker: bool = False,
    reapi: FakeReapi | None = None,
    **jobs: Any,
) -> Rig:
    clock = store.clock if store is not None else FakeClock()
    store = store or FakeStore(clock)
    notifier = FakeNotifier(store=store)
    reapi = reapi or FakeReapi()
    alerts = Alerts()
    spend = SpendGuard(
        store=store,  # type: ignore[arg-type]
        alerts=alerts,
        cap_credits=0,
        pause_seconds=600,
        clock=clock,
    )
    settings = JobsSettings(**{"poll_interval": 1.0, "max_poll_interval": 1.0, "timeout": 600.0, **jobs})
    runner = JobRunner(
        store=store,
        reapi=reapi,
        notifier=notifier,
        credit_rules=CreditLedger(CreditsSettings(), owner_ids=frozenset()),
        settings=settings,
        max_download_bytes=10_000_000,
        spend=spend,
        catalogue=catalogue,
        worker=worker,
        sole_worker=sole_worker,
        clock=clock,
        sleep=clock.sleep,
    )
    rig = Rig(clock, store, notifier, reapi, alerts, spend, runner)
    _RIGS.append(rig)
    return rig


def stored_job(clock: FakeClock, state: JobState, **values: Any) -> Job:
    defaults: dict[str, Any] = dict(
        id=values.pop("id", "a0a0a0a0a0a0"),
        kind=JobKind.IMAGINE,
        user_id=USER,
        guild_id=1,
        channel_id=2,
        prompt="a fox",
        aspect_ratio="auto",
        placeholder_message_id=500,
        cost=1,
        state=state,
        created_at=clock.now,
    )
    return Job(**{**defaults, **values})


# -- the happy path ---------------------------------------------------------------------------------------


async def test_a_job_goes_through_every_state_and_is_captured_once() -> None:
    rig = make_rig()
    job = await rig.submit()
    await rig.settle()
    done = rig.store.jobs[job.id]
    assert done.state is JobState.DELIVERED
    assert done.result_message_id == 500
    assert done.charged is True
    assert rig.store.settles(job.id) == ["capture"]
    stages = [p.stage for jid, p in rig.notifier.progress_calls if jid == job.id]
    assert Stage.SUBMITTING in stages
    # A small image needs no re-encode: it is shown at once, with no "uploading" edit before it (traffic).
    assert Stage.UPLOADING not in stages
    assert rig.reapi.submits == 1
    assert not rig.notifier.failures


async def test_an_image_that_must_be_re_encoded_first_shows_the_uploading_stage() -> None:
    rig = make_rig()
    rig.reapi.image = png(256)
    job = await rig.submit(upload_limit=len(rig.reapi.image) - 1)
    await rig.settle()
    assert rig.store.jobs[job.id].state is JobState.DELIVERED
    stages = [p.stage for jid, p in rig.notifier.progress_calls if jid == job.id]
    assert Stage.UPLOADING in stages


# -- C3: whether reAPI charged is a fact, decided by the phase ----------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "charged"),
    [
        (BadRequest(400, 20002, "prompt too long", None), FailureCode.REAPI_400, False),
        (Unauthorized(401, 10003, "invalid key", None), FailureCode.REAPI_401, False),
        (InsufficientFunds(402, 40201, "no credits", None), FailureCode.REAPI_402, False),
        (RateLimited(429, 42901, "slow down", None), FailureCode.REAPI_UNAVAILABLE, False),
        (NotSent("connection refused"), FailureCode.REAPI_UNAVAILABLE, False),
        (ServerError(502, 50201, "bad gateway", None), FailureCode.REAPI_SERVER_ERROR, True),
        (InvalidResponse("not JSON"), FailureCode.REAPI_SERVER_ERROR, True),
        (OutcomeUnknown("reset after sending"), FailureCode.OUTCOME_UNKNOWN, True),
    ],
)
async def test_a_failed_submit_is_refunded_and_counted_as_charged_only_when_reapi_may_have_charged(
    error: Exception, code: FailureCode, charged: bool
) -> None:
    rig = make_rig()
    rig.reapi.submit_script.append(error)
    job = await rig.submit()
    await rig.settle()
    done = rig.store.jobs[job.id]
    assert (done.state, done.error_code, done.charged) == (JobState.FAILED, code, charged)
    assert rig.store.settles(job.id) == ["refund"]
    assert rig.reapi.submits == 1  # never re-POSTed
    assert [f.code for _, f, _ in rig.notifier.failures] == [code]


@pytest.mark.parametrize(
    ("poll", "code", "charged"),
    [
        ("failed:50001", FailureCode.TASK_FAILED, False),
        ("failed:80006", FailureCode.CONTENT_POLICY, False),
        (TaskNotFound(404, 40401, "no such task", None), FailureCode.TASK_LOST, True),
    ],
)
async def test_a_task_that_fails_at_reapi_is_refunded_and_charged_only_if_reapi_kept_the_money(
    poll: Any, code: FailureCode, charged: bool
) -> None:
    rig = make_rig()
    rig.reapi.poll_script["task_1"] = deque([poll])
    job = await rig.submit()
    await rig.settle()
    done = rig.store.jobs[job.id]
    assert (done.error_code, done.charged) == (code, charged)


async def test_content_policy_is_its_own_failure() -> None:
    assert isinstance(ContentPolicy(80006, "no"), Exception)  # the class the poll maps 80006 to


# -- items 12 and 2: a 401 or 402 on submit pauses submissions and tells the owners once --------------------


async def test_a_401_on_submit_pauses_new_jobs_and_alerts_the_owners_once() -> None:
    rig = make_rig(max_concurrent=1, per_user_concurrent=1)
    rig.reapi.submit_script.append(Unauthorized(401, 10004, "revoked key", None))
    first = await rig.submit("one")
    second = await rig.submit("two")  # waits behind the first
    await rig.settle()
    assert rig.store.jobs[first.id].error_code == FailureCode.REAPI_401
    queued_then = rig.store.jobs[second.id]
    assert (queued_then.error_code, queued_then.error_message, queued_then.charged) == ("reapi_paused", "401", False)
    assert rig.reapi.submits == 1
    assert len(rig.alerts.sent) == 1
    assert "401" in rig.alerts.sent[0]
    with refused(ReapiPaused, match="key was refused"):
        await rig.submit("three")


# -- C6: settle first, then tell; never over someone else's outcome ----------------------------------------


async def test_the_member_is_told_only_after_the_refund_is_stored() -> None:
    rig = make_rig()
    rig.reapi.submit_script.append(BadRequest(400, 20002, "bad", None))
    job = await rig.submit()
    await rig.settle()
    assert rig.notifier.failures == [(job.id, rig.notifier.failures[0][1], JobState.FAILED)]


async def test_a_job_cancelled_under_the_runner_keeps_its_cancelled_notice() -> None:
    rig = make_rig()
    job = await rig.submit()  # starts at once (a task is created), but has not run yet
    await rig.spend.pause_after_402()  # the runner will refuse to submit it...
    assert await rig.runner.cancel(job.id) is not None  # ...but the member cancels first
    await rig.settle()
    codes = [f.code for _, f, _ in rig.notifier.failures]
    assert codes == [FailureCode.CANCELLED]  # "ran out of credits" never overwrites "Cancelled."
    assert rig.store.settles(job.id) == ["refund"]


async def test_a_job_another_process_moved_on_is_never_refunded_or_rewritten_by_this_one() -> None:
    rig = make_rig()
    await rig.runner.start()
    job = await rig.store.create_job(new_job(placeholder_message_id=None), rules=None)
    seen = rig.store.jobs[job.id]  # what this worker last stored: queued
    # Meanwhile another worker took it over and sent it to reAPI.
    rig.store.jobs[job.id] = replace(
        seen, state=JobState.RUNNING, task_id="task_theirs", claimed_by="other", lease_until=rig.clock.now + 1000
    )
    await rig.runner._steps.fail(Run(seen), JobFailure(FailureCode.REAPI_PAUSED, "402", charged=False))
    assert rig.store.jobs[job.id].state is JobState.RUNNING  # the settlement names 'queued' and loses
    assert rig.store.settles(job.id) == []
    assert rig.notifier.failures == []


async def test_a_settlement_that_fails_for_a_moment_is_retried_not_left_for_a_restart() -> None:
    rig = make_rig()
    rig.reapi.submit_script.append(BadRequest(400, 20002, "bad", None))
    rig.store.fail_next["finish_job"] = 2
    job = await rig.submit()
    await rig.settle()
    assert rig.store.jobs[job.id].state is JobState.FAILED
    assert len(rig.notifier.failures) == 1


async def test_a_delivered_image_is_never_stripped_when_its_capture_keeps_failing() -> None:
    rig = make_rig()
    rig.store.fail_next["capture"] = 100  # only the capture fails; a refund would go through
    job = await rig.submit()
    for _ in range(5000):
        if rig.notifier.deliveries and not rig.runner._tasks:
            break
        await asyncio.sleep(0)
    assert rig.notifier.deliveries == [job.id]
    assert rig.notifier.failures == []  # no "refunded" text over the image
    assert rig.store.jobs[job.id].state is JobState.DELIVERING  # left for a restart to settle


async def test_a_failure_notice_discord_refused_is_shown_again_after_a_restart() -> None:
    rig = make_rig()
    rig.notifier.refuse_failures = True
    rig.reapi.submit_script.append(BadRequest(400, 20002, "bad", None))
    job = await rig.submit()
    await rig.settle()
    assert rig.store.jobs[job.id].notice_pending is True

    resumed = make_rig(rig.store, sole_worker=True)  # the restart of a lone process (SQLite)
    await resumed.runner.start()
    for _ in range(1000):
        if resumed.notifier.failures:
            break
        await asyncio.sleep(0)
    for _ in range(100):
        await asyncio.sleep(0)
    assert [f.code for _, f, _ in resumed.notifier.failures] == [FailureCode.REAPI_400]
    assert rig.store.jobs[job.id].notice_pending is False
    assert rig.store.settles(job.id) == ["refund"]  # shown again, never refunded again


# -- C5: re-encoding off the event loop --------------------------------------------------------------------


async def test_reencoding_runs_in_worker_threads_at_most_two_at_a_time_and_a_fitting_image_waits_for_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    active: list[int] = []
    peak = 0
    lock = threading.Lock()
    release = threading.Event()
    threads: set[int] = set()
    original = images.fit_to_limit

    def slow_fit(data: bytes, content_type: str, limit: int) -> images.PreparedImage:
        nonlocal peak
        with lock:
            active.append(1)
            peak = max(peak, len(active))
            threads.add(threading.get_ident())
        release.wait(timeout=5)
        with lock:
            active.pop()
        return original(data, content_type, limit)

    monkeypatch.setattr("bot.engine.steps.fit_to_limit", slow_fit)
    rig = make_rig(max_concurrent=6, per_user_concurrent=6)
    too_large = len(rig.reapi.image) - 1  # each of these images must be re-encoded
    jobs = [await rig.submit(f"fox {n}", upload_limit=too_large) for n in range(5)]
    for _ in range(2000):
        if peak >= 2:
            break
        await asyncio.sleep(0.001)
    # Both re-encode slots are taken (and held): an image that fits as it is goes out all the same, at once.
    plain = await rig.submit("a fox that fits", user_id=USER + 1)
    for _ in range(2000):  # bounded: ~2 s, while the re-encodes wait up to 5 s for their release
        if rig.store.jobs[plain.id].state.is_terminal:
            break
        await asyncio.sleep(0.001)
    assert rig.store.jobs[plain.id].state is JobState.DELIVERED
    assert len(active) == 2  # delivered while both re-encodes still held their slots
    assert all(rig.store.jobs[j.id].state is not JobState.DELIVERED for j in jobs)
    release.set()
    await rig.settle()
    assert all(rig.store.jobs[j.id].state is JobState.DELIVERED for j in jobs)
    assert peak == 2
    assert threading.get_ident() not in threads


def test_pillow_refuses_decompression_bombs_beyond_a_deliberate_limit() -> None:
    assert images.Image.MAX_IMAGE_PIXELS == images.MAX_IMAGE_PIXELS
    assert 4096 * 4096 <= images.MAX_IMAGE_PIXELS <= 10_000 * 10_000


# -- C7: queue places --------------------------------------------------------------------------------------


async def test_queue_places_are_sent_only_when_a_jobs_own_place_changes() -> None:
    rig = make_rig(max_concurrent=1, per_user_concurrent=1, per_user_queued=300, progress_interval=0.0)
    jobs = [await rig.submit(f"fox {n}", user_id=1000 + n) for n in range(200)]
    await rig.settle()
    for job in jobs:
        places = rig.notifier.queue_texts(job.id)
        assert all(a != b for a, b in itertools.pairwise(places)), places  # never the same text twice in a row
    # Shown at every single step, a job still sees at most five exact places and one per range it passes
    # (6-20, 21-100, 101-500): eight, not one edit per job ahead of it (~N/2) nor ten exact places and more.
    assert max(len(rig.notifier.queue_texts(j.id)) for j in jobs) <= 8


async def test_a_queue_draining_forty_places_per_refresh_costs_each_job_at_most_three_place_edits() -> None:
    # The benchmark's pace (issue 12): 16 slots, ~1.2 s jobs, places refreshed every 3 s: about 40 places drain
    # between two refreshes. Not started, so nothing is claimed: cancelling the front 40 drains the queue instead.
    rig = make_rig(per_user_queued=600, max_queued=600, progress_interval=3.0)
    jobs = [
        await rig.runner.submit(
            NewJob(
                kind=JobKind.IMAGINE,
                user_id=1000 + n,
                guild_id=1,
                channel_id=2,
                prompt=f"fox {n}",
                aspect_ratio="auto",
                placeholder_message_id=500 + n,
            )
        )
        for n in range(500)
    ]
    for front in range(0, len(jobs) + 40, 40):
        for job in jobs[front : front + 40]:
            await rig.runner.cancel(job.id)
        for _ in range(10_000):  # the refresh runs after an interval of the fake clock, then ends
            task = rig.runner._places.refreshing
            if task is None or task.done():
                break
            await asyncio.sleep(0)
    edits = [len(rig.notifier.queue_texts(job.id)) for job in jobs]
    assert sum(edits) / len(edits) <= 3, sum(edits) / len(edits)
    assert max(edits) <= 4


# -- C8: resumed jobs hold slots ---------------------------------------------------------------------------


async def test_resumed_jobs_hold_queue_slots_like_new_ones() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    for n in range(3):
        store.add(stored_job(clock, JobState.RUNNING, id=f"b{n:011d}", task_id=f"task_r{n}", submitted_at=clock.now))
    rig = make_rig(store, max_concurrent=1, per_user_concurrent=1)
    for n in range(3):
        rig.reapi.poll_script[f"task_r{n}"] = deque(["processing", "processing"])
    await rig.runner.start()
    await rig.settle()
    order = [task for n, task in enumerate(rig.reapi.polled) if n == 0 or rig.reapi.polled[n - 1] != task]
    assert order == ["task_r0", "task_r1", "task_r2"]  # one at a time: each holds the only slot


# -- C9 / C11: the task id is never lost -------------------------------------------------------------------


async def test_a_submit_in_flight_when_the_shutdown_grace_ends_keeps_its_task_id() -> None:
    rig = make_rig(shutdown_grace=0.2)  # the POST answers after the grace, within the extra wait
    rig.reapi.hold_submit = asyncio.Event()
    job = await rig.submit()
    for _ in range(1000):
        if rig.reapi.submits:
            break
        await asyncio.sleep(0)

    async def answer_late() -> None:
        await asyncio.sleep(0.3)
        assert rig.reapi.hold_submit is not None
        rig.reapi.hold_submit.set()

    late = asyncio.create_task(answer_late())
    await rig.runner.stop()
    await late
    stored = rig.store.jobs[job.id]
    assert stored.state is JobState.RUNNING
    assert stored.task_id == "task_1"


async def test_a_task_id_that_arrives_after_the_job_moved_on_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    rig = make_rig()
    rig.reapi.hold_submit = asyncio.Event()
    job = await rig.submit()
    for _ in range(1000):
        if rig.reapi.submits:
            break
        await asyncio.sleep(0)
    rig.store.jobs[job.id] = replace(rig.store.jobs[job.id], state=JobState.RUNNING)  # another process took it
    with caplog.at_level(logging.INFO):
        rig.reapi.hold_submit.set()
        for _ in range(1000):
            if not rig.runner._tasks:
                break
            await asyncio.sleep(0)
    assert "task_1" in caplog.text
    assert rig.notifier.failures == []  # it was not turned into a failure


# -- intake ------------------------------------------------------------------------------------------------


async def test_an_unknown_aspect_ratio_is_refused_before_anything_is_stored() -> None:
    rig = make_rig()
    with pytest.raises(InvalidOptions):
        await rig.submit(aspect_ratio="banana")
    assert rig.store.jobs == {}


async def test_a_member_with_too_many_jobs_waiting_is_told_so() -> None:
    rig = make_rig(max_concurrent=1, per_user_concurrent=1, per_user_queued=2)
    rig.reapi.hold_submit = asyncio.Event()
    await rig.submit("running")
    for _ in range(1000):  # until it is being sent: it no longer waits
        if rig.reapi.submits:
            break
        await asyncio.sleep(0)
    for n in range(2):
        await rig.submit(f"waiting {n}")
    with refused(QueueFull, match="2 images waiting"):
        await rig.submit("one too many")
    rig.reapi.hold_submit.set()
    await rig.settle()


async def test_requests_sent_at_the_same_instant_cannot_slip_past_the_cooldown_together() -> None:
    rig = make_rig()
    rig.runner._cooldown = Cooldown(1, 60.0, clock=rig.clock)
    outcomes = await asyncio.gather(*(rig.submit(f"fox {n}") for n in range(3)), return_exceptions=True)
    assert len([o for o in outcomes if isinstance(o, Job)]) == 1
    assert len([o for o in outcomes if isinstance(o, CooldownActive)]) == 2
    await rig.settle()


async def test_cancel_refunds_a_waiting_job_and_it_is_never_sent() -> None:
    rig = make_rig(max_concurrent=1, per_user_concurrent=1)
    rig.reapi.hold_submit = asyncio.Event()
    await rig.submit("first")
    waiting = await rig.submit("second")
    cancelled = await rig.runner.cancel(waiting.id)
    assert cancelled is not None
    assert await rig.runner.cancel(waiting.id) is None  # only once
    assert await rig.runner.cancel("ffffffffffff") is None
    rig.reapi.hold_submit.set()
    await rig.settle()
    assert rig.reapi.submits == 1
    assert rig.store.jobs[waiting.id].error_code == FailureCode.CANCELLED
    assert rig.store.jobs[waiting.id].notice_pending is False


async def test_a_job_caught_mid_submit_at_start_is_refunded_never_reposted_and_counts_as_charged() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(stored_job(clock, JobState.SUBMITTING, submit_started_at=clock.now - 5, charged=True))
    rig = make_rig(store)
    await rig.runner.start()
    await rig.settle()
    for _ in range(100):
        await asyncio.sleep(0)
    job = store.jobs["a0a0a0a0a0a0"]
    assert (job.state, job.error_code, job.charged) == (JobState.FAILED, FailureCode.INTERRUPTED_SUBMIT, True)
    assert rig.reapi.submits == 0
    assert [f.code for _, f, _ in rig.notifier.failures] == [FailureCode.INTERRUPTED_SUBMIT]


# -- the database queue: claims and leases shared by several workers -------------------------------------------


async def test_two_workers_on_one_queue_never_exceed_the_global_limit_and_take_turns_per_member() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    first = make_rig(store, max_concurrent=2, per_user_concurrent=1)
    second = make_rig(store, worker="other", max_concurrent=2, per_user_concurrent=1)
    for rig in (first, second):
        rig.reapi.hold_submit = asyncio.Event()  # nobody gets past the POST: slots stay taken
        await rig.runner.start()
    for n in range(4):
        await first.submit(f"a{n}", user_id=1)
    await second.submit("b0", user_id=2)
    for _ in range(500):
        await asyncio.sleep(0)
    held = [j for j in store.jobs.values() if j.lease_until is not None and j.lease_until > clock.now]
    assert len(held) == 2  # the global limit holds across both workers
    assert sorted(j.user_id for j in held) == [1, 2]  # member 2's first job went before member 1's second
    assert {j.claimed_by for j in held} <= {"worker", "other"}


async def test_a_graceful_stop_hands_jobs_back_at_once_for_another_worker() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    rig = make_rig(store)
    rig.reapi.default_status = "processing"
    job = await rig.submit()
    for _ in range(500):
        if rig.store.jobs[job.id].state is JobState.RUNNING:
            break
        await asyncio.sleep(0)
    await rig.runner.stop()
    assert store.jobs[job.id].state is JobState.RUNNING
    other = make_rig(store, worker="other")  # no clock advance: the lease was handed back, not left to expire
    await other.runner.start()
    await other.settle()
    assert store.jobs[job.id].state is JobState.DELIVERED
    assert store.jobs[job.id].claimed_by == "other"
    assert rig.reapi.submits + other.reapi.submits == 1  # resumed by polling, never re-sent


async def test_a_worker_lets_go_of_a_job_whose_lease_another_worker_took() -> None:
    # Renewed every third of a second (real time); polls take real time and move the fake clock very little, so
    # the lease only ends because another worker took it. No wait before showing queue places either: that sleep
    # would move the fake clock past the lease, and the job would be an orphan this worker may take back.
    rig = make_rig(lease_seconds=1.0, poll_interval=0.001, max_poll_interval=0.001, progress_interval=0.0)
    rig.reapi.default_status = "processing"
    rig.reapi.poll_delay = 0.02
    job = await rig.submit()
    for _ in range(500):
        if rig.store.jobs[job.id].state is JobState.RUNNING:
            break
        await asyncio.sleep(0)
    rig.store.jobs[job.id] = replace(rig.store.jobs[job.id], claimed_by="other")
    for _ in range(200):
        if not rig.runner._tasks:
            break
        await asyncio.sleep(0.01)
    assert rig.runner._tasks == {}
    assert rig.notifier.failures == []  # let go quietly: the other worker owns it now
    assert rig.store.jobs[job.id].state is JobState.RUNNING


async def test_a_worker_holding_every_slot_itself_tries_no_claims_until_one_of_its_jobs_ends() -> None:
    # Each claim is a transaction in line behind every other; a burst of /imagine wakes the claim loop once per
    # job queued, and while this worker holds every slot none of those claims could succeed.
    rig = make_rig(max_concurrent=2, per_user_concurrent=2)
    claims: list[str] = []
    claim_many = rig.store.claim_many

    async def counted(worker: str, n: int, **kwargs: Any) -> list[Job]:
        claims.append(worker)
        return await claim_many(worker, n, **kwargs)

    rig.store.claim_many = counted  # type: ignore[method-assign]
    rig.reapi.hold_submit = asyncio.Event()  # nobody gets past the POST: both slots stay taken
    first = [await rig.submit(f"fox {n}") for n in range(2)]
    for _ in range(200):
        await asyncio.sleep(0)
    assert all(rig.store.jobs[j.id].state is JobState.SUBMITTING for j in first)
    before = len(claims)
    for n in range(30):
        await rig.submit(f"later {n}", user_id=100 + n)
        for _ in range(20):
            await asyncio.sleep(0)
    # At most the claims of an idle wait (one a second) if this machine is slow, never one per job queued.
    assert len(claims) - before <= 3, len(claims) - before
    rig.reapi.hold_submit.set()
    await rig.settle()  # a freed slot wakes the loop at once: every later job is claimed and delivered
    assert all(j.state is JobState.DELIVERED for j in rig.store.jobs.values())
    assert len(claims) > before  # the later jobs came through the counted claims


async def test_a_slot_freed_by_the_workers_own_job_is_refilled_without_first_looking_for_orphans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One of this worker's jobs ending makes no orphan: looking for one before each claim would put a second
    # transaction in line per job. (The idle wait is made endless so only wake-ups, never time, trigger a look.)
    monkeypatch.setattr(claims_module, "_IDLE_WAIT", 3600.0)
    rig = make_rig(max_concurrent=1, per_user_concurrent=1)
    looks: list[str] = []
    claim_many = rig.store.claim_many

    async def counted(worker: str, n: int, *, orphans: bool = False, **kwargs: Any) -> list[Job]:
        if orphans:
            looks.append(worker)
        return await claim_many(worker, n, orphans=orphans, **kwargs)

    rig.store.claim_many = counted  # type: ignore[method-assign]
    rig.reapi.hold_submit = asyncio.Event()
    jobs = [await rig.submit(f"fox {n}", user_id=100 + n) for n in range(10)]
    for _ in range(200):
        await asyncio.sleep(0)
    before = len(looks)
    rig.reapi.hold_submit.set()
    await rig.settle()
    assert all(rig.store.jobs[j.id].state is JobState.DELIVERED for j in jobs)
    assert len(looks) - before <= 1, len(looks) - before  # not one (or two) per job
    assert looks  # the looks are counted where they happen


async def test_orphans_still_go_first_after_a_wake_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another worker's jobs handed back (a graceful stop wakes the waiters) are resumed before new ones.
    monkeypatch.setattr(claims_module, "_IDLE_WAIT", 3600.0)
    clock = FakeClock()
    store = FakeStore(clock)
    rig = make_rig(store, max_concurrent=1, per_user_concurrent=1)
    await rig.runner.start()
    for _ in range(50):
        await asyncio.sleep(0)  # it looked for orphans, found none and waits for work
    store.add(stored_job(clock, JobState.RUNNING, id="b00000000001", task_id="task_r", claimed_by="gone"))
    await store.release("gone", [])  # a hand-back wakes the waiters
    await rig.submit("new", user_id=2)
    await rig.settle()
    assert rig.reapi.polled[0] == "task_r"


# -- start-up: resuming never holds up the caller -----------------------------------------------------------


async def test_start_returns_before_reading_the_unfinished_jobs_and_resumes_them_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bot connects (and answers commands) only once start() returns: with 1,000 unfinished jobs, their
    reads and releases must happen after, not before."""
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(stored_job(clock, JobState.RUNNING, task_id="task_old", submitted_at=clock.now, charged=True))
    gate = asyncio.Event()
    reads: list[str] = []

    def gated(name: str) -> Any:
        read = getattr(store, name)

        async def slow(*args: Any, **kwargs: Any) -> Any:
            reads.append(name)
            await gate.wait()
            return await read(*args, **kwargs)

        return slow

    for name in ("recent_durations", "take_notices", "active_jobs"):
        monkeypatch.setattr(store, name, gated(name))
    rig = make_rig(store)
    starting = asyncio.create_task(rig.runner.start())
    for _ in range(100):
        await asyncio.sleep(0)
    assert starting.done()
    assert reads  # the resume began in the background and waits for the store
    assert rig.reapi.polled == []
    gate.set()
    await rig.settle()
    assert rig.reapi.polled[0] == "task_old"
    assert store.jobs["a0a0a0a0a0a0"].state is JobState.DELIVERED


async def test_a_failed_jobs_slot_is_refilled_before_its_failure_notice_is_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The job is settled (refunded, its lease ended) before the member is told: the Discord edit that tells them
    # is no reason to keep the next job waiting. The notice still goes out. (No idle wait ends early here.)
    monkeypatch.setattr(claims_module, "_IDLE_WAIT", 3600.0)
    rig = make_rig(max_concurrent=1, per_user_concurrent=1)
    rig.notifier.hold_failures = asyncio.Event()
    rig.reapi.submit_script.append(BadRequest(400, 20002, "bad", None))
    failed = await rig.submit("fox 1", user_id=1)
    later = await rig.submit("fox 2", user_id=2)
    for n in range(5_000):
        if rig.store.jobs[later.id].state is JobState.DELIVERED:
            break
        await asyncio.sleep(0 if n < 2_000 else 0.001)
    assert rig.store.jobs[later.id].state is JobState.DELIVERED
    assert [job_id for job_id, _, _ in rig.notifier.failures] == [failed.id]  # its notice is still being shown
    assert rig.store.jobs[failed.id].notice_pending
    rig.notifier.hold_failures.set()
    await rig.settle()
    for _ in range(200):
        if not rig.store.jobs[failed.id].notice_pending:
            break
        await asyncio.sleep(0)
    assert not rig.store.jobs[failed.id].notice_pending  # shown, then cleared


async def test_a_failed_jobs_notice_still_shown_is_cancelled_at_stop_and_left_pending() -> None:
    # Out of its slot, the notice is still the runner's: a stop does not leave it running on its own.
    rig = make_rig(max_concurrent=1, per_user_concurrent=1)
    rig.notifier.hold_failures = asyncio.Event()
    rig.reapi.submit_script.append(BadRequest(400, 20002, "bad", None))
    failed = await rig.submit("fox 1", user_id=1)
    for _ in range(2_000):
        if rig.notifier.failures:
            break
        await asyncio.sleep(0)
    assert rig.notifier.failures
    await rig.runner.stop()
    assert rig.store.jobs[failed.id].state is JobState.FAILED
    assert rig.store.jobs[failed.id].notice_pending  # a restart shows it
    assert not [t for t in asyncio.all_tasks() if t.get_name() == f"job-{failed.id}"]


async def test_free_slots_are_filled_by_one_claim() -> None:
    # Jobs waiting when the runner starts (a restart, a burst): one transaction claims a job for every free slot.
    store = FakeStore(FakeClock())
    rig = make_rig(store, max_concurrent=4, per_user_concurrent=4)
    rig.reapi.hold_submit = asyncio.Event()
    for n in range(6):
        await store.create_job(new_job("fox", user_id=100 + n), rules=None)
    await rig.runner.start()
    for _ in range(200):
        if len(rig.runner._tasks) == 4:
            break
        await asyncio.sleep(0)
    assert len(rig.runner._tasks) == 4
    assert store.claim_sizes[0] == 4  # the first claim asked for every free slot, and got them
    rig.reapi.hold_submit.set()
    await rig.settle()
    assert all(j.state is JobState.DELIVERED for j in store.jobs.values())


async def test_the_next_claim_goes_out_with_the_final_write_and_the_store_still_counts_the_slot_until_it_lands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The claim does not wait for the capture's answer; the limit is the store's, so it claims nothing while the
    # capture has not landed, and the capture's wake-up lets the loop claim the next job. (No idle wait here.)
    monkeypatch.setattr(claims_module, "_IDLE_WAIT", 3600.0)
    rig = make_rig(max_concurrent=1, per_user_concurrent=1)
    capture_may_land = asyncio.Event()
    finish_job = rig.store.finish_job

    async def slow_finish(job_id: str, **kwargs: Any) -> Job | None:
        await capture_may_land.wait()
        return await finish_job(job_id, **kwargs)

    rig.store.finish_job = slow_finish  # type: ignore[method-assign]
    first = await rig.submit("fox 1", user_id=1)
    later = await rig.submit("fox 2", user_id=2)
    for n in range(5_000):
        if rig.notifier.deliveries:
            break
        await asyncio.sleep(0 if n < 2_000 else 0.001)
    claims_before = len(rig.store.claim_sizes)
    for _ in range(200):
        await asyncio.sleep(0)
    assert len(rig.store.claim_sizes) > claims_before  # asked for the slot while the capture is in flight ...
    assert rig.store.jobs[later.id].state is JobState.QUEUED  # ... and the store said no: it is still held
    assert rig.store.jobs[later.id].lease_until is None
    capture_may_land.set()
    await rig.settle()
    assert rig.store.jobs[first.id].state is JobState.DELIVERED
    assert rig.store.jobs[later.id].state is JobState.DELIVERED


async def test_a_look_for_orphans_rides_in_the_claim_of_the_waiting_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Orphans go first, but looking for them is no transaction in line of its own before the claim.
    monkeypatch.setattr(claims_module, "_IDLE_WAIT", 3600.0)
    clock = FakeClock()
    store = FakeStore(clock)
    rig = make_rig(store, max_concurrent=3, per_user_concurrent=3)
    orphan = store.add(stored_job(clock, JobState.RUNNING, id="b00000000001", task_id="task_r", claimed_by="gone"))
    waiting = [await store.create_job(new_job("fox", user_id=100 + n), rules=None) for n in range(2)]
    orphan_looks: list[str] = []
    claim_orphan = store.claim_orphan

    async def counted(worker: str, **kwargs: Any) -> Job | None:
        orphan_looks.append(worker)
        return await claim_orphan(worker, **kwargs)

    store.claim_orphan = counted  # type: ignore[method-assign]
    await rig.runner.start()
    await rig.settle()
    assert orphan_looks == []
    assert store.claim_sizes[0] == 3  # one claim: the orphan and both waiting jobs
    assert rig.reapi.polled[0] == "task_r"
    assert all(store.jobs[j.id].state is JobState.DELIVERED for j in [orphan, *waiting])
