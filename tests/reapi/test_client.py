"""ReapiClient against the simulator on a loopback port: happy path, error mapping, retries, downloads."""

from __future__ import annotations

import io
import time
from email.utils import formatdate
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from bot.reapi import (
    DEFAULT_TIMEOUT,
    POLL_POLICY,
    SUBMIT_POLICY,
    AspectRatio,
    BadRequest,
    ContentPolicy,
    DownloadError,
    GenerationRequest,
    InsufficientFunds,
    InvalidResponse,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    ReapiClient,
    ReapiStatusError,
    ServerError,
    TaskFailed,
    TaskNotFound,
    Unauthorized,
)
from bot.reapi.simulator import Fault, Outcome
from tests.reapi.conftest import FAST_TIMEOUT, KEY

if TYPE_CHECKING:
    from bot.reapi import SubmittedTask, Task
    from bot.reapi.simulator import ReapiSimulator
    from tests.reapi.conftest import FakeClock, RecordingSleep

REQUEST = GenerationRequest(prompt="a lighthouse at dusk", aspect_ratio=AspectRatio.LANDSCAPE_16_9)


async def completed(client: ReapiClient, submitted: SubmittedTask) -> Task:
    task = await client.get_task(submitted.id)
    assert task.is_completed, task
    return task


async def test_submit_poll_download_gives_a_png_with_the_requested_ratio(
    client: ReapiClient, sim: ReapiSimulator
) -> None:
    request = GenerationRequest(
        prompt="edit me", image_urls=["https://cdn.example/a.png"], aspect_ratio=AspectRatio.LANDSCAPE_16_9
    )
    submitted = await client.submit(request)
    assert submitted.id.startswith("task_")
    assert submitted.status == "processing"
    assert sim.submissions == [
        {
            "task_id": submitted.id,
            "body": {
                "model": "nano-banana-2-lite",
                "prompt": "edit me",
                "image_urls": ["https://cdn.example/a.png"],
                "aspect_ratio": "16:9",
            },
        }
    ]
    task = await completed(client, submitted)
    assert task.output is not None
    image = await client.download(task.output.image_urls[0], max_bytes=1_000_000)
    assert image.content_type == "image/png"
    with Image.open(io.BytesIO(image.data)) as png:
        assert png.format == "PNG"
        assert png.width * 9 == png.height * 16


async def test_task_stays_processing_until_its_delay_has_passed(
    client: ReapiClient, sim: ReapiSimulator, clock: FakeClock
) -> None:
    sim.delay = 5
    submitted = await client.submit(REQUEST)
    assert (await client.get_task(submitted.id)).status == "processing"
    clock.advance(5)
    assert (await client.get_task(submitted.id)).is_completed


async def test_text_to_image_sends_no_image_urls(client: ReapiClient, sim: ReapiSimulator) -> None:
    await client.submit(GenerationRequest(prompt="p"))
    assert "image_urls" not in sim.submissions[0]["body"]


async def test_client_model_is_used_unless_the_request_names_one(base_url: str, sim: ReapiSimulator) -> None:
    async with ReapiClient(base_url=base_url, api_key=KEY, model="other-model") as other:
        with pytest.raises(BadRequest) as caught:
            await other.submit(GenerationRequest(prompt="p"))
        assert caught.value.code == 20004
        await other.submit(GenerationRequest(model="nano-banana-2-lite", prompt="p"))
    assert len(sim.submissions) == 1


async def test_api_key_goes_to_the_api_but_never_to_the_output_host(client: ReapiClient, sim: ReapiSimulator) -> None:
    task = await completed(client, await client.submit(REQUEST))
    assert task.output is not None
    await client.download(task.output.image_urls[0], max_bytes=1_000_000)
    assert sim.requests == [("submit", True), ("poll", True), ("download", False)]


# -- error mapping -----------------------------------------------------------------------------------


