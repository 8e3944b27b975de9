"""/credits, /history, refunds on every failure path, the owner's spend cap and the 402 pause, end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.reapi.simulator import Fault, Outcome
from bot.store import JobKind, JobState, NewJob
from tests.e2e.conftest import settled
from tests.e2e.test_imagine import final_edit, imagine

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

StartBot = Callable[..., Awaitable["ImagineBot"]]
JSON = dict[str, Any]
EPHEMERAL = 64


async def answer(fake: FakeDiscord, inter: FakeInteraction) -> JSON:
    """The ephemeral answer to an interaction: an immediate message, or the follow-up after a deferral."""
    callback = await fake.wait_for_request("POST", inter.callback_path)
    if callback.json["type"] == 4:
        data: JSON = callback.json["data"]
    else:
        assert callback.json["type"] == 5
        assert callback.json["data"]["flags"] & EPHEMERAL, "deferred publicly"
        data = (await fake.wait_for_request("POST", inter.webhook_path)).json
    assert data["flags"] & EPHEMERAL
    return data


def fields(message: JSON) -> dict[str, str]:
    """The first embed's fields, name → value."""
    return {f["name"]: f["value"] for f in message["embeds"][0].get("fields", [])}


async def balance_of(bot: ImagineBot, user: JSON) -> int:
    await settled(bot)
    rules = bot.services.ledger.rules_for(int(user["id"]))
    assert rules is not None
    return (await bot.services.store.balance(int(user["id"]), "global", rules)).balance


# -- /credits ---------------------------------------------------------------------------------------------


