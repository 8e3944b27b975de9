"""/settings and moderation end to end: rights, refusals with nothing charged, restarts and two processes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

from bot.reapi.simulator import Outcome
from tests.e2e.conftest import settled
from tests.e2e.test_admin import MANAGE_GUILD, opt
from tests.e2e.test_credits import answer, fields
from tests.e2e.test_edit import png
from tests.e2e.test_imagine import final_edit
from tests.e2e.test_shards import _identify_at_once  # noqa: F401 (autouse: shards identify at once)

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

StartBot = Callable[..., Awaitable["ImagineBot"]]
JSON = dict[str, Any]
EPHEMERAL = 1 << 6


@pytest.fixture
def manager(fake: FakeDiscord) -> JSON:
    """A member with Manage Server (not a bot owner)."""
    role = fake.add_role("Managers", MANAGE_GUILD)
    user = fake.make_user("manager")
    fake.add_member(user, role_ids=[role["id"]])
    return user


async def settings(fake: FakeDiscord, command: str, *options: JSON, user: JSON, **where: Any) -> JSON:
    """Run ``/settings <command>`` and return its ephemeral answer."""
    return await answer(fake, await fake.send_slash_command(f"settings {command}", list(options), user=user, **where))


def channel_opt(name: str, channel: JSON) -> JSON:
    """A channel option (type 7), resolved by the fake like Discord does."""
    return {"name": name, "value": channel["id"], "type": 7}


async def imagine(fake: FakeDiscord, prompt: str, **where: Any) -> FakeInteraction:
    return await fake.send_slash_command("imagine", [opt("prompt", prompt)], **where)


async def refusal(fake: FakeDiscord, inter: FakeInteraction) -> str:
    """The ephemeral follow-up a refused /imagine gets after its public placeholder was removed."""
    followup = await fake.wait_for_request("POST", inter.webhook_path)
    assert followup.json["flags"] & EPHEMERAL
    await fake.wait_for_request("DELETE", rf"/webhooks/\d+/{inter.token}/messages/@original")
    return str(followup.json["content"])


async def books(bot: ImagineBot, user: JSON) -> tuple[int, int]:
    """The member's global balance and how many ledger entries they have."""
    await settled(bot)
    rules = bot.services.ledger.rules_for(int(user["id"]))
    assert rules is not None
    balance = await bot.services.store.balance(int(user["id"]), "global", rules)
    return balance.balance, len(await bot.services.store.ledger(int(user["id"])))


async def test_only_managers_and_owners_may_use_settings_and_only_in_servers(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, manager: JSON
) -> None:
    await start_bot()
    (group,) = [c for c in fake.commands() if c["name"] == "settings"]
    assert int(group["default_member_permissions"]) == MANAGE_GUILD
    refused = await settings(fake, "block", opt("term", "kraken"), user=fake.member_user)
    assert "Manage Server" in refused["content"]
    refused = await settings(fake, "show", user=fake.owner_user, dm=True)
    assert "only works in a server" in refused["content"]
    done = await settings(fake, "nsfw", opt("rule", "never"), user=manager)
    assert "Changed the NSFW rule" in done["content"]
    done = await settings(fake, "reply_edit", opt("enabled", False), user=fake.owner_user)
    assert "Changed the reply-to-edit" in done["content"]


async def test_bad_values_get_friendly_refusals_and_change_nothing(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, manager: JSON
) -> None:
    bot = await start_bot()
    cases = [
        ("nsfw", [opt("rule", "sometimes")], "not one of the choices"),
        ("channels", [opt("mode", "nowhere")], "not one of the choices"),
        ("credits", [opt("cost_per_image", 1000)], "from 1 to 100 credits"),
        ("credits", [opt("allowance", 51)], "from 0 to 50 credits"),
        ("defaults", [opt("model", "dall-e-9")], "nano-banana-2-lite"),
        ("defaults", [opt("aspect_ratio", "7:5")], "That aspect ratio is not available"),
        ("block", [opt("term", "<@123> (x)")], "letters, digits"),
        ("block", [opt("term", "*")], "at least two letters"),
        ("unblock", [opt("term", "never-listed")], "not on this server's blocked list"),
    ]
    for command, options, expected in cases:
        refused = await settings(fake, command, *options, user=manager)
        assert expected in refused["content"], (command, refused["content"])
    assert await bot.services.store.settings_audit(int(fake.guild_id), limit=10) == []


