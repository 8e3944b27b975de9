"""Metrics: the observer → Prometheus mapping, the scrape-time gauges, the HTTP traces and the health check."""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from bot.config import ConfigError, CreditsSettings, JobsSettings, MetricsSettings, load_settings
from bot.engine.credits import CreditLedger
from bot.engine.runner import JobRunner
from bot.engine.spend import SpendToday
from bot.observability import HealthCheck, Metrics, reapi_trace
from bot.observability.traces import snowflake_time
from bot.reapi import GenerationRequest, ReapiClient, ServerError
from bot.reapi.retry import RetryPolicy
from bot.reapi.simulator import Fault, ReapiSimulator
from bot.store import Job, JobKind, JobState, NewJob
from tests.engine.fakes import FakeClock, FakeNotifier, FakeReapi, FakeStore

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_aiohttp import AiohttpServer

NOW = 1_700_000_000.0


def job(state: JobState, *, id: str = "j1", **values: Any) -> Job:
    """A stored job row as the runner hands it to the observer."""
    fields: dict[str, Any] = dict(
        kind=JobKind.IMAGINE,
        user_id=7,
        guild_id=1,
        channel_id=2,
        prompt="a fox",
        aspect_ratio="auto",
        cost=3,
        created_at=NOW,
    )
    return Job(**{**fields, **values}, id=id, state=state)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def states(metrics: Metrics) -> dict[str, float | None]:
    return {s: sample(metrics, "imaginebot_jobs", state=s) for s in ("queued", "submitting", "running", "delivering")}


# -- the observer mapping ---------------------------------------------------------------------------------------


def test_a_delivered_job_counts_its_outcome_credits_polls_and_timings() -> None:
    metrics = Metrics(clock=lambda: NOW)
    queued = job(JobState.QUEUED)
    metrics.job_accepted(queued)
    assert sample(metrics, "imaginebot_jobs_accepted_total", kind="imagine") == 1
    assert sample(metrics, "imaginebot_credits_reserved_total") == 3
    assert states(metrics) == {"queued": 1, "submitting": 0, "running": 0, "delivering": 0}

    metrics.job_state(replace(queued, state=JobState.SUBMITTING))
    running = replace(queued, state=JobState.RUNNING, submitted_at=NOW + 1)
    metrics.job_state(running)
    assert states(metrics) == {"queued": 0, "submitting": 0, "running": 1, "delivering": 0}
    for _ in range(4):
        metrics.job_polled(running)
    metrics.job_state(replace(running, state=JobState.DELIVERING, completed_at=NOW + 13))
    metrics.job_finished(
        replace(running, state=JobState.DELIVERED, completed_at=NOW + 13, finished_at=NOW + 14.5, result_message_id=9)
    )

    assert sample(metrics, "imaginebot_jobs_finished_total", outcome="delivered", code="") == 1
    assert sample(metrics, "imaginebot_credits_captured_total") == 3
    assert sample(metrics, "imaginebot_credits_refunded_total") == 0
    assert sample(metrics, "imaginebot_polls_per_job_count") == 1
    assert sample(metrics, "imaginebot_polls_per_job_sum") == 4
    assert sample(metrics, "imaginebot_task_duration_seconds_sum") == 12
    assert sample(metrics, "imaginebot_delivery_delay_seconds_sum") == 1.5
    assert states(metrics) == {"queued": 0, "submitting": 0, "running": 0, "delivering": 0}


def test_a_failed_job_counts_its_code_and_refund_and_no_timings() -> None:
    metrics = Metrics()
    metrics.job_accepted(job(JobState.QUEUED))
    metrics.job_state(job(JobState.RUNNING, submitted_at=NOW))
    metrics.job_polled(job(JobState.RUNNING))
    metrics.job_finished(job(JobState.FAILED, error_code="content_policy", submitted_at=NOW, finished_at=NOW + 2))

    assert sample(metrics, "imaginebot_jobs_finished_total", outcome="failed", code="content_policy") == 1
    assert sample(metrics, "imaginebot_jobs_finished_total", outcome="delivered", code="") is None
    assert sample(metrics, "imaginebot_credits_refunded_total") == 3
    assert sample(metrics, "imaginebot_credits_captured_total") == 0
    assert sample(metrics, "imaginebot_polls_per_job_sum") == 1
    assert sample(metrics, "imaginebot_task_duration_seconds_count") == 0
    assert sample(metrics, "imaginebot_delivery_delay_seconds_count") == 0


def test_a_job_cancelled_in_the_queue_is_refunded_and_observes_no_polls() -> None:
    metrics = Metrics()
    metrics.job_accepted(job(JobState.QUEUED))
    metrics.job_finished(job(JobState.FAILED, error_code="cancelled"))
    assert sample(metrics, "imaginebot_jobs_finished_total", outcome="failed", code="cancelled") == 1
    assert sample(metrics, "imaginebot_polls_per_job_count") == 0


