"""Fixtures of the notifier's tests: the fake Discord on loopback, a client connected to it and a notifier on it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import pytest

from bot.surface.notifier import DiscordNotifier
from tests.fakes.fake_discord import FakeDiscord, redirect_discord_py
from tests.surface.notifier_rig import Alerts, Client

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        with redirect_discord_py(server):
            yield server
        assert server.errors == []


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[Client]:
    bot = Client()
    task = asyncio.create_task(bot.start(fake.token))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        yield bot
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


@pytest.fixture
def alerts() -> Alerts:
    return Alerts()


@pytest.fixture
def notifier(client: Client, alerts: Alerts) -> DiscordNotifier:
    return DiscordNotifier(client, progress_interval=0.0, alerts=alerts)