async def test_validation_errors_are_bad_request_with_reapis_code(client: ReapiClient, sim: ReapiSimulator) -> None:
    unchecked = GenerationRequest.model_construct(prompt="", image_urls=[], aspect_ratio=AspectRatio.AUTO)
    with pytest.raises(BadRequest) as caught:
        await client.submit(unchecked)
    assert (caught.value.status, caught.value.code) == (400, 20005)
    assert caught.value.request_id is not None
    assert caught.value.request_id.startswith("req_")
    assert sim.tasks == {}


@pytest.mark.parametrize("key", ["sk_live_wrong", "rk_live_other"])
async def test_refused_keys_are_unauthorized(base_url: str, sim: ReapiSimulator, key: str) -> None:
    sim.api_key = KEY
    async with ReapiClient(base_url=base_url, api_key=key) as wrong:
        with pytest.raises(Unauthorized) as caught:
            await wrong.submit(REQUEST)
    assert caught.value.code == 10003
    assert key not in str(caught.value)


async def test_out_of_credits_is_insufficient_funds(client: ReapiClient, sim: ReapiSimulator) -> None:
    sim.inject("submit", Fault.error(402))
    with pytest.raises(InsufficientFunds) as caught:
        await client.submit(REQUEST)
    assert caught.value.code == 40201
    assert sim.submit_count == 1


async def test_unmapped_status_is_a_plain_status_error(client: ReapiClient, sim: ReapiSimulator) -> None:
    sim.inject("submit", Fault.error(409, 30001, "conflict"))
    with pytest.raises(ReapiStatusError) as caught:
        await client.submit(REQUEST)
    assert type(caught.value) is ReapiStatusError
    assert (caught.value.status, caught.value.code) == (409, 30001)


async def test_poll_of_an_unknown_task_is_task_not_found(client: ReapiClient, sleeps: RecordingSleep) -> None:
    with pytest.raises(TaskNotFound) as caught:
        await client.get_task("task_" + "0" * 32)
    assert caught.value.code == 40401
    assert sleeps.delays == []


async def test_poll_of_another_keys_task_is_task_not_found(client: ReapiClient, base_url: str) -> None:
    submitted = await client.submit(REQUEST)
    async with ReapiClient(base_url=base_url, api_key="rk_live_someone_else") as stranger:
        with pytest.raises(TaskNotFound):
            await stranger.get_task(submitted.id)


async def test_content_policy_failure(client: ReapiClient, sim: ReapiSimulator) -> None:
    sim.next_outcomes.append(Outcome.fail(code=80006, message="Blocked by content policy."))
    task = await client.get_task((await client.submit(REQUEST)).id)
    assert task.is_failed
    assert task.output is None
    failure = TaskFailed.from_error(task.error)
    assert isinstance(failure, ContentPolicy)
    assert failure.code == 80006
    assert failure.request_id is not None


