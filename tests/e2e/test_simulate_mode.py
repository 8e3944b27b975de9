"""Simulation mode: no reAPI key needed, loudly announced, results marked as simulated."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from PIL import Image

from bot.reapi import AspectRatio, GenerationRequest, ReapiClient
from tests.e2e.test_imagine import final_edit, imagine

if TYPE_CHECKING:
    import pytest

    from bot.config import Settings
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord

StartBot = Callable[..., Awaitable["ImagineBot"]]


async def test_without_a_key_the_bot_simulates_and_says_so(
    fake: FakeDiscord, start_bot: StartBot, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(reapi={"api_key": "", "simulate": None, "simulate_delay": 0.1, "base_url": "http://x"})
    assert settings.reapi.use_simulator
    bot = await start_bot(settings)
    assert bot.services.simulated
    assert any("SIMULATION MODE" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    inter = await imagine(fake, "a simulated sunset", "9:16")
    final = await final_edit(fake, inter, files=True)
    assert "SIMULATED" in final.json["embeds"][0]["footer"]["text"]
    with Image.open(io.BytesIO(final.files[0].data)) as image:
        assert image.size == (144, 256)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_standalone_simulator_serves_any_reapi_client() -> None:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "simulator", "--port", str(port), "--delay", "0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        assert f"http://127.0.0.1:{port}/api/v1" in line.decode()
        async with ReapiClient(base_url=f"http://127.0.0.1:{port}/api/v1", api_key="rk_live_anything") as client:
            task = await client.submit(GenerationRequest(prompt="a lighthouse", aspect_ratio=AspectRatio("3:2")))
            for _ in range(100):
                polled = await client.get_task(task.id)
                if polled.is_done:
                    break
                await asyncio.sleep(0.05)
            assert polled.is_completed
            assert polled.output is not None
            image = await client.download(polled.output.image_urls[0], max_bytes=5_000_000)
        with Image.open(io.BytesIO(image.data)) as png:
            assert png.format == "PNG"
            assert png.width * 2 == png.height * 3  # exactly 3:2
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)
