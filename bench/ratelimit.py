"""ratelimit: 40 paid jobs in one channel under Discord's write limit (5 per 5 s per channel), against the floor.

The jobs are reply-to-edit jobs: each of 40 members replies to one upload, mentions the bot and asks for a change,
all at once. Their placeholders, progress and results are bot-token messages in that one channel, so every write
counts against the channel's limit (interaction webhook writes would not: Discord limits those per token). The
fake Discord's opt-in limiter (``tests/fakes/discord_ratelimit.py``) answers every write over the limit with
Discord's 429.

The floor is a bare discord.py bot that answers each of the 40 messages with one reply in the same channel under
the same limiter (its library's own rate-limit handling is all it has). Targets (issue 12): every image
delivered, no job refunded after reAPI charged it, and the bot itself never meets a 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from typing import TYPE_CHECKING, Any

import discord
from PIL import Image

from bench.harness import Check, Result, World, settled
from bot.store import JobState
from tests.fakes.discord_ratelimit import ChannelWriteLimiter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.config import Settings
    from bot.surface.app import ImagineBot

__all__ = ["run"]

LIMIT, WINDOW = 5, 5.0


class ReplyFloorBot(discord.Client):
    """The floor: a bare discord.py bot that answers every member's message with one reply."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)

    async def on_message(self, message: discord.Message) -> None:
        """One reply per member message; a reply Discord still refuses after discord.py's retries is lost."""
        if message.author.bot or message.reference is None:  # only the members' requests, not the upload
            return
        with contextlib.suppress(discord.HTTPException):
            await message.reply("done", mention_author=False, allowed_mentions=discord.AllowedMentions.none())


async def run(*, smoke: bool) -> Result:
    """Floor first, then the bot on ``count`` reply-to-edit jobs, one per member, all sent at once in one channel."""
    count = 1 if smoke else 40
    delay = 0.3 if smoke else 2.0
    # At LIMIT writes per WINDOW the bot's two writes per job (placeholder, result) alone need 2 * count / LIMIT
    # windows, the floor's one reply per message half of that; the rest is slack.
    patience = 20.0 + 2 * 2 * count * WINDOW / LIMIT
    result = Result("ratelimit")
    async with World(sim_delay=delay) as world:
        fake = world.fake
        loop = asyncio.get_running_loop()
        floor_bot = ReplyFloorBot()
        async with world.running(floor_bot, fake.token):
            upload = await fake.send_message(
                "the picture", author=fake.owner_user, attachments=[fake.add_attachment("p.png", _png())]
            )
            floor_limit = fake.rate_limit = ChannelWriteLimiter(limit=LIMIT, window=WINDOW)
            first_floor_request = len(fake.requests)
            floor_start = loop.time()
            await _ask(world, upload, _members(world, count), "floor")
            floor_times = await _replies(world, first_floor_request, count, timeout=patience / 2)
        floor_seconds = max(floor_times, default=floor_start) - floor_start

        # A fresh limiter: the bot starts on an empty window, as the floor did.
        bot_limit = fake.rate_limit = ChannelWriteLimiter(limit=LIMIT, window=WINDOW)
        first_bot_request = len(fake.requests)
        async with world.imagine_bot(_settings(world, count)) as bot:
            bot_start = loop.time()
            members = _members(world, count)
            await _ask(world, upload, members, "add a hat")
            with contextlib.suppress(TimeoutError):  # the figures below say how far it got
                await _jobs_started(bot, members, timeout=patience)
                await settled(bot, timeout=patience)
            store = bot.services.store
            delivered = refunded_charged = 0
            for member in members:
                for entry in await store.history(int(member["id"]), limit=1):
                    job = await store.get_job(entry.job_id)
                    delivered += entry.state is JobState.DELIVERED
                    refunded_charged += bool(job is not None and job.state is JobState.FAILED and job.charged)
        bot_requests = fake.requests[first_bot_request:]
        uploads = [r.time for r in bot_requests if r.files and r.status == 200]
        bot_seconds = max(uploads, default=bot_start) - bot_start
        progress_edits = sum(
            1
            for r in bot_requests
            if r.method == "PATCH" and not r.files and r.status == 200 and "/channels/" in r.path
        )

    result.figures = {
        "jobs": f"{count} reply-to-edit jobs in one channel, simulator {delay:.1f} s per image,"
        f" limit {LIMIT} writes per {WINDOW:.0f} s per channel",
        "bot: images delivered": f"{delivered} / {count}",
        "bot: refunded after reAPI charged": str(refunded_charged),
        "bot: 429 answers": str(bot_limit.total_refused),
        "bot: channel writes": f"{sum(bot_limit.allowed.values())} ({count} placeholders, {count} results,"
        f" {progress_edits} progress edits)",
        "bot: seconds to the last image": f"{bot_seconds:.1f}",
        "floor: replies posted": f"{len(floor_times)} / {count}",
        "floor: 429 answers": str(floor_limit.total_refused),
        "floor: seconds to the last reply": f"{floor_seconds:.1f}",
    }
    if floor_seconds > 0:
        result.floor_ratio, result.floor_ratio_of = bot_seconds / floor_seconds, "seconds to the last delivery"
    result.checks += [
        Check("images delivered", float(delivered), float(count), higher_is_better=True),
        Check("jobs refunded after reAPI charged", float(refunded_charged), 0),
        Check("429 answers to the bot", float(bot_limit.total_refused), 0),
    ]
    result.notes.append(
        "the bot writes at least twice per job in the channel (its placeholder, then the result in it), the floor"
        " once, so under the same limit the ratio cannot go below about 2; progress edits go only when a write is"
        " spare, so a job may skip a stage"
    )
    return result


