"""/admin end to end: rights are enforced by the bot itself, every change lands in the ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.test_credits import answer, fields, settled
from tests.e2e.test_imagine import final_edit

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord

StartBot = Callable[..., Awaitable["ImagineBot"]]
JSON = dict[str, Any]
MANAGE_GUILD = 1 << 5


@pytest.fixture
def manager(fake: FakeDiscord) -> JSON:
    """A member with Manage Server (and nothing else special); not a bot owner."""
    role = fake.add_role("Managers", MANAGE_GUILD)
    user = fake.make_user("manager")
    fake.add_member(user, role_ids=[role["id"]])
    return user


def opt(name: str, value: object) -> JSON:
    return {"name": name, "value": value}


async def admin(fake: FakeDiscord, command: str, *options: JSON, user: JSON, dm: bool = False) -> JSON:
    """Run ``/admin <command>`` and return its ephemeral answer."""
    inter = await fake.send_slash_command(f"admin {command}", list(options), user=user, dm=dm)
    return await answer(fake, inter)


async def test_members_without_manage_server_are_refused_by_the_bot(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    # Discord would hide /admin from them (default permissions), but the bot checks again itself.
    (group,) = [c for c in fake.commands() if c["name"] == "admin"]
    assert int(group["default_member_permissions"]) == MANAGE_GUILD
    member = fake.member_user
    for command, options in [
        ("credits grant", [opt("member", member), opt("amount", 100)]),
        ("ban", [opt("member", fake.owner_user)]),
        ("usage", []),
    ]:
        refused = await admin(fake, command, *options, user=member)
        assert "Only bot owners and server admins" in refused["content"]
    refused = await admin(fake, "credits grant", opt("member", member), opt("amount", 5), user=member, dm=True)
    assert "Only bot owners and server admins" in refused["content"]
    assert await bot.services.store.ledger() == []


async def test_server_admins_manage_guild_balances_and_every_change_is_in_the_ledger(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    make_settings: Callable[..., Settings],
    manager: JSON,
) -> None:
    bot = await start_bot(make_settings(credits={"scope": "guild"}))
    member, member_id = fake.member_user, int(fake.member_user["id"])
    granted = await admin(
        fake, "credits grant", opt("member", member), opt("amount", 25), opt("note", "art contest"), user=manager
    )
    assert f"Granted 25 credits to <@{member_id}>" in granted["content"]
    assert "balance in this server is now 75 credits" in granted["content"]
    assert granted.get("allowed_mentions") == {"parse": []}
    answer_ = await admin(fake, "credits set", opt("member", member), opt("amount", 3), user=manager)
    assert "is now 3 credits" in answer_["content"]
    answer_ = await admin(fake, "credits reset", opt("member", member), user=manager)
    assert "is now 50 credits" in answer_["content"]
    ledger = await bot.services.store.ledger(member_id)
    scope = f"guild:{fake.guild_id}"
    assert [(e.reason, e.delta, e.scope) for e in ledger] == [
        ("allowance", 50, scope),
        ("grant", 25, scope),
        ("adjust", -72, scope),
        ("adjust", 47, scope),
    ]
    assert {e.actor_id for e in ledger[1:]} == {int(manager["id"])}
    assert [e.note for e in ledger[1:]] == ["art contest", None, "reset"]
    shown = await answer(fake, await fake.send_slash_command("credits", user=member))
    assert fields(shown)["Balance"] == "**50 credits** (in this server)"


async def test_global_balances_and_global_bans_need_a_bot_owner(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    make_settings: Callable[..., Settings],
    manager: JSON,
) -> None:
    owner = fake.make_user("bot-owner")
    bot = await start_bot(make_settings(discord={"owner_ids": [int(owner["id"])]}))
    member = fake.member_user
    refused = await admin(fake, "credits grant", opt("member", member), opt("amount", 5), user=manager)
    assert "only bot owners can change them" in refused["content"]
    refused = await admin(fake, "ban", opt("member", member), opt("everywhere", True), user=manager)
    assert "Only bot owners can ban or unban everywhere" in refused["content"]
    assert await bot.services.store.ledger() == []
    # A bot owner may, even in a DM and without any server permission.
    granted = await admin(fake, "credits grant", opt("member", member), opt("amount", 5), user=owner, dm=True)
    assert "balance is now 55 credits" in granted["content"]
    banned = await admin(fake, "ban", opt("member", member), opt("reason", "spam"), user=owner, dm=True)
    assert "can no longer create images on this bot" in banned["content"]
    refused = await admin(fake, "ban", opt("member", owner), user=owner)
    assert "Bot owners cannot be banned" in refused["content"]


async def test_a_banned_member_is_refused_before_anything_is_charged_until_unbanned(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, manager: JSON
) -> None:
    bot = await start_bot()
    member = fake.member_user
    banned = await admin(fake, "ban", opt("member", member), opt("reason", "spam"), user=manager)
    assert "can no longer create images in this server" in banned["content"]
    again = await admin(fake, "ban", opt("member", member), user=manager)
    assert "was already banned in this server" in again["content"]
    inter = await fake.send_slash_command("imagine", [opt("prompt", "a cat")], user=member)
    refused = await fake.wait_for_request("POST", inter.webhook_path)
    assert refused.json["flags"] & 64
    assert refused.json["content"] == "You are banned from creating images in this server. Nothing was charged."
    await fake.wait_for_request("DELETE", rf"{inter.webhook_path}/messages/@original")  # no public leftover
    assert sim.submit_count == 0
    assert await bot.services.store.ledger() == []
    shown = await answer(fake, await fake.send_slash_command("credits", user=member))
    assert "Banned from creating images in this server" in shown["embeds"][0]["description"]
    unbanned = await admin(fake, "unban", opt("member", member), user=manager)
    assert "may create images in this server again" in unbanned["content"]
    inter = await fake.send_slash_command("imagine", [opt("prompt", "a cat")], user=member)
    await final_edit(fake, inter, files=True)


async def test_usage_shows_days_top_members_and_spend_against_the_cap(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    make_settings: Callable[..., Settings],
    manager: JSON,
) -> None:
    owner = fake.make_user("bot-owner")
    settings = make_settings(discord={"owner_ids": [int(owner["id"])]}, credits={"daily_spend_cap": 1000})
    bot = await start_bot(settings)
    for user in (fake.member_user, fake.member_user, manager):
        inter = await fake.send_slash_command("imagine", [opt("prompt", "x")], user=user)
        await final_edit(fake, inter, files=True)
    await settled(bot)
    report = await admin(fake, "usage", opt("days", 3), user=owner)
    embed = report["embeds"][0]
    assert embed["title"] == "Usage, last 3 days"
    assert embed["description"].splitlines()[0].endswith("3 delivered · 0 failed · 3 credits · 3 sent to reAPI")
    assert len(embed["description"].splitlines()) == 3
    shown = fields(report)
    assert shown["Top members"].splitlines() == [
        f"1. <@{fake.member_user['id']}>: 2 images, 2 credits",
        f"2. <@{manager['id']}>: 1 image, 1 credit",
    ]
    assert shown["reAPI spend"] == "60 spent today (UTC) of 1,000 reAPI credits"
    # A server admin sees this server only, without the owner's spend.
    report = await admin(fake, "usage", user=manager)
    assert report["embeds"][0]["title"] == "Usage, last 7 days (this server)"
    assert "reAPI spend" not in fields(report)
