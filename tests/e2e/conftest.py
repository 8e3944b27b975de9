"""End-to-end harness: the real ImagineBot (real discord.py) against the fake Discord and the reAPI simulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from bot.config import Settings
from bot.logs import JsonFormatter, TextFormatter
from bot.reapi.simulator import ReapiSimulator
from bot.store import open_store
from bot.surface.app import ImagineBot
from tests.fakes.fake_discord import FakeDiscord, redirect_discord_py

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from pathlib import Path

    from pydantic import BaseModel

    from tests.fakes.fake_discord import RecordedRequest

REAPI_KEY = "rk_test_e2e_secret_key"
DISCORD_TOKEN = "fake-token.e2e-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord on 127.0.0.1; discord.py's global REST/gateway bases are restored afterwards."""
    async with FakeDiscord(token=DISCORD_TOKEN) as server:
        with redirect_discord_py(server):
            yield server
        assert not server.errors, f"the fake Discord saw malformed requests: {server.errors}"


@pytest.fixture
async def sim() -> AsyncIterator[ReapiSimulator]:
    """The reAPI simulator with a short processing time (served by ``sim_url``)."""
    simulator = ReapiSimulator(api_key=REAPI_KEY, delay=0.3)
    yield simulator
    await simulator.close()


@pytest.fixture
async def sim_url(sim: ReapiSimulator) -> str:
    """Start the simulator on 127.0.0.1 and return its API base URL."""
    return await sim.start()


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and key in merged else value
    return merged


@pytest.fixture
def make_settings(tmp_path: Path, fake: FakeDiscord, sim_url: str) -> Callable[..., Settings]:
    """Settings pointing at the fakes, with fast polling; keyword sections override parts of it."""

    def build(**sections: dict[str, Any]) -> Settings:
        base: dict[str, Any] = {
            "discord": {
                "token": fake.token,
                "api_base_url": fake.api_base_url,
                "gateway_url": fake.gateway_url,
            },
            "reapi": {"api_key": REAPI_KEY, "base_url": sim_url, "simulate": False},
            "database": {"url": f"sqlite:///{tmp_path / 'bot.sqlite3'}"},
            "jobs": {"poll_interval": 0.05, "max_poll_interval": 0.05, "progress_interval": 0.1},
        }
        return Settings(**_merge(base, sections))

    return build


@pytest.fixture
async def start_bot(
    fake: FakeDiscord, make_settings: Callable[..., Settings]
) -> AsyncIterator[Callable[..., Awaitable[ImagineBot]]]:
    """Start an ImagineBot and wait until it is ready; every bot started is closed at the end."""
    running: list[tuple[ImagineBot, asyncio.Task[None]]] = []

    async def start(settings: Settings | None = None, **options: Any) -> ImagineBot:
        """``options``: ImagineBot's own keyword arguments."""
        settings = settings or make_settings()
        # discord.py waits guild_ready_timeout (2 s) after the last GUILD_CREATE; the fake sends all at once.
        bot = ImagineBot(settings, guild_ready_timeout=0.05, **options)
        connections = fake.connection_count
        task = asyncio.create_task(bot.start(settings.discord.token.get_secret_value()))
        running.append((bot, task))
        await fake.wait_for_connections(connections + 1, timeout=10)
        await asyncio.wait_for(bot.wait_until_ready(), timeout=10)
        return bot

    yield start
    for bot, task in reversed(running):
        await stop_bot(bot, task)
    # What `imagine-bot ledger check` verifies, after every end-to-end test: the books balance.
    for url in dict.fromkeys(bot.settings.database.url for bot, _ in running):
        await assert_ledger_checks_out(url)


async def assert_ledger_checks_out(url: str) -> None:
    """Balances equal ledger sums and every reservation is captured or refunded once, or still in flight."""
    store = await open_store(url)
    try:
        audit = await store.audit_ledger()
    finally:
        await store.close()
    assert audit.ok, f"ledger check of {url} failed: {audit.problems}"


async def settled(bot: ImagineBot) -> None:
    """Wait until every job has ended (a failure is shown first, then refunded)."""
    for _ in range(500):
        if not await bot.services.store.active_jobs():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("jobs are still running")


async def stop_bot(bot: ImagineBot, task: asyncio.Task[None] | None = None) -> None:
    """Close a bot the way SIGTERM does."""
    if not bot.is_closed():
        await bot.close()
    if task is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