def test_a_released_job_leaves_the_state_gauge_and_resumed_jobs_enter_it() -> None:
    metrics = Metrics()
    metrics.job_state(job(JobState.RUNNING, id="resumed"))  # found running after a restart
    metrics.job_state(job(JobState.QUEUED, id="waiting"))
    assert states(metrics) == {"queued": 1, "submitting": 0, "running": 1, "delivering": 0}
    metrics.job_released("resumed")  # paused for a shutdown, or taken over elsewhere
    assert states(metrics) == {"queued": 1, "submitting": 0, "running": 0, "delivering": 0}
    assert sample(metrics, "imaginebot_credits_reserved_total") == 0  # a resumed job was reserved long ago


class Queue:
    def __init__(self, *jobs: Job) -> None:
        self.jobs = list(jobs)

    def waiting(self) -> list[Job]:
        return self.jobs


class Spend:
    def __init__(self, today: SpendToday | Exception, pause_reason: str | None = None) -> None:
        self._today = today
        self.pause_reason = pause_reason

    async def today(self) -> SpendToday:
        if isinstance(self._today, Exception):
            raise self._today
        return self._today


async def test_queue_and_spend_gauges_are_read_when_scraped() -> None:
    now = [NOW]
    metrics = Metrics(clock=lambda: now[0])
    queue = Queue(job(JobState.QUEUED, id="a", created_at=NOW - 30), job(JobState.QUEUED, id="b", created_at=NOW - 5))
    metrics.watch(queue=queue, spend=Spend(SpendToday(spent=340, in_flight=40, cap=1000), pause_reason="402"))
    text = (await metrics.render()).decode()
    assert "imaginebot_queue_depth 2.0" in text
    assert "imaginebot_queue_oldest_age_seconds 30.0" in text
    assert "imaginebot_reapi_spend_today_credits 340.0" in text
    assert "imaginebot_reapi_spend_in_flight_credits 40.0" in text
    assert "imaginebot_reapi_spend_cap_credits 1000.0" in text
    assert "imaginebot_reapi_paused 1.0" in text

    queue.jobs = []  # nothing waits any more: read again, not remembered
    now[0] += 60
    text = (await metrics.render()).decode()
    assert "imaginebot_queue_depth 0.0" in text
    assert "imaginebot_queue_oldest_age_seconds 0.0" in text


async def test_a_failing_spend_read_drops_the_spend_gauges_but_not_the_scrape() -> None:
    metrics = Metrics()
    metrics.watch(queue=Queue(), spend=Spend(ConnectionError("database gone")))
    text = (await metrics.render()).decode()
    assert "imaginebot_reapi_spend_today_credits" not in text
    assert "imaginebot_queue_depth 0.0" in text
    assert "imaginebot_reapi_paused 0.0" in text


def test_two_bots_in_one_process_keep_separate_numbers() -> None:
    first, second = Metrics(), Metrics()
    first.job_accepted(job(JobState.QUEUED))
    assert sample(first, "imaginebot_jobs_accepted_total", kind="imagine") == 1
    assert sample(second, "imaginebot_jobs_accepted_total", kind="imagine") is None


# -- the runner calls the observer at its transitions --------------------------------------------------------


async def settle(store: FakeStore, runner: JobRunner) -> None:
    for n in range(50_000):
        if all(j.state.is_terminal for j in store.jobs.values()) and not runner._tasks:
            return
        await asyncio.sleep(0 if n < 2_000 else 0.001)
    raise AssertionError("jobs did not settle")


async def test_the_runner_reports_each_job_to_its_observer() -> None:
    clock = FakeClock()
    store = FakeStore(clock)
    reapi = FakeReapi()
    metrics = Metrics(clock=clock)
    runner = JobRunner(
        store=store,
        reapi=reapi,
        notifier=FakeNotifier(store=store),
        credit_rules=CreditLedger(CreditsSettings(cost_per_image=2), owner_ids=frozenset()),
        settings=JobsSettings(poll_interval=1.0, max_poll_interval=1.0),
        max_download_bytes=10_000_000,
        observer=metrics,
        clock=clock,
        sleep=clock.sleep,
    )
    await runner.start()
    try:
        reapi.poll_script["task_1"] = deque(["processing", "processing", "completed"])
        reapi.poll_script["task_2"] = deque(["failed:80006"])
        for prompt in ("a fox", "a blocked fox"):
            new = NewJob(
                kind=JobKind.IMAGINE,
                user_id=7,
                guild_id=1,
                channel_id=2,
                prompt=prompt,
                aspect_ratio="auto",
                placeholder_message_id=500,
            )
            await runner.submit(new)
        await settle(store, runner)
    finally:
        await runner.stop()

    assert sample(metrics, "imaginebot_jobs_accepted_total", kind="imagine") == 2
    assert sample(metrics, "imaginebot_jobs_finished_total", outcome="delivered", code="") == 1
    assert sample(metrics, "imaginebot_jobs_finished_total", outcome="failed", code="content_policy") == 1
    assert sample(metrics, "imaginebot_credits_reserved_total") == 4
    assert sample(metrics, "imaginebot_credits_captured_total") == 2
    assert sample(metrics, "imaginebot_credits_refunded_total") == 2
    assert sample(metrics, "imaginebot_polls_per_job_count") == 2
    assert sample(metrics, "imaginebot_polls_per_job_sum") == 4  # 3 for the delivered job, 1 for the failed one
    assert sample(metrics, "imaginebot_task_duration_seconds_count") == 1
    assert states(metrics) == {"queued": 0, "submitting": 0, "running": 0, "delivering": 0}


