"""Fixtures for the reAPI adapter: the simulator on a loopback port, a client with a recording sleep."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

import aiohttp
import pytest

from bot.reapi import ReapiClient
from bot.reapi.simulator import ReapiSimulator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiohttp.test_utils import TestServer
    from pytest_aiohttp import AiohttpServer

KEY = "rk_live_TOPSECRET_4f2a9c81d7e6"
"""The API key every client here uses; no error message, repr or log line may contain it."""

FAST_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=2, sock_read=0.2)


class FakeClock:
    """A clock the test moves by hand, for the simulator's task timing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


class RecordingSleep:
    """Stands in for asyncio.sleep in the client: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> ReapiSimulator:
    return ReapiSimulator(delay=0, clock=clock, image_size=128)


@pytest.fixture
async def server(aiohttp_server: AiohttpServer, sim: ReapiSimulator) -> TestServer:
    return await aiohttp_server(sim.app)


@pytest.fixture
def base_url(server: TestServer) -> str:
    return str(server.make_url("/api/v1"))


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def client(base_url: str, sleeps: RecordingSleep) -> AsyncIterator[ReapiClient]:
    async with ReapiClient(base_url=base_url, api_key=KEY, sleep=sleeps, timeout=FAST_TIMEOUT) as reapi:
        yield reapi


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