async def test_a_blocked_term_is_refused_before_anything_is_charged_or_sent(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings], manager: JSON
) -> None:
    bot = await start_bot(
        make_settings(moderation={"blocked_terms": ["basilisk*"]}, images={"allow_private_urls": True})
    )
    await settings(fake, "block", opt("term", "Kraken"), user=manager)
    before = await books(bot, fake.member_user)
    for prompt, whose in [("A KRÂKEN attacks the ship", "this server's"), ("two Basilisks", "the bot's")]:
        inter = await imagine(fake, prompt)
        text = await refusal(fake, inter)
        assert f"blocked by {whose} rules" in text
        assert "Nothing was charged" in text
        assert "kraken" not in text.lower()
        assert "basilisk" not in text.lower()
    # The same check covers /edit's instruction (and the modal and reply-to-edit, which share its path), before
    # any image is fetched: this one would be refused as private, yet the term is what the member hears about.
    attachment = fake.add_attachment("cat.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, content_type="image/png")
    edit = await fake.send_slash_command("edit", [opt("prompt", "turn it into a kraken"), opt("image", attachment)])
    assert "blocked by this server's rules" in await refusal(fake, edit)
    assert await books(bot, fake.member_user) == before
    assert sim.submissions == []
    public = [m for m in fake.channel_messages(include_ephemeral=False) if "kraken" in str(m.get("content")).lower()]
    assert public == []
    # Unblocked, the same prompt goes through and is charged as usual.
    await settings(fake, "unblock", opt("term", "kraken"), user=manager)
    inter = await imagine(fake, "a kraken attacks the ship")
    await final_edit(fake, inter, files=True)
    assert len(sim.submissions) == 1


async def test_reply_to_edit_can_be_turned_off_and_its_instruction_is_checked_for_blocked_terms(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings], manager: JSON
) -> None:
    await start_bot(make_settings(images={"allow_private_urls": True}, discord={"message_content_intent": True}))
    await settings(fake, "block", opt("term", "kraken"), user=manager)
    upload = await fake.send_message(
        "my cat", author=fake.owner_user, attachments=[fake.add_attachment("c.png", png())]
    )
    mention = f"<@{fake.bot_user['id']}>"
    await fake.send_message(
        f"{mention} add a kraken", author=fake.member_user, mentions=[fake.bot_user], reply_to=upload
    )
    edited = await fake.wait_for_request("PATCH", rf"/channels/{fake.channel_id}/messages/\d+")
    assert "blocked by this server's rules" in edited.json["content"]
    assert "kraken" not in edited.json["content"].lower()  # this answer is public: the term is never repeated
    await settings(fake, "reply_edit", opt("enabled", False), user=manager)
    sent = len(fake.requests_matching("POST", rf"/channels/{fake.channel_id}/messages$"))
    await fake.send_message(f"{mention} add a hat", author=fake.member_user, mentions=[fake.bot_user], reply_to=upload)
    await fake.wait_for(lambda: len(fake.requests_matching("POST", rf"/channels/{fake.channel_id}/messages$")) > sent)
    answer_ = fake.requests_matching("POST", rf"/channels/{fake.channel_id}/messages$")[-1]
    assert "Reply-to-edit is turned off in this server" in answer_.json["content"]
    assert sim.submissions == []


async def test_settings_survive_a_restart_and_show_their_audit_log(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings], manager: JSON
) -> None:
    config = make_settings(credits={"scope": "guild"}, servers={"max_allowance": 80})
    bot = await start_bot(config)
    await settings(fake, "block", opt("term", "kraken"), user=manager)
    await settings(fake, "credits", opt("cost_per_image", 3), opt("allowance", 60), user=manager)
    await settings(fake, "defaults", opt("aspect_ratio", "16:9"), user=fake.owner_user)
    await bot.close()

    bot = await start_bot(config)
    assert "blocked by this server's rules" in await refusal(fake, await imagine(fake, "kraken"))
    shown = await settings(fake, "show", user=manager)
    values = fields(shown)
    assert "||kraken||" in values["Blocked terms"]
    assert "3 credits per image, 60 credits per refill (set by this server)" in values["Credits"]
    assert "Aspect ratio: `16:9`" in values["Defaults"]
    recent = values["Recent changes"].splitlines()
    assert len(recent) == 3
    assert f"<@{fake.owner_user['id']}>: default aspect ratio" in recent[0]
    assert f"<@{manager['id']}>: blocked terms none → ||kraken||" in recent[2]
    # The server's terms and default apply to the next image.
    inter = await imagine(fake, "a lighthouse")
    await final_edit(fake, inter, files=True)
    assert sim.submissions[-1]["body"]["aspect_ratio"] == "16:9"
    job = (await bot.services.store.history(int(fake.member_user["id"]), limit=1))[0]
    assert job.cost == 3


