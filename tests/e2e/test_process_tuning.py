"""The bot's process-level settings for a large load: no message cache, and a collector tuned once it runs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import bot.surface.app as app
from bot.surface.app import ImagineBot
from tests.e2e.conftest import stop_bot

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    import pytest

    from bot.config import Settings
    from tests.fakes.fake_discord import FakeDiscord, HeldRequest


async def test_the_bot_caches_no_messages(fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]]) -> None:
    """Every progress edit comes back as MESSAGE_UPDATE; a cache the bot never reads would match each echo."""
    bot = await start_bot()
    await fake.send_message("hello")
    await fake.send_message("hello again")
    inter = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "a lighthouse"}])
    await fake.wait_for(lambda: fake.original_message(inter) is not None, timeout=10, what="the placeholder")
    await asyncio.sleep(0.2)  # the echoes reach the bot over the gateway
    assert list(bot.cached_messages) == []


async def test_messages_of_bots_reach_no_handler_and_a_members_message_does(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The echo of every placeholder and result the bot posts is a MESSAGE_CREATE; the reply-to-edit listener
    ignores bots' messages, so each echo would be two tasks (the bot's on_message and the listener) doing nothing."""
    bot = await start_bot()
    scheduled: list[str] = []
    schedule = bot._schedule_event

    def recording(coro: Callable[..., Coroutine[Any, Any, Any]], event_name: str, *args: Any, **kwargs: Any) -> object:
        scheduled.append(event_name)
        return schedule(coro, event_name, *args, **kwargs)

    monkeypatch.setattr(bot, "_schedule_event", recording)
    inter = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "a lighthouse"}])
    await fake.wait_for(lambda: fake.original_message(inter) is not None, timeout=10, what="the placeholder")
    other_bot = {**fake.member_user, "id": str(fake.snowflake()), "username": "another bot", "bot": True}
    await fake.send_message("hello from a bot", author=other_bot)
    await fake.send_message("hello from a member")
    await fake.wait_for(lambda: "on_message" in scheduled, timeout=10, what="the member's message")
    await asyncio.sleep(0.2)  # the bot's own echoes, had they been dispatched
    # Two handlers for the member's message (the bot's own on_message, the reply-to-edit listener), none for a bot's.
    assert scheduled.count("on_message") == 2


async def test_a_bot_that_owns_its_process_tunes_the_collector_once_set_up(
    fake: FakeDiscord, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(app, "tune_gc", lambda: calls.append(True))
    for own_process in (False, True):
        bot = ImagineBot(make_settings(), own_process=own_process, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(fake.token))
        await asyncio.wait_for(bot.wait_until_ready(), timeout=10)
        await stop_bot(bot, task)
        assert calls == ([True] if own_process else [])


def test_tune_gc_freezes_the_start_up_heap_raises_the_thresholds_and_shortens_the_gil_slice() -> None:
    """In a child process: freezing is process-wide and must not touch the test process."""
    code = (
        "import gc, sys\n"
        "from bot.surface.app import GC_THRESHOLDS, tune_gc\n"
        "assert gc.get_freeze_count() == 0\n"
        "default_slice = sys.getswitchinterval()\n"
        "tune_gc()\n"
        "print(gc.get_freeze_count() > 10_000, gc.get_threshold() == GC_THRESHOLDS, gc.get_threshold()[0] > 700,"
        " sys.getswitchinterval() < default_slice)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True", "True"]


def test_starting_the_bot_does_not_import_the_simulator() -> None:
    """Start-up time: the simulator (aiohttp.web, Pillow drawing) is loaded only in simulation mode."""
    code = (
        "import sys\n"
        "import bot.cli, bot.surface.app, cogs.imagine, cogs.edit, cogs.credits, cogs.admin\n"
        "print('bot.reapi.simulator' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]


async def arrivals_settled(holds: list[HeldRequest], *, enough: int, quiet_polls: int, polls: int) -> int:
    """How many held requests reached the fake: polled every 50 ms until all did, or at least ``enough`` did and
    no more came for ``quiet_polls`` polls (``polls`` at most)."""
    arrived, steady = 0, 0
    for _ in range(polls):
        await asyncio.sleep(0.05)
        now = sum(hold.arrived.is_set() for hold in holds)
        steady = steady + 1 if now == arrived else 0
        arrived = now
        if arrived == len(holds) or (arrived >= enough and steady >= quiet_polls):
            break
    return arrived


async def test_the_bot_keeps_a_bounded_number_of_connections_to_discord(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]]
) -> None:
    """discord.py's own pool has no bound: each burst's extra connections were kept for good (bench soak: the
    pool grew 359 → 523 idle connections over ten waves, and the process's RSS with it)."""
    bot = await start_bot()
    cap = app.DISCORD_CONNECTIONS_PER_HOST
    # One channel each: discord.py sends one request at a time per rate-limit bucket, and a channel is a bucket.
    channels = [int(fake.add_text_channel(f"c{n}")["id"]) for n in range(cap + 20)]
    holds = [fake.hold_next("GET", r"/channels/\d+") for _ in channels]
    calls = [asyncio.create_task(bot.fetch_channel(channel_id)) for channel_id in channels]
    try:
        # Until all arrived, or the cap's worth and no more for 0.3 s (10 s at most).
        arrived = await arrivals_settled(holds, enough=cap - 2, quiet_polls=6, polls=200)
        # Each request on the wire holds a connection (HTTP/1.1); the gateway's takes one more on the fake's host.
        assert cap - 2 <= arrived <= cap
    finally:
        for hold in holds:
            hold.release()
    fetched = await asyncio.wait_for(asyncio.gather(*calls), timeout=30)
    assert sorted(channel.id for channel in fetched) == sorted(channels)


async def test_a_burst_of_200_acks_is_on_the_wire_at_once(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]]
) -> None:
    """200 simultaneous commands: no ACK may wait for a connection until an earlier ACK's answer is back (with
    100 connections, the second hundred did: bench ack's bot/floor p99 1.5-2.3 where the floor has no bound)."""
    await start_bot()
    burst = [fake.make_slash_command("credits", user=fake.make_user(f"burst{n}")) for n in range(200)]
    holds = [fake.hold_next("POST", r"/interactions/\d+/[^/]+/callback") for _ in burst]
    await fake.send_at_once(burst)
    try:
        # Until all arrived, or no more for 0.5 s (15 s at most).
        arrived = await arrivals_settled(holds, enough=0, quiet_polls=10, polls=300)
        assert arrived == len(burst)
    finally:
        for hold in holds:
            hold.release()
    await fake.wait_for(lambda: all(i.response_type is not None for i in burst), timeout=20, what="every ACK")
