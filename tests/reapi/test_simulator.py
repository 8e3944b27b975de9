"""The simulator honours reapi.md: auth codes, validation codes, task lifecycle, outputs, markers and serving."""

from __future__ import annotations

import asyncio
import io
import logging
import math
import re
import statistics
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from PIL import Image

from bot.reapi import AspectRatio
from bot.reapi.simulator import Fault, Outcome, ReapiSimulator, render_png, serve
from tests.reapi.conftest import KEY

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient, TestServer
    from pytest_aiohttp import AiohttpClient

    from tests.reapi.conftest import FakeClock

AUTH = {"Authorization": f"Bearer {KEY}"}
GOOD = {"model": "nano-banana-2-lite", "prompt": "a red kite"}


@pytest.fixture
async def http(aiohttp_client: AiohttpClient, server: TestServer) -> TestClient[Any, Any]:
    return await aiohttp_client(server)


async def post(http: TestClient[Any, Any], body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, str) else None
    async with http.post(
        "/api/v1/images/generations", json=None if data is not None else body, data=data, headers=headers or AUTH
    ) as response:
        return response.status, await response.json()


async def poll(http: TestClient[Any, Any], task_id: str) -> dict[str, Any]:
    async with http.get(f"/api/v1/tasks/{task_id}", headers=AUTH) as response:
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 10001),
        ({"Authorization": f"Basic {KEY}"}, 10002),
        ({"Authorization": "Bearer"}, 10002),
        ({"Authorization": "Bearer sk_live_nope"}, 10003),
    ],
)
async def test_auth_failures_use_reapis_codes(http: TestClient[Any, Any], headers: dict[str, str], code: int) -> None:
    async with http.post("/api/v1/images/generations", json=GOOD, headers=headers) as response:
        assert response.status == 401
        error = (await response.json())["error"]
    assert error["code"] == code
    assert re.fullmatch(r"req_[0-9a-f-]{36}", error["request_id"])


async def test_configured_key_is_the_only_one_accepted(http: TestClient[Any, Any], sim: ReapiSimulator) -> None:
    sim.api_key = "rk_live_configured"
    assert (await post(http, GOOD))[0] == 401
    assert (await post(http, GOOD, {"Authorization": "Bearer rk_live_configured"}))[0] == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", 20001),
        (["a list"], 20001),
        ({"prompt": "p"}, 20002),
        ({"model": "nano-banana-2-lite"}, 20002),
        ({"model": 3, "prompt": "p"}, 20003),
        ({"model": "nano-banana-2-lite", "prompt": 3}, 20003),
        ({**GOOD, "n": 2}, 20003),
        ({**GOOD, "resolution": "2K"}, 20003),
        ({**GOOD, "image_urls": "https://a/b.png"}, 20003),
        ({"model": "nano-banana-2", "prompt": "p"}, 20004),
        ({"model": "nano-banana-2-lite", "prompt": ""}, 20005),
        ({"model": "nano-banana-2-lite", "prompt": "x" * 20_001}, 20005),
        ({**GOOD, "aspect_ratio": "7:5"}, 20006),
        ({**GOOD, "aspect_ratio": ["1:1"]}, 20006),
        ({**GOOD, "image_urls": ["https://a/b.png"] * 11}, 20007),
        ({**GOOD, "image_urls": ["data:image/png;base64,AAAA"]}, 20007),
        ({**GOOD, "image_urls": ["ftp://a/b.png"]}, 20007),
    ],
)
async def test_invalid_bodies_are_400_with_the_expected_code(
    http: TestClient[Any, Any], sim: ReapiSimulator, body: Any, code: int
) -> None:
    status, answer = await post(http, body)
    assert (status, answer["error"]["code"]) == (400, code)
    assert sim.tasks == {}
    assert sim.submissions == []


@pytest.mark.parametrize(
    "body",
    [
        GOOD,
        {**GOOD, "prompt": "x" * 20_000, "aspect_ratio": "21:9"},
        {**GOOD, "image_urls": ["https://a/b.png"] * 10, "aspect_ratio": "auto"},
        {**GOOD, "image_urls": []},
    ],
)
async def test_valid_bodies_create_a_processing_task(
    http: TestClient[Any, Any], sim: ReapiSimulator, body: dict[str, Any]
) -> None:
    status, answer = await post(http, body)
    assert status == 200
    assert set(answer) == {"id", "model", "status", "created_at"}
    assert re.fullmatch(r"task_[0-9a-f]{32}", answer["id"])
    assert (answer["model"], answer["status"]) == ("nano-banana-2-lite", "processing")
    assert isinstance(answer["created_at"], int)
    assert sim.submissions == [{"task_id": answer["id"], "body": body}]


async def test_task_completes_lazily_with_an_output_on_the_servers_own_host(
    http: TestClient[Any, Any], sim: ReapiSimulator, clock: FakeClock, server: TestServer
) -> None:
    sim.delay = 2
    task_id = (await post(http, GOOD))[1]["id"]
    first = await poll(http, task_id)
    assert (first["status"], first["output"], first["error"]) == ("processing", None, None)
    async with http.get(f"/files/{task_id}.png") as early:
        assert early.status == 404
    clock.advance(2)
    done = await poll(http, task_id)
    assert done["status"] == "completed"
    assert done["error"] is None
    assert done["output"]["image_urls"] == [str(server.make_url(f"/files/{task_id}.png"))]
    assert sim.poll_count == 2