async def test_channel_lists_and_the_nsfw_rule_follow_discord_channels(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings], manager: JSON
) -> None:
    adults = fake.add_text_channel("adults")
    adults["nsfw"] = True  # age-restricted (before the bot connects: it caches channels from GUILD_CREATE)
    bot = await start_bot(make_settings(moderation={"nsfw_terms": ["nude"]}))
    general = fake.channel_id
    assert "age-restricted channels" in await refusal(fake, await imagine(fake, "a nude statue"))
    inter = await imagine(fake, "a nude statue", channel_id=adults["id"])
    await final_edit(fake, inter, files=True)
    await settings(fake, "channels", opt("mode", "only_listed"), user=manager)
    await settings(fake, "channel", channel_opt("channel", adults), user=manager)
    assert "don't allow the bot in this channel" in await refusal(
        fake, await imagine(fake, "a cat", channel_id=general)
    )
    inter = await imagine(fake, "a cat", channel_id=adults["id"])
    await final_edit(fake, inter, files=True)
    await settings(fake, "nsfw", opt("rule", "never"), user=manager)
    text = await refusal(fake, await imagine(fake, "a nude statue", channel_id=adults["id"]))
    assert "this server does not allow that" in text
    await settled(bot)
    assert len(sim.submissions) == 2


async def test_content_policy_strikes_pause_the_member_and_alert_the_moderators(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings], manager: JSON
) -> None:
    mods = fake.add_text_channel("mod-log")
    bot = await start_bot(make_settings(moderation={"content_policy_strikes_per_day": 2}))
    await settings(fake, "log_channel", channel_opt("channel", mods), user=manager)
    for n in range(2):
        sim.next_outcomes.append(Outcome.fail(80006, "The request was blocked by the content policy."))
        await final_edit(fake, await imagine(fake, f"something reAPI refuses {n}"), files=False)
    alert = await fake.wait_for_request("POST", rf"/channels/{mods['id']}/messages$")
    assert f"<@{fake.member_user['id']}> had 2 prompts refused" in alert.json["content"]
    before = await books(bot, fake.member_user)
    text = await refusal(fake, await imagine(fake, "a harmless cat"))
    assert "you are paused here until <t:" in text
    assert await books(bot, fake.member_user) == before
    assert len(sim.submissions) == 2
    await final_edit(fake, await imagine(fake, "a harmless cat", user=fake.owner_user), files=True)


def on_shard(config: Settings, shard: int) -> Settings:
    """The same config, running shard ``shard`` of 2."""
    discord = config.discord.model_copy(update={"shard_count": 2, "shard_ids": [shard]})
    return config.model_copy(update={"discord": discord})


async def test_a_change_through_one_process_is_enforced_by_another_on_the_same_database(
    postgres_dsn: str,  # first: the database outlives the bots, which are closed before it is dropped
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    make_settings: Callable[..., Settings],
    manager: JSON,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guild = fake.add_guild("Shard Zero", shard=(0, 2))
    fake.add_member(manager, role_ids=[fake.add_role("Managers", MANAGE_GUILD, guild_id=guild)["id"]], guild_id=guild)
    config = make_settings(database={"url": postgres_dsn}, servers={"refresh_seconds": 0.05})
    one = await start_bot(on_shard(config, 0))
    two = await start_bot(on_shard(config, 1))
    await settings(fake, "block", opt("term", "kraken"), user=manager, guild_id=guild)
    assert one.services.server_rules.get(int(guild)).blocked_terms == ("kraken",)
    # The other process learns of it from the database within its refresh interval, without a restart.
    for _ in range(1000):
        if two.services.server_rules.get(int(guild)).blocked_terms:
            break
        await asyncio.sleep(0.01)
    assert two.services.server_rules.get(int(guild)).blocked_terms == ("kraken",)
    # Discord now routes the guild to the second process (as after a reshard): it refuses the term itself.
    second = next(s for s in fake._sessions.values() if s.shard == (1, 2))
    monkeypatch.setattr(fake, "_owners", lambda guild_id: [second])
    seen: list[int] = []

    async def record(interaction: Any) -> None:
        seen.append(interaction.id)

    two.add_listener(record, "on_interaction")
    inter = await imagine(fake, "the Kraken wakes", guild_id=guild)
    assert "blocked by this server's rules" in await refusal(fake, inter)
    assert seen == [int(inter.id)]
    assert sim.submissions == []
