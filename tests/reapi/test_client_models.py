"""The client against the simulator on loopback, for every model: bodies, several outputs, typed refusals."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from bot.reapi import MODELS, BadRequest, GenerationRequest, ImageOptions, spec_for

if TYPE_CHECKING:
    from bot.reapi import ReapiClient
    from bot.reapi.simulator import ReapiSimulator

FLASH = "gemini-3.1-flash-image-preview"
URL = "https://cdn.example/ref.png"


async def sizes_of_outputs(client: ReapiClient, request: GenerationRequest) -> list[tuple[int, int]]:
    submitted = await client.submit(request)
    task = await client.get_task(submitted.id)
    assert task.is_completed, task
    assert task.output is not None
    sizes = []
    for url in task.output.image_urls:
        image = await client.download(url, max_bytes=5_000_000)
        assert image.content_type == "image/png"
        with Image.open(io.BytesIO(image.data)) as png:
            sizes.append(png.size)
    return sizes


async def test_a_four_image_flash_2k_job_returns_four_downloadable_2k_images(
    client: ReapiClient, sim: ReapiSimulator
) -> None:
    request = GenerationRequest(
        model=FLASH, prompt="four kites", options=ImageOptions(ratio="3:2", resolution="2k", count=4)
    )
    assert await sizes_of_outputs(client, request) == [(2046, 1364)] * 4
    [submission] = sim.submissions
    assert submission["body"] == {"model": FLASH, "prompt": "four kites", "size": "3:2", "resolution": "2k", "n": 4}


@pytest.mark.parametrize("model", list(MODELS))
async def test_each_model_round_trips_with_its_default_options(
    client: ReapiClient, sim: ReapiSimulator, model: str
) -> None:
    spec = spec_for(model)
    urls = [URL] * min(1, spec.max_references)
    request = GenerationRequest(model=model, prompt="a kite", image_urls=urls)
    sizes = await sizes_of_outputs(client, request)
    longest = 1024 if spec.sends_resolution else sim.image_size
    assert sizes == [(longest, longest)]  # every default ratio is 1:1 or auto, which the simulator draws square
    assert sim.submissions[0]["body"] == spec.body("a kite", ImageOptions(), urls)


@pytest.mark.parametrize(
    ("model", "options", "references", "code"),
    [
        (FLASH, ImageOptions(count=5), 0, 20009),
        (FLASH, ImageOptions(ratio="auto"), 0, 20006),
        ("gemini-3-pro-image-preview", ImageOptions(resolution="0.5k"), 0, 20008),
        ("gpt-image-2", ImageOptions(ratio="4:3", resolution="4k"), 0, 20010),
        ("gpt-image-2", ImageOptions(), 17, 20007),
        ("z-image", ImageOptions(), 1, 20007),
        ("nano-banana-2-lite", ImageOptions(ratio="2:1"), 0, 20006),
    ],
)
async def test_each_rejection_arrives_as_a_bad_request_with_reapis_code(
    client: ReapiClient, sim: ReapiSimulator, model: str, options: ImageOptions, references: int, code: int
) -> None:
    # model_construct skips the local check, so the simulator is the one refusing, as reAPI would.
    unchecked = GenerationRequest.model_construct(
        model=model, prompt="p", image_urls=[URL] * references, options=options
    )
    with pytest.raises(BadRequest) as caught:
        await client.submit(unchecked)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert sim.tasks == {}
