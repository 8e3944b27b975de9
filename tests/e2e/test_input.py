"""Hostile and careless input end to end: limits, bad option values, invisible prompts, errors after the ack."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tests.e2e.conftest import settled
from tests.e2e.test_imagine import final_edit, imagine
from tests.engine.test_sources import png_bytes
from tests.fakes.discord_payloads import ATTACH_FILES, EMBED_LINKS, FLAG_EPHEMERAL, FLAG_LOADING

if TYPE_CHECKING:
    import pytest

    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
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
    clicked = original is not None and original["id"] == inter.message_id  # a button's own message stays
    assert original is None or clicked or _ephemeral(original), f"a public message was left behind: {original}"
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


# -- option values a modified client can send (issue item 14) ---------------------------------------


def opt(name: str, value: object, option_type: int | None = None) -> JSON:
    option: JSON = {"name": name, "value": value}
    if option_type is not None:
        option["type"] = option_type  # what the command declares, whatever the value is
    return option


STRING, INTEGER, BOOLEAN = 3, 4, 5


async def test_image_commands_refuse_values_outside_their_choices_and_charge_nothing(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(make_settings(images={"allow_private_urls": True}))
    (imagine_cmd,) = [c for c in fake.commands() if c["name"] == "imagine"]
    shape = {o["name"]: o for o in imagine_cmd["options"]}["aspect_ratio"]
    assert "16:9" in [c["value"] for c in shape["choices"]]  # Discord still offers the choices
    cases: list[tuple[str, list[JSON], str]] = [
        ("imagine", [opt("prompt", "a cat"), opt("aspect_ratio", "banana")], "not an aspect ratio"),
        ("imagine", [opt("prompt", "a cat"), opt("aspect_ratio", 16, STRING)], "not an aspect ratio"),
        ("imagine", [opt("prompt", 12345, STRING)], "prompt must be text"),
        ("imagine", [opt("prompt", "x" * 6001)], "the limit is 6,000"),
        (
            "edit",
            [opt("prompt", "make it blue"), opt("urls", "https://example.com/a.png"), opt("aspect_ratio", "1:0")],
            "not an aspect ratio",
        ),
        ("edit", [opt("prompt", "make it blue"), opt("urls", 7, STRING)], "`urls` must be a text"),
    ]
    for command, options, problem in cases:
        inter = await fake.send_slash_command(command, options, user=fake.member_user)
        assert problem in await ephemeral_answer(fake, inter), (command, options)
    assert sim.submit_count == 0
    assert await bot.services.store.ledger() == []
    assert await bot.services.store.history(int(fake.member_user["id"]), limit=10) == []


async def test_numbers_and_texts_out_of_bounds_are_refused_and_change_nothing(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    owner = fake.owner_user
    bot = await start_bot(make_settings(discord={"owner_ids": [int(owner["id"])]}))
    member = fake.member_user
    cases: list[tuple[str, list[JSON], str]] = [
        ("admin credits grant", [opt("member", member), opt("amount", -5)], "from 1 to 1,000,000"),
        ("admin credits grant", [opt("member", member), opt("amount", 0)], "from 1 to 1,000,000"),
        ("admin credits grant", [opt("member", member), opt("amount", 10**20)], "from 1 to 1,000,000"),
        ("admin credits grant", [opt("member", member), opt("amount", "5", INTEGER)], "whole number"),
        ("admin credits grant", [opt("member", member), opt("amount", True, INTEGER)], "whole number"),
        ("admin credits grant", [opt("member", member), opt("amount", 5), opt("note", "n" * 201)], "`note`"),
        ("admin credits set", [opt("member", member), opt("amount", -1)], "from 0 to 1,000,000"),
        ("admin credits set", [opt("member", member), opt("amount", 1_000_001)], "from 0 to 1,000,000"),
        ("admin usage", [opt("days", 20000)], "from 1 to 31"),
        ("admin usage", [opt("days", 0)], "from 1 to 31"),
        ("admin ban", [opt("member", member), opt("reason", "r" * 5000)], "`reason`"),
        ("admin ban", [opt("member", member), opt("everywhere", "false", BOOLEAN)], "true or false"),
        ("admin unban", [opt("member", member), opt("everywhere", 1, BOOLEAN)], "true or false"),
        ("history", [opt("page", 0)], "from 1 to 1,000"),
        ("history", [opt("page", 10**30)], "from 1 to 1,000"),
    ]
    for command, options, problem in cases:
        inter = await fake.send_slash_command(command, options, user=owner)
        assert problem in await ephemeral_answer(fake, inter), (command, options)
    assert await bot.services.store.ledger() == []
    assert await bot.services.store.banned_in(int(member["id"]), ["global", f"guild:{fake.guild_id}"]) is None
    # The same commands with values inside the bounds still work.
    inter = await fake.send_slash_command("admin credits grant", [opt("member", member), opt("amount", 5)], user=owner)
    assert "Granted 5 credits" in await ephemeral_answer(fake, inter)


# -- invisible prompts and echoed Markdown (issue item 16) ------------------------------------------

INVISIBLE = "\u200b\u3164\u2800\u200d\x00 \u115f"


async def test_invisible_prompts_are_empty_on_every_path(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(images={"allow_private_urls": True}, discord={"message_content_intent": True})
    bot = await start_bot(settings)
    inter = await imagine(fake, INVISIBLE)
    assert "prompt is empty" in await ephemeral_answer(fake, inter)

    upload = await fake.send_message(
        "look", author=fake.owner_user, attachments=[fake.add_attachment("dog.png", png_bytes())]
    )
    menu = await fake.send_message_command("Edit image", upload, user=fake.member_user)
    await fake.wait_for_request("POST", menu.callback_path)
    assert menu.modal is not None
    submit = await fake.send_modal_submit(menu.modal["custom_id"], {"instruction": INVISIBLE, "aspect_ratio": ""})
    assert "prompt is empty" in await ephemeral_answer(fake, submit)

    await fake.send_message(
        f"<@{fake.bot_user['id']}> {INVISIBLE}", author=fake.owner_user, mentions=[fake.bot_user], reply_to=upload
    )
    answer = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages")
    assert "Tell me what to change" in answer.json["content"]
    assert sim.submit_count == 0
    assert await bot.services.store.ledger() == []


async def test_echoed_prompt_renders_no_links_or_formatting_in_the_public_result(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    await start_bot()
    inter = await imagine(fake, "[free nitro](https://evil.example)\n# HUGE **bold** ||spoiler||")
    final = await final_edit(fake, inter, files=True)
    description = final.json["embeds"][0]["description"]
    assert description == "\\[free nitro](https://evil.example)\n\\# HUGE \\*\\*bold\\*\\* \\|\\|spoiler\\|\\|"
    assert sim.submissions[0]["body"]["prompt"] == "[free nitro](https://evil.example)\n# HUGE **bold** ||spoiler||"


# -- unexpected errors after the ack, and buttons (issue items 10 and 17) -----------------------------


class StoreDown(Exception):
    """A stand-in for a database failure."""


def break_store(monkeypatch: pytest.MonkeyPatch, bot: ImagineBot, method: str) -> None:
    async def fail(*args: object, **kwargs: object) -> None:
        raise StoreDown(f"{method} failed")

    monkeypatch.setattr(bot.services.store, method, fail)


async def test_a_database_error_after_the_public_defer_leaves_nothing_public(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await start_bot()
    break_store(monkeypatch, bot, "create_job")
    inter = await imagine(fake, "a lighthouse")
    text = await ephemeral_answer(fake, inter)  # also: the public placeholder is gone
    assert "something went wrong on our side" in text
    assert "error id" in text
    await fake.wait_for_request("DELETE", rf"/webhooks/\d+/{inter.token}/messages/@original")
    assert not [m for m in fake.channel_messages(include_ephemeral=False) if "went wrong" in m["content"]]
    assert sim.submit_count == 0


async def test_a_database_error_in_reply_to_edit_replaces_the_checking_message(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(images={"allow_private_urls": True}, discord={"message_content_intent": True})
    bot = await start_bot(settings)
    upload = await fake.send_message(
        "my cat", author=fake.owner_user, attachments=[fake.add_attachment("c.png", png_bytes())]
    )
    break_store(monkeypatch, bot, "create_job")
    await fake.send_message(
        f"<@{fake.bot_user['id']}> add a hat", author=fake.member_user, mentions=[fake.bot_user], reply_to=upload
    )
    edit = await fake.wait_for_request("PATCH", rf"/channels/{fake.channel_id}/messages/\d+")
    assert edit.json["content"].startswith("❌ Sorry, something went wrong on our side (error id")
    placeholder = fake.message(edit.path.rsplit("/", 1)[1])
    assert placeholder is not None
    assert "Checking" not in placeholder["content"]
    assert sim.submit_count == 0


async def test_button_rights_checks_that_fail_are_answered_not_just_logged(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await start_bot()
    inter = await imagine(fake, "a kite")
    await final_edit(fake, inter, files=True)
    result = fake.message(inter.original_message_id or "")
    assert result is not None
    delete_id = next(
        c["custom_id"] for row in result["components"] for c in row["components"] if ":delete:" in c["custom_id"]
    )
    break_store(monkeypatch, bot, "get_job")
    click = await fake.send_component_click(delete_id, message=result, user=fake.member_user)
    assert "something went wrong on our side" in await ephemeral_answer(fake, click)
    assert fake.message(result["id"]) is not None
    cancel = {"type": 2, "style": 2, "label": "Cancel", "custom_id": "imagine:cancel:0123456789ab"}
    row = {"type": 1, "components": [cancel]}
    queued = await fake.send_message("⏳ Queued", author=fake.bot_user, components=[row])
    click = await fake.send_component_click(cancel["custom_id"], message=queued, user=fake.member_user)
    assert "something went wrong on our side" in await ephemeral_answer(fake, click)


async def test_cancel_of_a_job_that_does_not_exist_says_so(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    await start_bot()
    cancel = {"type": 2, "style": 2, "label": "Cancel", "custom_id": "imagine:cancel:0123456789ab"}
    row = {"type": 1, "components": [cancel]}
    ghost = await fake.send_message("⏳ Queued", author=fake.bot_user, components=[row])
    click = await fake.send_component_click(cancel["custom_id"], message=ghost, user=fake.member_user)
    assert "no longer exists" in await ephemeral_answer(fake, click)


# -- the bot's own permissions in the channel (issue item 11, intake) -------------------------------


def take_from_the_bot(fake: FakeDiscord, permissions: int) -> None:
    """Remove permissions from @everyone and the bot's role (the fake has no helper to edit a role)."""
    for role in fake._guilds[fake.guild_id]["roles"]:
        if role["id"] in (fake.everyone_role_id, fake.bot_role_id):
            role["permissions"] = str(int(role["permissions"]) & ~permissions)


async def test_a_channel_where_the_bot_cannot_post_gets_one_ephemeral_heads_up_and_the_job_still_runs(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    await start_bot()
    normal = await imagine(fake, "a fox")
    await final_edit(fake, normal, files=True)
    assert fake.requests_matching("POST", rf"/webhooks/\d+/{normal.token}") == []  # no heads-up when all is well

    take_from_the_bot(fake, EMBED_LINKS | ATTACH_FILES)
    inter = await imagine(fake, "a lynx")
    final = await final_edit(fake, inter, files=True)  # delivered through the interaction token all the same
    assert final.json["embeds"][0]["description"] == "a lynx"
    (heads_up,) = fake.requests_matching("POST", rf"/webhooks/\d+/{inter.token}")
    assert heads_up.json["flags"] & FLAG_EPHEMERAL
    assert "**Embed Links**, **Attach Files**" in heads_up.json["content"]
    assert "Send Messages" not in heads_up.json["content"]
    placeholder = fake.original_message(inter)
    assert placeholder is not None
    assert not placeholder["flags"] & FLAG_EPHEMERAL  # the result itself stays public
    (message,) = fake.followup_messages(inter)  # a message of its own, not the placeholder
    assert _ephemeral(message)
    assert sim.submit_count == 2