async def test_credits_shows_balance_cost_and_next_refill_ephemerally(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    await start_bot()
    inter = await imagine(fake, "a fox")
    await final_edit(fake, inter, files=True)
    message = await answer(fake, await fake.send_slash_command("credits", user=fake.member_user))
    shown = fields(message)
    assert message["embeds"][0]["title"] == "Your credits"
    assert shown["Balance"].startswith("**49 credits**")
    assert shown["Cost per image"] == "1 credit"
    assert "+50 every day, up to 50" in shown["Allowance"]
    assert "Next refill <t:" in shown["Allowance"]


async def test_credits_of_another_member_needs_admin_rights(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    await start_bot()
    refused = await answer(fake, await fake.send_slash_command("credits", [{"name": "user", "value": fake.owner_user}]))
    assert "Only bot owners and server admins" in refused["content"]
    # The guild owner has Manage Server: allowed, and sees the member's balance (a full allowance).
    shown = await answer(
        fake,
        await fake.send_slash_command("credits", [{"name": "user", "value": fake.member_user}], user=fake.owner_user),
    )
    assert shown["embeds"][0]["title"].startswith("Credits of ")
    assert fields(shown)["Balance"].startswith("**50 credits**")


async def test_credits_of_an_owner_say_unlimited(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    await start_bot(make_settings(discord={"owner_ids": [int(fake.owner_user["id"])]}))
    shown = await answer(fake, await fake.send_slash_command("credits", user=fake.owner_user, dm=True))
    assert fields(shown) == {"Balance": "Unlimited (bot owner)"}


# -- /history ---------------------------------------------------------------------------------------------


async def test_history_pages_with_buttons_and_links_to_results(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    inter = await imagine(fake, "the very first image")
    await final_edit(fake, inter, files=True)
    await settled(bot)
    store, user_id = bot.services.store, int(fake.member_user["id"])
    rules = bot.services.ledger.rules_for(user_id)
    for n in range(6):  # six more, finished later, so the real one ends up on page 2
        job = await store.create_job(
            NewJob(
                kind=JobKind.IMAGINE,
                user_id=user_id,
                guild_id=None,
                channel_id=42,
                prompt=f"job {n}",
                aspect_ratio="1:1",
                cost=1,
            ),
            rules=rules,
        )
        await store.finish_job(job.id, delivered=n != 5, result_message_id=1000 + n, error_message="it broke")

    history = await fake.send_slash_command("history", user=fake.member_user)
    first = await answer(fake, history)
    embed = first["embeds"][0]
    assert [f["value"].split("\n")[0] for f in embed["fields"]] == [f"job {n}" for n in (5, 4, 3, 2, 1)]
    assert "❌ failed · 0 credits" in embed["fields"][0]["value"]
    assert "it broke" in embed["fields"][0]["value"]
    assert "[result](https://discord.com/channels/@me/42/1004)" in embed["fields"][1]["value"]
    buttons = {b["label"]: b for row in first["components"] for b in row["components"]}
    assert buttons["Prev"].get("disabled") is True
    assert not buttons["Next"].get("disabled")

    message = fake.message(history.original_message_id or "")
    assert message is not None
    stranger = await fake.send_component_click(buttons["Next"]["custom_id"], message=message, user=fake.owner_user)
    refused = await fake.wait_for_request("POST", stranger.callback_path)
    assert "someone else's history" in refused.json["data"]["content"]

    click = await fake.send_component_click(buttons["Next"]["custom_id"], message=message, user=fake.member_user)
    assert (await fake.wait_for_request("POST", click.callback_path)).json["type"] == 6
    page2 = await fake.wait_for_request("PATCH", rf"{click.webhook_path}/messages/@original")
    entries = page2.json["embeds"][0]["fields"]
    assert [e["value"].split("\n")[0] for e in entries] == ["job 0", "the very first image"]
    link = f"https://discord.com/channels/{fake.guild_id}/{fake.channel_id}/{inter.original_message_id}"
    assert f"[result]({link})" in entries[1]["value"]
    assert page2.json["embeds"][0]["footer"]["text"] == "Page 2"
    buttons = {b["label"]: b for row in page2.json["components"] for b in row["components"]}
    assert not buttons["Prev"].get("disabled")
    assert buttons["Next"].get("disabled") is True


# -- every failure refunds ---------------------------------------------------------------------------------


async def test_failed_task_and_failed_download_are_refunded(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    sim.next_outcomes.append(Outcome.fail(50001, "Generation failed upstream."))
    failed = await imagine(fake, "doomed task")
    text = (await final_edit(fake, failed, files=False)).json["content"]
    assert "could not make this image" in text
    assert "1 credit was refunded" in text
    sim.inject("download", Fault.error(404))
    lost = await imagine(fake, "lost output")
    text = (await final_edit(fake, lost, files=False)).json["content"]
    assert "could not be downloaded" in text
    assert "refunded" in text
    assert await balance_of(bot, fake.member_user) == 50
    ledger = await bot.services.store.ledger(int(fake.member_user["id"]))
    assert [e.reason for e in ledger] == ["allowance", "reserve", "refund", "reserve", "refund"]


async def test_402_refunds_pauses_new_jobs_and_alerts_the_owner_once(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    owner = fake.owner_user
    bot = await start_bot(make_settings(discord={"owner_ids": [int(owner["id"])]}))
    sim.inject("submit", Fault.error(402, 40201, "Insufficient credits"))
    first = await imagine(fake, "a cat")
    assert "out of credits" in (await final_edit(fake, first, files=False)).json["content"]
    dm = fake.dm_channel(owner)
    alert = await fake.wait_for_request("POST", rf"/channels/{dm['id']}/messages")
    assert "402" in alert.json["content"]
    assert "paused until <t:" in alert.json["content"]

    second = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "a dog"}], user=fake.make_user("b"))
    followup = await fake.wait_for_request("POST", second.webhook_path)
    assert followup.json["flags"] & EPHEMERAL
    assert "run out of credits" in followup.json["content"]
    assert "Nothing was charged" in followup.json["content"]
    assert sim.submit_count == 1  # the paused job never reached reAPI
    assert await balance_of(bot, fake.member_user) == 50
    assert len(fake.requests_matching("POST", rf"/channels/{dm['id']}/messages")) == 1
    await settled(bot)
    states = [h.state for h in await bot.services.store.history(int(fake.member_user["id"]), limit=5)]
    assert states == [JobState.FAILED]


async def test_spend_cap_refuses_new_jobs_and_tells_the_owners_once_in_the_log_channel(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    log_channel = fake.add_text_channel("bot-log")
    settings = make_settings(
        credits={"daily_spend_cap": 45},  # two images at 20 reAPI credits each
        discord={"log_channel_id": int(log_channel["id"])},
    )
    bot = await start_bot(settings)
    users = [fake.member_user, fake.make_user("second"), fake.make_user("third"), fake.make_user("fourth")]
    for user in users[:2]:
        inter = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "ok"}], user=user)
        await final_edit(fake, inter, files=True)
    for user in users[2:]:
        inter = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "one more"}], user=user)
        refused = await fake.wait_for_request("POST", inter.webhook_path)
        assert "today's image budget" in refused.json["content"]
        assert "Nothing was charged" in refused.json["content"]
    alerts = await fake.wait_for_request("POST", rf"/channels/{log_channel['id']}/messages")
    assert "daily reAPI spend cap (45 reAPI credits; 40 already counted)" in alerts.json["content"]
    assert len(fake.requests_matching("POST", rf"/channels/{log_channel['id']}/messages")) == 1
    assert sim.submit_count == 2
    assert await bot.services.store.ledger(int(users[3]["id"])) == []  # refused before anything was reserved


async def test_jobs_queued_when_reapi_answers_402_are_refunded_without_being_sent(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(make_settings(jobs={"max_concurrent": 1}))
    sim.next_outcomes.append(Outcome.complete(delay=0.5))
    users = [fake.member_user, fake.make_user("b"), fake.make_user("c")]
    first = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "first"}], user=users[0])
    for _ in range(500):
        if sim.submit_count == 1:
            break
        await asyncio.sleep(0.01)
    sim.inject("submit", Fault.error(402, 40201, "Insufficient credits"))
    queued = []
    for name, user in (("second", users[1]), ("third", users[2])):
        inter = await fake.send_slash_command("imagine", [{"name": "prompt", "value": name}], user=user)
        # Handlers run concurrently: wait until this one is in the queue so the order is deterministic.
        await fake.wait_for_request(
            "PATCH",
            rf"/webhooks/\d+/{inter.token}/messages/\d+",
            predicate=lambda r: isinstance(r.json, dict) and "Queued" in str(r.json.get("content")),
        )
        queued.append(inter)
    await final_edit(fake, first, files=True)
    assert "out of credits" in (await final_edit(fake, queued[0], files=False)).json["content"]
    text = (await final_edit(fake, queued[1], files=False)).json["content"]
    assert "ran out of credits before this job was sent" in text
    assert "1 credit was refunded" in text
    assert sim.submit_count == 2  # the third job never reached reAPI
    for user in users[1:]:
        assert await balance_of(bot, user) == 50
