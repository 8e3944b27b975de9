"""/metrics and /healthz end to end: the real bot runs jobs against the fakes, then the endpoint is scraped."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.reapi.simulator import Outcome
from bot.surface.app import ImagineBot
from tests.e2e.conftest import settled
from tests.e2e.test_imagine import final_edit, imagine

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from tests.fakes.fake_discord import FakeDiscord

StartBot = Callable[..., Awaitable[ImagineBot]]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


async def healthz(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as response:
        return response.status, await response.json()


async def scrape(port: int) -> Samples:
    """Every sample /metrics serves, by name and labels."""
    status, text = await get(port, "/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def metrics_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Metrics on a free loopback port; a daily reAPI spend cap of 1,000 credits (50 images)."""
    return make_settings(metrics={"enabled": True, "port": free_port()}, credits={"daily_spend_cap": 1000})


async def test_metrics_count_a_delivered_and_a_moderated_job_and_healthz_follows_the_database(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, metrics_settings: Settings
) -> None:
    port = metrics_settings.metrics.port
    bot = await start_bot(metrics_settings)
    assert await healthz(port) == (200, {"ok": True, "gateway": True, "database": True, "runner": True})

    # The first progress edit is rate limited once: discord.py waits and retries, the metrics count it.
    fake.fail_next("PATCH", r"/webhooks/\d+/[^/]+/messages/.+", 429, retry_after=0.05)
    delivered = await imagine(fake, "a red fox")
    await final_edit(fake, delivered, files=True)
    await settled(bot)
    sim.next_outcomes.append(Outcome.fail(80006, "Blocked by the content policy."))
    moderated = await imagine(fake, "a blocked fox")
    await final_edit(fake, moderated, files=False)
    await settled(bot)

    samples = await scrape(port)
    assert value(samples, "imaginebot_jobs_accepted_total", kind="imagine") == 2
    assert value(samples, "imaginebot_jobs_finished_total", outcome="delivered", code="") == 1
    assert value(samples, "imaginebot_jobs_finished_total", outcome="failed", code="content_policy") == 1
    assert value(samples, "imaginebot_credits_reserved_total") == 2
    assert value(samples, "imaginebot_credits_captured_total") == 1
    assert value(samples, "imaginebot_credits_refunded_total") == 1
    # Both jobs were polled; every logical poll was one HTTP request answered 200 (no poll faults here).
    assert value(samples, "imaginebot_polls_per_job_count") == 2
    assert value(samples, "imaginebot_polls_per_job_sum") == sim.poll_count
    assert value(samples, "imaginebot_reapi_requests_total", operation="poll", status="200") == sim.poll_count
    assert value(samples, "imaginebot_reapi_requests_total", operation="submit", status="200") == sim.submit_count == 2
    assert value(samples, "imaginebot_reapi_requests_total", operation="download", status="200") == 1
    assert value(samples, "imaginebot_reapi_request_duration_seconds_count", operation="submit") == 2
    assert value(samples, "imaginebot_task_duration_seconds_count") == 1
    assert value(samples, "imaginebot_delivery_delay_seconds_count") == 1
    # Two interactions, each acknowledged once; one 429 from Discord.
    assert value(samples, "imaginebot_ack_latency_seconds_count") == 2
    assert value(samples, "imaginebot_discord_rate_limited_total", scope="user") == 1
    # Only the delivered image counts against the owner's budget: reAPI refunds a moderated task.
    assert value(samples, "imaginebot_reapi_spend_today_credits") == 20
    assert value(samples, "imaginebot_reapi_spend_in_flight_credits") == 0
    assert value(samples, "imaginebot_reapi_spend_cap_credits") == 1000
    assert value(samples, "imaginebot_reapi_paused") == 0
    assert value(samples, "imaginebot_queue_depth") == 0
    assert all(value(samples, "imaginebot_jobs", state=s) == 0 for s in ("queued", "running", "delivering"))

    await bot.services.store.close()
    status, body = await healthz(port)
    assert status == 503
    assert body["ok"] is False
    assert body["database"] is False
    assert body["reason"].startswith("database")
    # The scrape still answers (without the spend gauges, which need the database).
    samples = await scrape(port)
    assert value(samples, "imaginebot_jobs_finished_total", outcome="delivered", code="") == 1
    assert value(samples, "imaginebot_reapi_spend_today_credits") is None


async def test_a_callers_http_trace_runs_beside_the_metrics_hooks(
    fake: FakeDiscord, start_bot: StartBot, metrics_settings: Settings
) -> None:
    """ImagineBot(http_trace=…) (the benchmarks time each ACK with one): the caller's hooks run on discord.py's
    HTTP session, and the metrics' hooks are added to the same trace, not lost."""
    callbacks: list[str] = []

    async def ended(session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        if params.url.path.endswith("/callback"):
            callbacks.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(ended)
    bot = await start_bot(metrics_settings, http_trace=trace)
    await final_edit(fake, await imagine(fake, "a red fox"), files=True)
    await settled(bot)
    assert callbacks == ["POST"]  # the caller's hook saw the one interaction's ACK
    samples = await scrape(metrics_settings.metrics.port)
    assert value(samples, "imaginebot_ack_latency_seconds_count") == 1  # and so did the metrics'


async def test_healthz_is_503_until_the_gateway_is_connected(
    fake: FakeDiscord, sim: ReapiSimulator, metrics_settings: Settings
) -> None:
    port = metrics_settings.metrics.port
    bot = ImagineBot(metrics_settings)
    try:
        # login() runs setup_hook (services, runner, the endpoint) without connecting to the gateway.
        await bot.login(metrics_settings.discord.token.get_secret_value())
        status, body = await healthz(port)
        assert status == 503
        assert body == {
            "ok": False,
            "gateway": False,
            "database": True,
            "runner": True,
            "reason": "Discord gateway not connected",
        }
    finally:
        await bot.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        await healthz(port)  # closed with the bot


async def test_nothing_listens_unless_metrics_are_enabled(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    port = free_port()
    bot = await start_bot(make_settings(metrics={"port": port}))
    assert bot.metrics is None
    with pytest.raises(aiohttp.ClientConnectionError):
        await healthz(port)
