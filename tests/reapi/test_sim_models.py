"""The simulator serves every spec'd model: it refuses what reAPI refuses per model and yields n sized images."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image
from yarl import URL as Url

from bot.reapi import MODELS, ImageOptions, spec_for
from bot.reapi.simulator import ReapiSimulator, render_png
from tests.reapi.conftest import KEY, FakeClock

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient, TestServer
    from pytest_aiohttp import AiohttpClient

AUTH = {"Authorization": f"Bearer {KEY}"}
LITE = "nano-banana-2-lite"
FLASH = "gemini-3.1-flash-image-preview"
PRO = "gemini-3-pro-image-preview"
GPT = "gpt-image-2"
Z = "z-image"
URL = "https://cdn.example/a.png"


@pytest.fixture
async def http(aiohttp_client: AiohttpClient, server: TestServer) -> TestClient[Any, Any]:
    return await aiohttp_client(server)


async def post(http: TestClient[Any, Any], body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post("/api/v1/images/generations", json=body, headers=AUTH) as response:
        return response.status, await response.json()


async def poll(http: TestClient[Any, Any], task_id: str) -> dict[str, Any]:
    async with http.get(f"/api/v1/tasks/{task_id}", headers=AUTH) as response:
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer


async def download(http: TestClient[Any, Any], url: str) -> bytes:
    async with http.get(Url(url).path) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        return await response.read()


async def image_size(http: TestClient[Any, Any], url: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(await download(http, url))) as image:
        return image.size


def body(model: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "prompt": "a kite", **fields}


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        (body("nano-banana-pro"), 20004),  # reAPI's ids are the gemini-* ones
        (body(LITE, size="1:1"), 20003),  # the wrong ratio field for the model
        (body(FLASH, aspect_ratio="1:1"), 20003),
        (body(PRO, aspect_ratio="1:1"), 20003),
        (body(Z, size="1:1"), 20003),
        (body(Z, resolution="1k"), 20003),
        (body(LITE, n=1), 20003),
        (body(GPT, n=1), 20003),
        (body(FLASH, google_search="yes"), 20003),
        (body(FLASH, n="2"), 20003),
        (body(FLASH, n=True), 20003),
        (body(FLASH, prompt="x" * 4_001), 20005),
        (body(PRO, prompt="x" * 4_001), 20005),
        (body(GPT, prompt="x" * 4_001), 20005),
        (body(Z, prompt="x" * 1_001), 20005),
        (body(FLASH, prompt=""), 20005),
        (body(FLASH, size="auto"), 20006),
        (body(PRO, size="1:4"), 20006),
        (body(GPT, size="8:1"), 20006),
        (body(Z, aspect_ratio="21:9"), 20006),
        (body(FLASH, size=["1:1"]), 20006),
        (body(FLASH, resolution="8k"), 20008),
        (body(FLASH, resolution="2K"), 20008),  # the schema's lowercase form only
        (body(FLASH, resolution=2), 20008),
        (body(PRO, resolution="0.5k"), 20008),
        (body(GPT, resolution="0.5k"), 20008),
        (body(FLASH, n=5), 20009),
        (body(FLASH, n=0), 20009),
        (body(PRO, n=5), 20009),
        (body(GPT, size="1:1", resolution="4k"), 20010),
        (body(GPT, size="auto", resolution="4k"), 20010),
        (body(GPT, resolution="4k"), 20010),  # the default size 1:1 does not go with 4k
        (body(LITE, image_urls=[URL] * 11), 20007),
        (body(FLASH, image_urls=[URL] * 15), 20007),
        (body(PRO, image_urls=[URL] * 15), 20007),
        (body(GPT, image_urls=[URL] * 17), 20007),
        (body(Z, image_urls=[URL]), 20007),  # text to image only
        (body(FLASH, image_urls=["data:image/png;base64,AAAA"]), 20007),
    ],
)
async def test_what_reapi_rejects_per_model_is_400_with_its_code(
    http: TestClient[Any, Any], sim: ReapiSimulator, sent: dict[str, Any], code: int
) -> None:
    status, answer = await post(http, sent)
    assert (status, answer["error"]["code"]) == (400, code)
    assert answer["error"]["request_id"].startswith("req_")
    assert sim.tasks == {}


@pytest.mark.parametrize(
    "sent",
    [
        body(FLASH),
        body(FLASH, size="8:1", resolution="0.5k", n=4, image_urls=[URL] * 14, google_search=True),
        body(PRO, size="21:9", resolution="4k", n=4, official_fallback=False),
        body(GPT, size="9:21", resolution="4k", image_urls=[URL] * 16),
        body(GPT, size="auto", resolution="2k"),
        body(Z, aspect_ratio="16:9", prompt="x" * 1_000),
        body(Z, image_urls=[]),
    ],
)
async def test_bodies_each_model_takes_create_a_task_answered_with_that_model(
    http: TestClient[Any, Any], sim: ReapiSimulator, sent: dict[str, Any]
) -> None:
    status, answer = await post(http, sent)
    assert status == 200, answer
    assert answer["model"] == sent["model"]
    assert (await poll(http, answer["id"]))["model"] == sent["model"]


def _spec_bodies() -> list[dict[str, Any]]:
    bodies = []
    for spec in MODELS.values():
        for resolution in spec.resolutions:
            options = ImageOptions(ratio=spec.ratios[-1], resolution=resolution, count=spec.max_count)
            if spec.validate(5, options, spec.max_references) is None:
                bodies.append(spec.body("a kite", options, [URL] * spec.max_references))
    return bodies


@pytest.mark.parametrize("sent", _spec_bodies(), ids=lambda b: f"{b['model']}-{b.get('resolution', '')}")
async def test_every_body_a_spec_builds_is_accepted(http: TestClient[Any, Any], sent: dict[str, Any]) -> None:
    assert (await post(http, sent))[0] == 200


async def test_a_task_with_n_yields_n_distinct_images_of_its_resolution(
    http: TestClient[Any, Any], server: TestServer
) -> None:
    task_id = (await post(http, body(FLASH, size="16:9", resolution="2k", n=3)))[1]["id"]
    urls = (await poll(http, task_id))["output"]["image_urls"]
    assert urls == [
        str(server.make_url(f"/files/{task_id}.png")),
        str(server.make_url(f"/files/{task_id}-2.png")),
        str(server.make_url(f"/files/{task_id}-3.png")),
    ]
    contents = set()
    for url in urls:
        assert await image_size(http, url) == (2048, 1152)
        contents.add(await download(http, url))
    assert len(contents) == 3
    for missing in (f"{task_id}-4", f"{task_id}-1", f"{task_id}-x", "task_nope-2"):
        async with http.get(f"/files/{missing}.png") as response:
            assert response.status == 404


@pytest.mark.parametrize(
    ("sent", "size"),
    [
        (body(FLASH, resolution="0.5k"), (512, 512)),
        (body(FLASH, size="4:3"), (1024, 768)),
        (body(PRO, size="9:16", resolution="4k"), (2304, 4096)),
        (body(GPT, size="2:1", resolution="2k"), (2048, 1024)),
        (body(GPT, size="auto"), (1024, 1024)),
        (body(LITE, aspect_ratio="16:9"), (128, 72)),  # no resolution field: the simulator's image_size (128 here)
        (body(Z, aspect_ratio="3:4"), (96, 128)),
    ],
)
async def test_outputs_are_sized_by_resolution_and_ratio(
    http: TestClient[Any, Any], sent: dict[str, Any], size: tuple[int, int]
) -> None:
    task_id = (await post(http, sent))[1]["id"]
    [url] = (await poll(http, task_id))["output"]["image_urls"]
    assert await image_size(http, url) == size


def test_large_outputs_are_flat_palette_images_that_stay_small() -> None:
    data = render_png("a kite", "1:1", 4096)
    with Image.open(io.BytesIO(data)) as image:
        assert (image.size, image.mode) == ((4096, 4096), "P")
    assert len(data) < 20_000  # a few kB; an RGB gradient at 4096² is ~60 kB and ~20x slower to encode
    assert render_png("a kite", "1:1", 2048) != render_png("a hawk", "1:1", 2048)


@pytest.mark.parametrize("model", list(MODELS))
def test_every_model_has_a_spec_the_simulator_knows(model: str) -> None:
    assert spec_for(model).id == model


async def test_without_distinct_images_every_output_of_a_size_is_one_image_rendered_once(
    aiohttp_client: AiohttpClient, clock: FakeClock
) -> None:
    """For load benchmarks: a PNG drawn per task was 55 % of the fakes' CPU in soak (they, not the bot, were the
    bottleneck); the bot still gets bytes of the requested size to download and upload."""
    sim = ReapiSimulator(delay=0, clock=clock, image_size=128, distinct_images=False)
    http = await aiohttp_client(sim._app)
    contents = []
    for prompt in ("a kite", "a hawk"):
        task_id = (await post(http, body(LITE, prompt=prompt, aspect_ratio="16:9")))[1]["id"]
        [url] = (await poll(http, task_id))["output"]["image_urls"]
        assert await image_size(http, url) == (128, 72)
        contents.append(await download(http, url))
    assert contents[0] == contents[1]
    assert len(sim._shared_pngs) == 1