def _settings(world: World, count: int) -> Settings:
    """The bench settings with reply-to-edit on (the intent, and loopback image URLs for the fake's CDN)."""
    settings = world.settings("ratelimit", max_queued=max(500, count), max_concurrent=max(16, count))
    return settings.model_copy(
        update={
            "discord": settings.discord.model_copy(update={"message_content_intent": True}),
            "images": settings.images.model_copy(update={"allow_private_urls": True}),
        }
    )


def _members(world: World, count: int) -> list[dict[str, Any]]:
    members = world.new_users(count)
    for member in members:
        world.fake.add_member(member)
    return members


async def _ask(world: World, upload: dict[str, Any], members: Sequence[dict[str, Any]], text: str) -> None:
    """Each member replies to the upload, mentioning the bot, back to back."""
    bot_user = world.fake.bot_user
    for n, member in enumerate(members):
        await world.fake.send_message(
            f"<@{bot_user['id']}> {text} {n}", author=member, mentions=[bot_user], reply_to=upload
        )


async def _replies(world: World, first_request: int, count: int, *, timeout: float) -> list[float]:  # noqa: ASYNC109
    """Wait (bounded) for the floor's ``count`` replies; when each was accepted (those that came in time)."""
    path = f"/channels/{world.fake.channel_id}/messages"

    def posted() -> list[float]:
        return [
            r.time
            for r in world.fake.requests[first_request:]
            if r.method == "POST" and r.path == path and r.status < 300
        ]

    with contextlib.suppress(AssertionError):  # the fake's wait timed out: what was posted by then counts
        await world.fake.wait_for(lambda: len(posted()) >= count, timeout=timeout, what="the floor's replies")
    return posted()


async def _jobs_started(bot: ImagineBot, members: Sequence[dict[str, Any]], *, timeout: float) -> None:  # noqa: ASYNC109
    """Wait (bounded) until every member's request became a job (``settled`` alone could run before the first)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    store = bot.services.store
    for _ in range(1_000_000):
        if all([await store.history(int(member["id"]), limit=1) for member in members]):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"not every request became a job in {timeout:.0f}s")
        await asyncio.sleep(0.2)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "teal").save(out, format="PNG")
    return out.getvalue()
