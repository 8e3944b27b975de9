"""An interaction the bot reached too late (Discord answers 10062): one log line, no answer attempts, no job."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import pytest

    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord


async def test_an_interaction_acked_too_late_is_logged_once_without_a_traceback_or_a_reply(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]], caplog: pytest.LogCaptureFixture
) -> None:
    """Under overload every late ACK used to log a chained traceback and try a reply that fails the same way:
    at 10,000 jobs that was over half the bot's CPU, which made more ACKs late."""
    bot = await start_bot()
    fake.ack_deadline = -1.0  # every callback is too late
    inter = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "a lighthouse"}])
    await fake.wait_for_request("POST", rf"/interactions/{inter.id}/.+/callback", timeout=10)
    await asyncio.sleep(0.3)  # whatever the error handler does, it has done by now
    on_token = [r for r in fake.requests if inter.token in r.path]
    assert [(r.method, r.status) for r in on_token] == [("POST", 404)]
    reports = [r for r in caplog.records if r.name == "bot.surface.reporting"]
    assert [(r.levelno, r.exc_info) for r in reports] == [(logging.WARNING, None)]
    assert "10062" in reports[0].getMessage() or "too late" in reports[0].getMessage()
    assert await bot.services.store.active_jobs() == []
