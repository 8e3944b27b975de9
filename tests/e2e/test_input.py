"""Hostile and careless input end to end: limits, bad option values, invisible prompts, errors after the ack."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tests.e2e.conftest import settled
from tests.e2e.test_imagine import imagine
from tests.fakes.discord_payloads import FLAG_EPHEMERAL, FLAG_LOADING

if TYPE_CHECKING:
    from bot.app import ImagineBot
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

StartBot = Callable[..., Awaitable["ImagineBot"]]
JSON = dict[str, Any]


def _ephemeral(message: JSON | None) -> bool:
    return message is not None and bool(message["flags"] & FLAG_EPHEMERAL) and not message["flags"] & FLAG_LOADING


async def ephemeral_answer(fake: FakeDiscord, inter: FakeInteraction) -> str:
    """The ephemeral text an interaction ended with; nothing public of it may be left in the channel."""

    def find() -> JSON | None:
        return next((m for m in [fake.original_message(inter), *fake.followup_messages(inter)] if _ephemeral(m)), None)

    message = await fake.wait_for(find, timeout=10, what=f"an ephemeral answer to {inter.id}")
    original = fake.original_message(inter)
    assert original is None or _ephemeral(original), f"a public message was left behind: {original}"
    return str(message["content"])


def public_placeholder_kept(fake: FakeDiscord, inter: FakeInteraction) -> bool:
    original = fake.original_message(inter)
    return original is not None and not original["flags"] & FLAG_EPHEMERAL


# -- per-member limits (issue item 3) ---------------------------------------------------------------


async def test_refused_input_does_not_count_against_the_cooldown(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(make_settings(jobs={"cooldown_jobs": 1, "cooldown_seconds": 3600}))
    for _ in range(3):  # typos: refused, and never a "slow down"
        inter = await imagine(fake, "   ")
        assert "prompt is empty" in await ephemeral_answer(fake, inter)
    accepted = await imagine(fake, "a fox, finally typed right")
    await fake.wait_for_request("PATCH", rf"/webhooks/\d+/{accepted.token}/messages/\d+")  # progress: queued
    limited = await imagine(fake, "another fox")
    text = await ephemeral_answer(fake, limited)
    assert "too quickly" in text
    assert "<t:" in text
    await settled(bot)
    history = await bot.services.store.history(int(fake.member_user["id"]), limit=10)
    assert [h.prompt for h in history] == ["a fox, finally typed right"]
    assert sim.submit_count == 1


async def test_six_at_once_with_three_credits_give_three_jobs_and_three_clear_refusals(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(make_settings(credits={"allowance": 3, "max_balance": 3}))
    inters = await asyncio.gather(*(imagine(fake, f"cat number {n}") for n in range(6)))

    async def outcome(inter: FakeInteraction) -> str:
        def done() -> str | None:
            if any(_ephemeral(m) for m in [fake.original_message(inter), *fake.followup_messages(inter)]):
                return "refused"
            original = fake.original_message(inter)
            return "image" if original is not None and original.get("attachments") else None

        return await fake.wait_for(done, timeout=10, what=f"the outcome of {inter.id}")

    outcomes = [await outcome(i) for i in inters]
    assert sorted(outcomes) == ["image"] * 3 + ["refused"] * 3
    for inter, result in zip(inters, outcomes, strict=True):
        if result == "refused":
            assert "an image costs 1 credit" in await ephemeral_answer(fake, inter)
    await settled(bot)
    history = await bot.services.store.history(int(fake.member_user["id"]), limit=10)
    assert len(history) == 3
    assert sim.submit_count == 3