@pytest.mark.parametrize(
    ("outcome", "prompt", "code"),
    [
        (Outcome.fail(code=80006, message="policy"), "p", 80006),
        (Outcome.fail(code=50001), "p", 50001),
        (None, "please [sim:policy]", 80006),
        (None, "[sim:fail] please", 50001),
    ],
)
async def test_failed_tasks_carry_an_error_and_no_output(
    http: TestClient[Any, Any], sim: ReapiSimulator, outcome: Outcome | None, prompt: str, code: int
) -> None:
    if outcome is not None:
        sim.next_outcomes.append(outcome)
    task = await poll(http, (await post(http, {**GOOD, "prompt": prompt}))[1]["id"])
    assert task["status"] == "failed"
    assert task["output"] is None
    assert task["error"]["code"] == code
    assert task["error"]["request_id"].startswith("req_")


async def test_slow_marker_triples_the_delay_and_never_stays_processing(
    http: TestClient[Any, Any], sim: ReapiSimulator, clock: FakeClock
) -> None:
    sim.delay = 1
    sim.next_outcomes.append(Outcome.never())
    stuck = (await post(http, GOOD))[1]["id"]
    slow = (await post(http, {**GOOD, "prompt": "[sim:slow] kite"}))[1]["id"]
    clock.advance(2.9)
    assert (await poll(http, slow))["status"] == "processing"
    clock.advance(0.1)
    assert (await poll(http, slow))["status"] == "completed"
    clock.advance(10_000)
    assert (await poll(http, stuck))["status"] == "processing"


@pytest.mark.parametrize("ratio", list(AspectRatio))
def test_outputs_have_the_exact_requested_ratio(ratio: AspectRatio) -> None:
    with Image.open(io.BytesIO(render_png("p", ratio, 256))) as image:
        assert image.format == "PNG"
        width, height = ratio.ratio or (1, 1)
        assert image.width * height == image.height * width
        assert max(image.size) <= 256
        assert max(image.size) >= 256 * 0.9


def test_sixteen_by_nine_is_256_by_144_and_prompts_differ() -> None:
    with Image.open(io.BytesIO(render_png("a", AspectRatio.LANDSCAPE_16_9, 256))) as image:
        assert image.size == (256, 144)
    assert render_png("a", AspectRatio.SQUARE, 64) != render_png("b", AspectRatio.SQUARE, 64)


async def test_status_fault_sends_retry_after_and_is_consumed_once(
    http: TestClient[Any, Any], sim: ReapiSimulator
) -> None:
    sim.inject("submit", Fault.error(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    async with http.post("/api/v1/images/generations", json=GOOD, headers=AUTH) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
        assert (await response.json())["error"]["code"] == 42901
    assert (await post(http, GOOD))[0] == 200


async def test_drop_after_creates_the_task_and_drop_before_does_not(
    http: TestClient[Any, Any], sim: ReapiSimulator
) -> None:
    sim.inject("submit", Fault.drop_before(), Fault.drop_after())
    for _ in range(2):
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(http, GOOD)
    assert len(sim.tasks) == 1
    assert sim.submit_count == 2


async def test_start_serves_on_a_free_port_and_close_stops_it() -> None:
    sim = ReapiSimulator(delay=0)
    base_url = await sim.start()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", base_url)
    try:
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": "Bearer rk_live_any"}
            async with session.post(f"{base_url}/images/generations", json=GOOD, headers=headers) as response:
                task_id = (await response.json())["id"]
            async with session.get(f"{base_url}/tasks/{task_id}", headers=headers) as response:
                url = (await response.json())["output"]["image_urls"][0]
            assert url.startswith(base_url.removesuffix("/api/v1") + "/files/")
            async with session.get(url) as response:
                assert response.content_type == "image/png"
    finally:
        await sim.close()
    with pytest.raises(aiohttp.ClientConnectorError):
        async with aiohttp.ClientSession() as session, session.get(base_url):
            pass


async def test_serve_logs_its_url_and_stops_when_cancelled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.reapi.simulator")
    runner = asyncio.create_task(serve(port=0, delay=0))
    for _ in range(200):
        if caplog.records:
            break
        await asyncio.sleep(0.01)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    [record] = caplog.records
    assert re.search(r"http://127\.0\.0\.1:\d+/api/v1", record.getMessage())


def test_task_durations_can_be_lognormal_and_are_repeatable_with_a_seed() -> None:
    draws = [ReapiSimulator(delay=8.0, delay_sigma=0.3, seed=5).task_delay() for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]  # a fresh simulator with the same seed starts the same sequence
    sim = ReapiSimulator(delay=8.0, delay_sigma=0.3, seed=5)
    sample = sorted(sim.task_delay() for _ in range(2000))
    assert 7.5 < statistics.median(sample) < 8.5
    spread = statistics.stdev(math.log(x) for x in sample)
    assert 0.27 < spread < 0.33
    assert ReapiSimulator(delay=2.0).task_delay() == 2.0  # no sigma: the fixed delay, as before