async def test_unknown_status_is_running_and_logged_once(
    client: ReapiClient, sim: ReapiSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.next_outcomes.append(Outcome.never(status="queued"))
    submitted = await client.submit(REQUEST)
    with caplog.at_level("WARNING", logger="bot.reapi"):
        first = await client.get_task(submitted.id)
        second = await client.get_task(submitted.id)
    assert first.status == second.status == "queued"
    assert not first.is_done
    assert [r.getMessage() for r in caplog.records].count(
        "reAPI reported an undocumented task status 'queued'; treating it as running"
    ) == 1


async def test_submit_answered_with_html_is_invalid_response_and_not_retried(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    sim.inject("submit", Fault.raw(200, "<html>ok</html>"))
    with pytest.raises(InvalidResponse, match="not JSON"):
        await client.submit(REQUEST)
    assert sim.submit_count == 1
    assert sleeps.delays == []


async def test_poll_answer_missing_fields_is_invalid_response(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    submitted = await client.submit(REQUEST)
    sim.inject("poll", Fault.raw(200, '{"status": "completed"}', "application/json"))
    with pytest.raises(InvalidResponse, match="bad fields: id"):
        await client.get_task(submitted.id)
    assert sleeps.delays == []


# -- retries: submit -----------------------------------------------------------------------------------


async def test_submit_429_is_retried_after_retry_after(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    sim.inject("submit", Fault.error(429, retry_after=7))
    submitted = await client.submit(REQUEST)
    assert sleeps.delays == [7.0]
    assert sim.submit_count == 2
    assert [s["task_id"] for s in sim.submissions] == [submitted.id]


async def test_submit_429_retry_after_is_capped(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    sim.inject("submit", Fault.error(429, retry_after=3600))
    await client.submit(REQUEST)
    assert sleeps.delays == [SUBMIT_POLICY.max_retry_after]


async def test_submit_429_gives_up_after_the_policys_attempts(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    sim.inject("submit", *[Fault.error(429, retry_after=1)] * SUBMIT_POLICY.max_attempts)
    with pytest.raises(RateLimited) as caught:
        await client.submit(REQUEST)
    assert caught.value.retry_after == 1.0
    assert sim.submit_count == SUBMIT_POLICY.max_attempts
    assert sleeps.delays == [1.0] * (SUBMIT_POLICY.max_attempts - 1)
    assert sim.tasks == {}


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_submit_5xx_is_not_retried(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep, status: int
) -> None:
    sim.inject("submit", Fault.error(status, retry_after=1))
    with pytest.raises(ServerError):
        await client.submit(REQUEST)
    assert sim.submit_count == 1
    assert sleeps.delays == []


async def test_submit_dropped_after_the_task_exists_is_outcome_unknown_and_not_reposted(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    sim.inject("submit", Fault.drop_after())
    with pytest.raises(OutcomeUnknown):
        await client.submit(REQUEST)
    assert len(sim.tasks) == 1
    assert sim.submit_count == 1
    assert sleeps.delays == []


async def test_submit_dropped_before_the_body_is_read_is_still_outcome_unknown(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    sim.inject("submit", Fault.drop_before())
    with pytest.raises(OutcomeUnknown):
        await client.submit(REQUEST)
    assert sim.tasks == {}  # the client cannot know that, so it must not re-POST
    assert sim.submit_count == 1
    assert sleeps.delays == []


async def test_submit_read_timeout_is_outcome_unknown(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    sim.inject("submit", Fault.slow(FAST_TIMEOUT.sock_read * 2))  # type: ignore[operator]
    with pytest.raises(OutcomeUnknown, match="SocketTimeoutError"):
        await client.submit(REQUEST)
    assert sim.submit_count == 1
    assert sleeps.delays == []


async def test_connection_refused_is_not_sent_and_retried_per_policy(closed_port: int, sleeps: RecordingSleep) -> None:
    url = f"http://127.0.0.1:{closed_port}/api/v1"
    async with ReapiClient(base_url=url, api_key=KEY, sleep=sleeps) as reapi:
        with pytest.raises(NotSent, match="could not connect"):
            await reapi.submit(REQUEST)
    assert len(sleeps.delays) == SUBMIT_POLICY.max_attempts - 1
    for attempt, delay in enumerate(sleeps.delays, start=1):
        ceiling = min(SUBMIT_POLICY.max_delay, SUBMIT_POLICY.base_delay * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling


# -- retries: poll -----------------------------------------------------------------------------------


async def test_poll_429_with_http_date_is_honoured(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    submitted = await client.submit(REQUEST)
    sim.inject("poll", Fault.error(429, retry_after=formatdate(time.time() + 5, usegmt=True)))
    assert (await client.get_task(submitted.id)).is_completed
    assert len(sleeps.delays) == 1
    assert 3.0 <= sleeps.delays[0] <= 5.0


async def test_poll_transient_failures_are_retried_with_backoff(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    submitted = await client.submit(REQUEST)
    sim.inject("poll", Fault.error(502), Fault.error(504), Fault.slow(0.4))
    assert (await client.get_task(submitted.id)).is_completed
    assert sim.poll_count == 4
    assert len(sleeps.delays) == 3
    for attempt, delay in enumerate(sleeps.delays, start=1):
        ceiling = min(POLL_POLICY.max_delay, POLL_POLICY.base_delay * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling


async def test_poll_dropped_connections_are_retried(client: ReapiClient, sim: ReapiSimulator) -> None:
    # aiohttp itself silently repeats a GET once when a reused keep-alive connection drops (never a POST),
    # so two drops are needed before our policy sees one.
    submitted = await client.submit(REQUEST)
    sim.inject("poll", Fault.drop_after(), Fault.drop_before(), Fault.drop_after())
    assert (await client.get_task(submitted.id)).is_completed
    assert sim.poll_count == 4


async def test_poll_gives_up_after_the_policys_attempts(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    submitted = await client.submit(REQUEST)
    sim.inject("poll", *[Fault.error(503)] * POLL_POLICY.max_attempts)
    with pytest.raises(ServerError):
        await client.get_task(submitted.id)
    assert len(sleeps.delays) == POLL_POLICY.max_attempts - 1


# -- downloads ----------------------------------------------------------------------------------------


async def output_url(client: ReapiClient) -> str:
    task = await completed(client, await client.submit(REQUEST))
    assert task.output is not None
    return task.output.image_urls[0]


async def test_download_over_the_byte_cap_is_refused(client: ReapiClient) -> None:
    with pytest.raises(DownloadError) as caught:
        await client.download(await output_url(client), max_bytes=100)
    assert caught.value.reason == "too_large"


@pytest.mark.parametrize("status", [403, 404, 410])
async def test_expired_output_is_a_download_error(
    client: ReapiClient, sim: ReapiSimulator, clock: FakeClock, sleeps: RecordingSleep, status: int
) -> None:
    sim.output_ttl, sim.expired_status = 60, status
    url = await output_url(client)
    await client.download(url, max_bytes=1_000_000)
    clock.advance(61)
    with pytest.raises(DownloadError) as caught:
        await client.download(url, max_bytes=1_000_000)
    assert (caught.value.reason, caught.value.status) == ("expired", status)
    assert sleeps.delays == []


async def test_download_that_is_not_an_image_is_refused(client: ReapiClient, sim: ReapiSimulator) -> None:
    url = await output_url(client)
    sim.inject("download", Fault.raw(200, "<html>login</html>"))
    with pytest.raises(DownloadError) as caught:
        await client.download(url, max_bytes=1_000_000)
    assert caught.value.reason == "bad_type"


async def test_download_transient_failures_are_retried(
    client: ReapiClient, sim: ReapiSimulator, sleeps: RecordingSleep
) -> None:
    url = await output_url(client)
    sim.inject("download", Fault.error(503, retry_after=2), Fault.slow(0.4))
    image = await client.download(url, max_bytes=1_000_000)
    assert image.content_type == "image/png"
    assert sleeps.delays[0] == 2.0
    assert len(sleeps.delays) == 2


async def test_download_unavailable_after_retries(client: ReapiClient, sim: ReapiSimulator) -> None:
    url = await output_url(client)
    sim.inject("download", *[Fault.error(500)] * 4)
    with pytest.raises(DownloadError) as caught:
        await client.download(url, max_bytes=1_000_000)
    assert (caught.value.reason, caught.value.status) == ("unavailable", 500)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "/files/x.png", "http://[::1"])
async def test_download_refuses_non_http_urls(client: ReapiClient, sim: ReapiSimulator, url: str) -> None:
    with pytest.raises(DownloadError) as caught:
        await client.download(url, max_bytes=10)
    assert caught.value.reason == "bad_url"
    assert sim.requests == []


# -- lifecycle ----------------------------------------------------------------------------------------


async def test_closed_client_refuses_work(base_url: str) -> None:
    reapi = ReapiClient(base_url=base_url, api_key=KEY)
    await reapi.start()
    await reapi.close()
    await reapi.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await reapi.get_task("task_x")


def test_base_url_must_be_absolute_http() -> None:
    with pytest.raises(ValueError, match="absolute"):
        ReapiClient(base_url="reapi.ai/api/v1", api_key=KEY)
    assert ReapiClient(base_url="https://reapi.ai/api/v1", api_key=KEY).base_url == "https://reapi.ai/api/v1/"


def test_default_timeout_bounds_connect_and_reads_but_not_the_whole_exchange() -> None:
    assert DEFAULT_TIMEOUT.total is None
    assert DEFAULT_TIMEOUT.sock_connect
    assert DEFAULT_TIMEOUT.sock_read
