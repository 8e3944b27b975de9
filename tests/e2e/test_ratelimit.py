"""Discord's per-channel write limit (5 per 5 s) on: results go first, progress gives way, nothing paid is refunded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.reapi.simulator import Outcome
from bot.store import JobState, open_store
from tests.e2e.conftest import stop_bot
from tests.e2e.test_resume import finish_all_tasks, wait_for_progress
from tests.fakes.discord_ratelimit import ChannelWriteLimiter

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.store import Job
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

StartBot = Callable[..., Awaitable["ImagineBot"]]
JOBS = 10


async def all_ended(bot: ImagineBot, inters: list[FakeInteraction], *, timeout: float) -> None:  # noqa: ASYNC109
    """Wait (bounded) until the job of every interaction has ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(100_000):
        ended = [await bot.services.store.history(int(inter.user["id"]), limit=1) for inter in inters]
        if all(ended):
            return
        assert loop.time() < deadline, "jobs still unfinished"
        await asyncio.sleep(0.1)


async def test_under_a_channel_write_limit_every_result_is_delivered_and_progress_gives_way(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    fake.rate_limit = ChannelWriteLimiter(limit=5, window=5.0)
    bot = await start_bot(make_settings(jobs={"max_concurrent": JOBS}))
    inters: list[FakeInteraction] = []
    for n in range(JOBS):
        user = fake.make_user(f"painter{n}")
        inters.append(await fake.send_slash_command("imagine", [{"name": "prompt", "value": f"tile {n}"}], user=user))
    await all_ended(bot, inters, timeout=120)

    for inter in inters:
        (job,) = await bot.services.store.history(int(inter.user["id"]), limit=1)
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert job.result_message_id == int(inter.original_message_id or 0)
    uploads = [r for r in fake.requests if r.files and r.status == 200]
    assert len(uploads) == JOBS  # each image exactly once
    # The bot kept under the limit by itself: Discord never had to refuse it.
    assert fake.rate_limit.total_refused == 0
    # Progress gave way: with 10 jobs racing for 5 writes per 5 s, some stage a job went through was never shown.
    shown = {inter.token: _contents(fake, inter) for inter in inters}
    assert any(not any("Generating" in text for text in texts) for texts in shown.values()), shown


def _contents(fake: FakeDiscord, inter: FakeInteraction) -> list[str]:
    edits = fake.requests_matching("PATCH", rf"/webhooks/\d+/{inter.token}/messages/.+")
    return [str(r.json.get("content")) for r in edits if isinstance(r.json, dict) and r.status == 200]


async def test_a_delivery_waiting_out_429s_resumes_after_a_restart_and_is_delivered_not_refunded(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    sim.next_outcomes.append(Outcome.never())
    first = await start_bot(settings)
    prompt = [{"name": "prompt", "value": "a lighthouse"}]
    inter = await fake.send_slash_command("imagine", prompt, user=fake.member_user)
    await wait_for_progress(fake, inter, "Generating")
    # Discord refuses every write in the channel for a while: discord.py gives up after its five tries.
    fake.fail_next("PATCH", rf"/webhooks/\d+/{inter.token}/messages/\d+", 429, retry_after=0.05, count=1000)
    finish_all_tasks(sim)
    await fake.wait_for(lambda: sum(1 for r in fake.requests if r.status == 429) >= 5, timeout=10, what="five 429s")
    store = await open_store(settings.database.url)
    try:
        active: list[Job] = []
        for _ in range(500):  # bounded: until the put-off delivery is stored (or, without the fix, refunded)
            active = await store.active_jobs()
            if not active or active[0].delivery_attempts >= 1:
                break
            await asyncio.sleep(0.02)
        # Waiting to try again, not failed and refunded.
        assert [job.state for job in active] == [JobState.DELIVERING]
        assert active[0].delivery_retry_at is not None
    finally:
        await store.close()
    await stop_bot(first)  # the process goes away while the delivery waits

    fake.clear_faults()
    second = await start_bot(settings)
    await all_ended(second, [inter], timeout=30)
    (done,) = await second.services.store.history(int(fake.member_user["id"]), limit=1)
    assert done.state is JobState.DELIVERED
    assert done.result_message_id == int(inter.original_message_id or 0)
    assert sim.submit_count == 1
    assert len([r for r in fake.requests if r.files and r.status == 200]) == 1