# -- HTTP traces ------------------------------------------------------------------------------------------------


async def test_the_reapi_trace_times_and_counts_each_request_by_operation_and_status(
    aiohttp_server: AiohttpServer,
) -> None:
    sim = ReapiSimulator(api_key="rk_test_trace", delay=0, image_size=64)
    server = await aiohttp_server(sim.app)
    metrics = Metrics()
    no_retry = RetryPolicy(max_attempts=1, base_delay=0, max_delay=0, max_retry_after=0)

    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    async with ReapiClient(
        base_url=str(server.make_url("/api/v1")),
        api_key="rk_test_trace",
        trace_configs=[reapi_trace(metrics)],
        poll_policy=no_retry,
        sleep=no_sleep,
    ) as client:
        submitted = await client.submit(GenerationRequest(prompt="a fox"))
        sim.inject("poll", Fault.error(503))
        with pytest.raises(ServerError):
            await client.get_task(submitted.id)
        task = await client.get_task(submitted.id)
        assert task.output is not None
        await client.download(task.output.image_urls[0], max_bytes=10_000_000)

    assert sample(metrics, "imaginebot_reapi_requests_total", operation="submit", status="200") == 1
    assert sample(metrics, "imaginebot_reapi_requests_total", operation="poll", status="503") == 1
    assert sample(metrics, "imaginebot_reapi_requests_total", operation="poll", status="200") == 1
    assert sample(metrics, "imaginebot_reapi_requests_total", operation="download", status="200") == 1
    assert sample(metrics, "imaginebot_reapi_request_duration_seconds_count", operation="poll") == 2


async def test_the_reapi_trace_counts_a_request_that_got_no_answer_as_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics = Metrics()
    async with ReapiClient(
        base_url=f"http://127.0.0.1:{port}/api/v1",
        api_key="rk_test_trace",
        trace_configs=[reapi_trace(metrics)],
        poll_policy=RetryPolicy(max_attempts=1, base_delay=0, max_delay=0, max_retry_after=0),
    ) as client:
        with pytest.raises(Exception, match="could not connect"):
            await client.get_task("task_x")
    assert sample(metrics, "imaginebot_reapi_requests_total", operation="poll", status="error") == 1


def test_snowflake_time_reads_discords_epoch() -> None:
    # Discord's documented example: 175928847299117063 was created at 2016-04-30 11:18:25.796 UTC.
    assert snowflake_time(175928847299117063) == pytest.approx(1462015105.796)


# -- the health check -------------------------------------------------------------------------------------------


async def answers() -> str:
    return "ok"


async def test_health_is_ok_only_when_gateway_database_and_runner_all_are() -> None:
    healthy = await HealthCheck(gateway=lambda: True, database=answers, runner=lambda: True).check()
    assert healthy == {"ok": True, "gateway": True, "database": True, "runner": True}

    offline = await HealthCheck(gateway=lambda: False, database=answers, runner=lambda: True).check()
    assert offline["ok"] is False
    assert offline["reason"] == "Discord gateway not connected"

    stopped = await HealthCheck(gateway=lambda: True, database=answers, runner=lambda: False).check()
    assert stopped["reason"] == "job runner not running"


async def test_health_names_a_failing_or_hanging_database_without_its_message() -> None:
    async def broken() -> None:
        raise OSError("could not connect to postgresql://bot:hunter2@db/bot")

    async def hangs() -> None:
        await asyncio.sleep(3600)

    down = await HealthCheck(gateway=lambda: True, database=broken, runner=lambda: True).check()
    assert down == {"ok": False, "gateway": True, "database": False, "runner": True, "reason": down["reason"]}
    assert down["reason"] == "database unreachable (OSError)"

    slow = await HealthCheck(gateway=lambda: True, database=hangs, runner=lambda: True, timeout=0.01).check()
    assert slow["reason"] == "database did not answer within 0.01 s"


# -- configuration ----------------------------------------------------------------------------------------------


def test_metrics_are_off_by_default_and_listen_on_loopback_when_enabled(tmp_path: Path) -> None:
    assert MetricsSettings().enabled is False
    config = tmp_path / "config.toml"
    config.write_text("[metrics]\nenabled = true\n", encoding="utf-8")
    metrics = load_settings(config).metrics
    assert (metrics.enabled, metrics.host, metrics.port) == (True, "127.0.0.1", 9108)


def test_a_metrics_port_out_of_range_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[metrics]\nenabled = true\nport = 70000\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"metrics\.port"):
        load_settings(config)
