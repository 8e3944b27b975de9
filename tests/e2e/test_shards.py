"""Sharding end to end: the bot as AutoShardedBot against a fake Discord that routes each guild to its shard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
import pytest

from bot.surface.app import ImagineBot
from tests.e2e.test_credits import answer
from tests.e2e.test_imagine import final_edit
from tests.fakes.fake_discord import shard_of

if TYPE_CHECKING:
    from pathlib import Path

    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from tests.e2e.conftest import BotProcess
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

StartBot = Callable[..., Awaitable["ImagineBot"]]
JSON = dict[str, Any]


@pytest.fixture(autouse=True)
def _identify_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """discord.py waits 5 s before each further shard's IDENTIFY (Discord's limit); the fake has no such limit."""

    async def at_once(self: ImagineBot, shard_id: int | None, *, initial: bool = False) -> None:
        return None

    monkeypatch.setattr(ImagineBot, "before_identify_hook", at_once)


def two_guilds(fake: FakeDiscord) -> tuple[str, str]:
    """A guild Discord routes to shard 0 of 2 and one it routes to shard 1 of 2."""
    on_0, on_1 = fake.add_guild("Shard Zero", shard=(0, 2)), fake.add_guild("Shard One", shard=(1, 2))
    assert (shard_of(on_0, 2), shard_of(on_1, 2)) == (0, 1)
    return on_0, on_1


def seen_interactions(bot: ImagineBot) -> list[int]:
    """Ids of every interaction this bot receives from now on (an ``on_interaction`` listener)."""
    seen: list[int] = []

    async def record(interaction: discord.Interaction) -> None:
        seen.append(interaction.id)

    bot.add_listener(record, "on_interaction")
    return seen


async def credits_in(fake: FakeDiscord, guild_id: str | None) -> FakeInteraction:
    """/credits from the member in ``guild_id``'s channel, or in a DM with the bot (``None``)."""
    if guild_id is None:
        return await fake.send_slash_command("credits", user=fake.member_user, dm=True)
    return await fake.send_slash_command("credits", user=fake.member_user, guild_id=guild_id)


def ready_guilds(fake: FakeDiscord, shard: tuple[int, int]) -> set[str]:
    """The guild ids the READY of one shard's session listed."""
    ready = next(e for e in fake.shard_events(*shard) if e["t"] == "READY")
    assert ready["d"]["shard"] == list(shard)
    return {g["id"] for g in ready["d"]["guilds"]}


async def test_without_shard_settings_one_process_asks_discord_and_runs_its_single_shard(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    assert isinstance(bot, discord.AutoShardedClient)
    # Discord recommends the count (GET /gateway/bot says 1 for a small bot): one shard, every guild on it.
    assert fake.requests_matching("GET", r"/gateway/bot$")
    assert [p["shard"] for p in fake.identify_payloads] == [[0, 1]]
    assert (bot.shard_count, sorted(bot.shards)) == (1, [0])
    assert bot.get_guild(int(fake.guild_id)) is not None
    await answer(fake, await credits_in(fake, fake.guild_id))


async def test_one_process_owning_both_shards_serves_guilds_on_each_and_dms(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    on_0, on_1 = two_guilds(fake)
    bot = await start_bot(make_settings(discord={"shard_count": 2, "shard_ids": [0, 1]}))
    await fake.wait_for_shards([0, 1], 2)
    assert sorted(p["shard"] for p in fake.identify_payloads) == [[0, 2], [1, 2]]
    # Each shard's READY lists only its own guilds; the bot still sees all of them.
    assert on_0 in ready_guilds(fake, (0, 2))
    assert on_1 not in ready_guilds(fake, (0, 2))
    assert on_1 in ready_guilds(fake, (1, 2))
    assert on_0 not in ready_guilds(fake, (1, 2))
    assert [(g.id, g.shard_id) for g in map(bot.get_guild, (int(on_0), int(on_1))) if g] == [
        (int(on_0), 0),
        (int(on_1), 1),
    ]
    seen = seen_interactions(bot)
    asked = [await credits_in(fake, gid) for gid in (on_0, on_1, None)]
    assert [i.shards for i in asked] == [[0], [1], [0]]
    for inter in asked:
        assert "credits" in str((await answer(fake, inter))["embeds"][0]["title"]).lower()
    assert sorted(seen) == sorted(int(i.id) for i in asked)
    assert fake.undelivered == []

    # Shard 1's connection drops: it RESUMEs its own session, and its guild's interactions reach the bot again.
    resumes = fake.resume_count
    await fake.drop_gateway(shard=(1, 2))
    await fake.wait_for(lambda: fake.resume_count > resumes, timeout=10, what="RESUME of shard 1")
    resume = await fake.wait_for_gateway_op(6)
    session_1 = next(e for e in fake.shard_events(1, 2) if e["t"] == "READY")["d"]["session_id"]
    assert resume.d["session_id"] == session_1
    after = await credits_in(fake, on_1)
    await answer(fake, after)
    assert seen[-1] == int(after.id)

    # A job from the guild on shard 1 runs and is delivered like any other (delivery is REST only).
    job = await fake.send_slash_command(
        "imagine", [{"name": "prompt", "value": "a fox"}], user=fake.member_user, guild_id=on_1
    )
    assert job.shards == [1]
    await final_edit(fake, job, files=True)


async def test_two_processes_each_receive_only_their_shards_interactions(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    on_0, on_1 = two_guilds(fake)
    # Separate databases: two processes must not both run jobs from one SQLite file (no shared job queue yet).
    first = await start_bot(
        make_settings(
            discord={"shard_count": 2, "shard_ids": [0]}, database={"url": f"sqlite:///{tmp_path / 'a.sqlite3'}"}
        )
    )
    second = await start_bot(
        make_settings(
            discord={"shard_count": 2, "shard_ids": [1]}, database={"url": f"sqlite:///{tmp_path / 'b.sqlite3'}"}
        )
    )
    await fake.wait_for_shards([0, 1], 2)
    assert (sorted(first.shards), sorted(second.shards)) == ([0], [1])
    # Each process caches only the guilds of its own shard.
    assert first.get_guild(int(on_0)) is not None
    assert first.get_guild(int(on_1)) is None
    assert second.get_guild(int(on_1)) is not None
    assert second.get_guild(int(on_0)) is None

    seen_first, seen_second = seen_interactions(first), seen_interactions(second)
    in_0, in_1, in_dm = [await credits_in(fake, gid) for gid in (on_0, on_1, None)]
    for inter in (in_0, in_1, in_dm):
        await answer(fake, inter)
    assert sorted(seen_first) == sorted([int(in_0.id), int(in_dm.id)])
    assert seen_second == [int(in_1.id)]


async def test_a_process_started_with_shard_flags_runs_only_that_shard(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    make_settings: Callable[..., Settings],
    spawn_bot: Callable[..., Awaitable[BotProcess]],
) -> None:
    on_0, on_1 = two_guilds(fake)
    # The flags win over the config file, which says "one process, Discord decides".
    await spawn_bot(make_settings(), "--shards", "1", "--shard-count", "2")
    await fake.wait_for_shards([1], 2, timeout=30)
    assert [p["shard"] for p in fake.identify_payloads] == [[1, 2]]
    assert fake.shards == [(1, 2)]
    await answer(fake, await credits_in(fake, on_1))
    # Nobody runs shard 0: Discord has no connection to send that guild's interaction to.
    lost = await credits_in(fake, on_0)
    assert lost.shards == []
    assert [e["d"]["id"] for e in fake.undelivered if e["t"] == "INTERACTION_CREATE"] == [lost.id]
