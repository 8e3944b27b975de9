"""ratelimit: 40 paid jobs in one channel under Discord's write limit (5 per 5 s per channel), against the floor.

The fake Discord's opt-in limiter (``tests/fakes/discord_ratelimit.py``) answers every write over the limit with
Discord's 429. The floor is a bare discord.py bot that defers and posts one message per command on the same limit
(its library's own 429 handling is all it has). Targets (issue 12): every image delivered, no job refunded after
reAPI charged it, and the bot itself never meets a 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING

from bench.harness import Check, Result, World, settled
from bot.store import JobState
from tests.fakes.discord_ratelimit import ChannelWriteLimiter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tests.fakes.fake_discord import FakeInteraction

__all__ = ["run"]

LIMIT, WINDOW = 5, 5.0
_FOLLOWUP = re.compile(r"/webhooks/\d+/(fake-interaction-[0-9a-f]+)")


async def run(*, smoke: bool) -> Result:
    """Floor first, then the bot on ``count`` jobs, one per member, all dispatched at once into one channel."""
    count = 4 if smoke else 40
    delay = 0.3 if smoke else 2.0
    # At LIMIT writes per WINDOW the writes alone need count / LIMIT windows; the rest is slack for the retries.
    patience = 30.0 + 3 * count * WINDOW / LIMIT
    result = Result("ratelimit")
    async with World(sim_delay=delay) as world:
        loop = asyncio.get_running_loop()
        floor_limit = world.fake.rate_limit = ChannelWriteLimiter(limit=LIMIT, window=WINDOW)
        async with world.floor_bot():
            floor_start = loop.time()
            floor_inters = await world.imagine(world.new_users(count))
            await world.callbacks(floor_inters, timeout=30)
            floor_posted = await _floor_posts(world, floor_inters, timeout=patience)
        floor_seconds = max(floor_posted.values(), default=floor_start) - floor_start

        # A fresh limiter: the bot starts on an empty window, as the floor did.
        bot_limit = world.fake.rate_limit = ChannelWriteLimiter(limit=LIMIT, window=WINDOW)
        first_bot_request = len(world.fake.requests)
        settings = world.settings("ratelimit", max_queued=max(500, count), max_concurrent=max(16, count))
        async with world.imagine_bot(settings) as bot:
            bot_start = loop.time()
            inters = await world.imagine(world.new_users(count))
            await world.callbacks(inters, timeout=30)
            with contextlib.suppress(AssertionError):  # the fake's wait timed out: the figures below say how far
                await world.outcomes(inters, timeout=patience)
            await settled(bot, timeout=patience)
            store = bot.services.store
            delivered = refunded_charged = 0
            for inter in inters:
                for entry in await store.history(int(inter.user["id"]), limit=1):
                    job = await store.get_job(entry.job_id)
                    delivered += entry.state is JobState.DELIVERED
                    refunded_charged += bool(job is not None and job.state is JobState.FAILED and job.charged)
        uploads = [r.time for r in world.fake.requests[first_bot_request:] if r.files and r.status == 200]
        bot_seconds = max(uploads, default=bot_start) - bot_start

    result.figures = {
        "jobs": f"{count} in one channel, simulator {delay:.1f} s per image, limit {LIMIT} writes per {WINDOW:.0f} s",
        "bot: images delivered": f"{delivered} / {count}",
        "bot: refunded after reAPI charged": str(refunded_charged),
        "bot: 429 answers": str(bot_limit.total_refused),
        "bot: seconds to the last image": f"{bot_seconds:.1f}",
        "floor: messages posted": f"{len(floor_posted)} / {count}",
        "floor: 429 answers": str(floor_limit.total_refused),
        "floor: seconds to the last post": f"{floor_seconds:.1f}",
    }
    if floor_seconds > 0:
        result.floor_ratio, result.floor_ratio_of = bot_seconds / floor_seconds, "seconds to the last delivery"
    result.checks += [
        Check("images delivered", float(delivered), float(count), higher_is_better=True),
        Check("jobs refunded after reAPI charged", float(refunded_charged), 0),
        Check("429 answers to the bot", float(bot_limit.total_refused), 0),
    ]
    result.notes.append(
        "the bot's progress edits share the channel's 5 writes per 5 s with its results and go only when a write is"
        " spare, so a job may skip a stage; the floor posts one message per command and nothing else"
    )
    return result


async def _floor_posts(world: World, inters: Sequence[FakeInteraction], *, timeout: float) -> dict[str, float]:  # noqa: ASYNC109
    """Wait (bounded) until the floor posted for every interaction or gave up; when each post was accepted.

    discord.py gives up on a post after five 429s in a row: such a post never comes.
    """
    tokens = {inter.token for inter in inters}
    posted: dict[str, float] = {}
    refused: dict[str, int] = {}
    seen = 0

    def done() -> bool:
        nonlocal seen
        requests = world.fake.requests
        for request in requests[seen:]:
            match = _FOLLOWUP.fullmatch(request.path)
            if request.method != "POST" or match is None or match.group(1) not in tokens:
                continue
            if request.status < 300:
                posted.setdefault(match.group(1), request.time)
            elif request.status == 429:
                refused[match.group(1)] = refused.get(match.group(1), 0) + 1
        seen = len(requests)
        return all(token in posted or refused.get(token, 0) >= 5 for token in tokens)

    with contextlib.suppress(AssertionError):  # the fake's wait timed out: what was posted by then counts
        await world.fake.wait_for(done, timeout=timeout, what="the floor's posts")
    return posted