def webhook_edits(fake: FakeDiscord, token: str) -> list[RecordedRequest]:
    """Every PATCH of a message through one interaction's webhook, in order."""
    return fake.requests_matching("PATCH", rf"/webhooks/\d+/{token}/messages/.+")


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Neither the Discord token nor the reAPI key may appear in any log line of an e2e test, as text or JSON.

    The formatters get no secrets to redact here, so this checks what the code logs (message, traceback and the
    structured job fields), not the redaction safety net.
    """
    caplog.set_level(logging.DEBUG)
    yield
    # caplog.records alone is this teardown's records only: take the whole test's.
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in records)
    as_json = "\n".join(JsonFormatter().format(r) for r in records)
    as_text = "\n".join(TextFormatter().format(r) for r in records)
    for output in (text, as_json, as_text):
        assert REAPI_KEY not in output
        assert DISCORD_TOKEN not in output
    # Every line the bot writes about one job carries it as fields (JSON logs can be filtered by job and member).
    about_a_job = [r for r in records if r.name.startswith("bot.") and " job %s" in f" {r.msg}"]
    unlabelled = [r.getMessage() for r in about_a_job if not hasattr(r, "job_id") or not hasattr(r, "user_id")]
    assert unlabelled == []


# -- the bot as a real process (`python -m bot run`), for tests that kill it ------------------------------------


@dataclass
class BotProcess:
    """A running ``python -m bot run``; its stdout and stderr go to ``log`` (a pipe nobody reads could fill up)."""

    process: asyncio.subprocess.Process
    log: Path

    @property
    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a power cut or the OOM killer."""
        self.process.kill()
        await asyncio.wait_for(self.process.wait(), timeout=10)

    async def terminate(self) -> int:
        """SIGTERM and wait for the exit code (a graceful shutdown)."""
        self.process.terminate()
        return await asyncio.wait_for(self.process.wait(), timeout=20)


def _toml_section(name: str, section: BaseModel, secrets: frozenset[str]) -> str:
    """One ``[name]`` table of flat scalars and lists (JSON spells those the way TOML does)."""
    lines = [f"[{name}]"]
    for key, value in section.model_dump().items():
        if key in secrets or value is None:
            continue
        if isinstance(value, timedelta):
            value = value.total_seconds()  # durations also take plain seconds
        if isinstance(value, dict) and not value:
            continue  # an empty table (e.g. reapi.prices) is the default
        if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value)):
            raise ValueError(f"{name}.{key}: nested values are not supported here")
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def write_config(path: Path, settings: Settings) -> None:
    """Write ``settings`` as the TOML file ``bot run --config`` reads, without the two secrets (those go by env)."""
    sections = {name: getattr(settings, name) for name in type(settings).model_fields}
    text = "\n".join(
        _toml_section(name, section, frozenset({"token", "api_key"})) for name, section in sections.items()
    )
    path.write_text(text, encoding="utf-8")


@pytest.fixture
async def spawn_bot(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[BotProcess]]]:
    """Start ``python -m bot run [run_args]`` with ``settings`` and wait until it has connected to the fake Discord.

    Every process started is killed at the end of the test, whatever happened.
    """
    started: list[BotProcess] = []

    async def spawn(settings: Settings, *run_args: str) -> BotProcess:
        number = len(started)
        config, log = tmp_path / f"bot-{number}.toml", tmp_path / f"bot-{number}.log"
        write_config(config, settings)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_")},
            "IMAGINEBOT_DISCORD__TOKEN": settings.discord.token.get_secret_value(),
            "IMAGINEBOT_REAPI__API_KEY": settings.reapi.api_key.get_secret_value(),
        }
        ready = fake.ready_count
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(config),
                *run_args,
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=out,
            )
        bot = BotProcess(process, log)
        started.append(bot)
        connected = asyncio.ensure_future(fake.wait_for(lambda: fake.ready_count > ready, timeout=30))
        exited = asyncio.ensure_future(process.wait())
        await asyncio.wait({connected, exited}, return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        if not connected.done() or connected.exception() is not None:
            connected.cancel()
            raise AssertionError(f"bot process {number} did not connect; it printed:\n{bot.output}")
        return bot

    try:
        yield spawn
    finally:
        for bot in started:
            if bot.process.returncode is None:
                bot.process.kill()
                await bot.process.wait()
