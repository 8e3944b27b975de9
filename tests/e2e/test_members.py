"""/preferences and /jobs end to end: saved, kept across a restart, applied to /imagine and to delivery."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from PIL import Image

from bot.store import JobKind, JobState, NewJob
from bot.surface.charts import CHART_SIZE, TILE
from tests.e2e.conftest import settled, stop_bot
from tests.e2e.test_credits import answer, balance_of, fields
from tests.e2e.test_imagine import final_edit, imagine

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

StartBot = Callable[..., Awaitable["ImagineBot"]]
JSON = dict[str, Any]
EPHEMERAL = 64
GREY_TILE = (90, 90, 90)  # a contact sheet's tile for a result it could not fetch


async def set_preferences(fake: FakeDiscord, user: JSON | None = None, **options: object) -> JSON:
    inter = await fake.send_slash_command(
        "preferences", [{"name": k, "value": v} for k, v in options.items()], user=user or fake.member_user
    )
    return await answer(fake, inter)


async def wait_for(check: Callable[[], Any], *, tries: int = 500) -> Any:
    """Poll ``check`` until it returns something truthy (bounded: ``tries`` × 20 ms)."""
    for _ in range(tries):
        found = check()
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


# -- /preferences ---------------------------------------------------------------------------------------------


async def test_preferences_are_saved_survive_a_restart_and_set_the_imagine_aspect_ratio(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    bot = await start_bot(settings)
    saved = await set_preferences(fake, aspect_ratio="16:9", notify=False)
    assert saved["embeds"][0]["title"] == "Your preferences"
    assert fields(saved)["Default aspect ratio"] == "16:9"
    await stop_bot(bot)

    await start_bot(settings)
    shown = await set_preferences(fake)  # no options: shows them, from the database of the first run
    assert fields(shown)["Default aspect ratio"] == "16:9"
    assert fields(shown)["Model"] == "`nano-banana-2-lite`"

    inter = await imagine(fake, "a lighthouse")  # no aspect_ratio option
    await final_edit(fake, inter, files=True)
    assert sim.submissions[-1]["body"]["aspect_ratio"] == "16:9"
    given = await imagine(fake, "a tower", "9:16")  # an explicit option still wins
    await final_edit(fake, given, files=True)
    assert sim.submissions[-1]["body"]["aspect_ratio"] == "9:16"


async def test_a_preference_the_bot_does_not_offer_gets_a_friendly_error_and_nothing_is_saved(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    for option, value in (("model", "gpt-image-9"), ("private", "loud"), ("aspect_ratio", "7:3"), ("notify", "yes")):
        refused = await set_preferences(fake, **{option: value})
        assert "Nothing was saved" in refused["content"] or "not" in refused["content"], refused
        assert "embeds" not in refused or not refused["embeds"]
    stored = await bot.services.store.preferences(int(fake.member_user["id"]))
    assert stored.aspect_ratio is None
    assert stored.private == "off"
    assert stored.notify is False


async def test_notify_mentions_only_the_member_in_a_new_message_when_the_image_is_ready(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    await start_bot()
    await set_preferences(fake, notify=True)
    inter = await imagine(fake, "a fox @everyone")
    final = await final_edit(fake, inter, files=True)
    ping = await fake.wait_for_request(
        "POST", rf"/webhooks/\d+/{inter.token}", predicate=lambda r: "<@" in str((r.json or {}).get("content"))
    )
    user_id = fake.member_user["id"]
    assert ping.json["content"].startswith(f"<@{user_id}> ")
    assert f"/{inter.original_message_id}" in ping.json["content"]  # links to the result
    mentions = ping.json["allowed_mentions"]
    assert mentions["parse"] == []
    assert [str(u) for u in mentions["users"]] == [user_id]  # that member only: no roles, no @everyone
    assert final.json["allowed_mentions"] == {"parse": []}  # the result itself still pings nobody


async def test_private_by_dm_sends_the_image_by_dm_and_says_so_in_the_channel(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(make_settings(images={"allow_private_urls": True}))  # the contact sheet's fetch
    await set_preferences(fake, private="dm")
    inter = await imagine(fake, "a secret garden")
    dm = fake.dm_channel(fake.member_user)
    posted = await fake.wait_for_request("POST", rf"/channels/{dm['id']}/messages", predicate=lambda r: bool(r.files))
    assert posted.json["content"].startswith("🔒")
    await settled(bot)
    placeholder = fake.original_message(inter)
    assert placeholder is not None
    assert placeholder["content"].startswith("🔒")
    assert not placeholder["attachments"]
    (job,) = [j for j in await bot.services.store.history(int(fake.member_user["id"]), limit=5)]
    assert job.state is JobState.DELIVERED
    assert job.result_message_id == int(posted.response["id"])
    # /history links to the DM and draws the image from it (the channel has no such message).
    page, sheet = await _ephemeral_upload(fake, await fake.send_slash_command("history", user=fake.member_user))
    link = f"[result](https://discord.com/channels/@me/{dm['id']}/{posted.response['id']})"
    assert link in page["embeds"][0]["fields"][0]["value"]
    assert sheet.getpixel((TILE // 2, TILE // 2)) != GREY_TILE


async def test_private_by_dm_with_closed_dms_shows_the_image_in_the_channel_with_a_note(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    await set_preferences(fake, private="dm")
    fake.refuse_dms(fake.member_user)
    inter = await imagine(fake, "a garden")
    final = await final_edit(fake, inter, files=True)  # never lost: the placeholder holds it
    assert "asked for private results" in final.json["content"]
    assert final.json["allowed_mentions"] == {"parse": []}
    await settled(bot)
    assert (await balance_of(bot, fake.member_user)) == 49  # delivered, so charged once


async def test_private_ephemeral_shows_the_image_only_to_the_member(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    await set_preferences(fake, private="ephemeral")
    inter = await imagine(fake, "a quiet lake")
    followup = await fake.wait_for_request("POST", rf"/webhooks/\d+/{inter.token}", predicate=lambda r: bool(r.files))
    assert followup.json["flags"] & EPHEMERAL
    await settled(bot)
    (message,) = fake.followup_messages(inter)
    assert message["flags"] & EPHEMERAL
    assert message["attachments"]
    placeholder = fake.original_message(inter)
    assert placeholder is not None
    assert placeholder["content"].startswith("🔒")
    assert not placeholder["attachments"]
    # Nobody else sees the image: no public message in the channel carries an attachment.
    public = fake.channel_messages(inter.channel_id, include_ephemeral=False)
    assert not any(m["attachments"] for m in public)
    # Nothing can link to an ephemeral message: /history says where it went instead of a dead link.
    page, sheet = await _ephemeral_upload(fake, await fake.send_slash_command("history", user=fake.member_user))
    value = page["embeds"][0]["fields"][0]["value"]
    assert "shown only to you" in value
    assert "[result]" not in value
    assert sheet.getpixel((TILE // 2, TILE // 2)) == GREY_TILE


# -- /jobs ----------------------------------------------------------------------------------------------------


async def _jobs_message(fake: FakeDiscord, user: JSON) -> tuple[FakeInteraction, JSON]:
    inter = await fake.send_slash_command("jobs", user=user)
    await answer(fake, inter)
    message = fake.original_message(inter)
    assert message is not None
    return inter, message


def _buttons(message: JSON) -> list[JSON]:
    return [c for row in message.get("components", []) for c in row["components"]]


async def test_jobs_lists_waiting_and_running_jobs_with_owner_only_cancel_buttons(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    sim.delay = 2.0  # the first job is still generating while the test looks
    bot = await start_bot(make_settings(jobs={"per_user_concurrent": 1}))
    first = await imagine(fake, "first, running")
    await wait_for(lambda: sim.submit_count == 1)
    second = await imagine(fake, "second, waiting")
    store, user_id = bot.services.store, int(fake.member_user["id"])
    jobs = await store.member_jobs(user_id, limit=5)
    for _ in range(200):
        if len(jobs) == 2:
            break
        await asyncio.sleep(0.02)
        jobs = await store.member_jobs(user_id, limit=5)
    running, waiting = jobs
    assert waiting.state is JobState.QUEUED

    _, listing = await _jobs_message(fake, fake.member_user)
    text = listing["embeds"][0]["description"]
    assert "first, running" in text
    assert "second, waiting" in text
    buttons = _buttons(listing)
    assert [b["label"] for b in buttons] == ["Cancel #1", "Cancel #2"]
    waiting_button = next(b for b in buttons if waiting.id in b["custom_id"])
    running_button = next(b for b in buttons if running.id in b["custom_id"])

    # Someone else (even the server owner, a moderator) cannot press the member's button.
    refused = await answer(
        fake, await fake.send_component_click(waiting_button["custom_id"], message=listing, user=fake.owner_user)
    )
    assert "Only the member who asked" in refused["content"]
    assert (await store.get_job(waiting.id)).state is JobState.QUEUED  # type: ignore[union-attr]

    # The running job was already sent to reAPI: it cannot be cancelled or un-charged, and the member is told.
    told = await answer(fake, await fake.send_component_click(running_button["custom_id"], message=listing))
    assert "already sent to reAPI" in told["content"]

    # The waiting one is cancelled through the runner's path: refunded, its placeholder says so.
    done = await answer(fake, await fake.send_component_click(waiting_button["custom_id"], message=listing))
    assert done["content"].startswith("Cancelled. 1 credit went back")
    cancelled = await store.get_job(waiting.id)
    assert cancelled is not None
    assert cancelled.state is JobState.FAILED
    await final_edit(fake, first, files=True)
    await settled(bot)
    assert (await balance_of(bot, fake.member_user)) == 49  # one image paid, the cancelled one refunded
    placeholder = fake.original_message(second)
    assert placeholder is not None
    assert "ancel" in placeholder["content"]


async def test_jobs_with_nothing_running_says_so(fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot) -> None:
    await start_bot()
    _, listing = await _jobs_message(fake, fake.member_user)
    assert listing["embeds"][0]["description"] == "You have no images waiting or being made."
    assert _buttons(listing) == []


# -- pictures: /credits and /admin usage charts, the /history contact sheet -------------------------------------


async def _ephemeral_upload(fake: FakeDiscord, inter: FakeInteraction) -> tuple[JSON, Image.Image]:
    """The ephemeral follow-up of a deferred command, and the PNG it attached (opened with Pillow)."""
    sent = await fake.wait_for_request("POST", inter.webhook_path, predicate=lambda r: bool(r.files))
    assert sent.json["flags"] & EPHEMERAL
    (upload,) = sent.files
    image = Image.open(io.BytesIO(upload.data))
    image.load()
    assert sent.json["embeds"][0]["image"]["url"] == f"attachment://{upload.filename}"
    return sent.json, image


async def test_credits_and_admin_usage_attach_png_charts(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    await start_bot(
        make_settings(discord={"owner_ids": [int(fake.owner_user["id"])]}, credits={"daily_spend_cap": 100})
    )
    inter = await imagine(fake, "a fox")
    await final_edit(fake, inter, files=True)

    message, chart = await _ephemeral_upload(fake, await fake.send_slash_command("credits", user=fake.member_user))
    assert message["embeds"][0]["title"] == "Your credits"
    assert chart.format == "PNG"
    assert chart.size == CHART_SIZE
    assert chart.mode == "RGB"

    usage = await fake.send_slash_command("admin usage", user=fake.owner_user)
    message, chart = await _ephemeral_upload(fake, usage)
    assert chart.format == "PNG"
    assert chart.size == CHART_SIZE
    colours = {c for _, c in chart.getcolors(maxcolors=1_000_000) or []}
    assert (87, 242, 135) in colours  # today's delivered image is a bar


async def test_history_attaches_a_contact_sheet_of_the_pages_results(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    # The fake Discord's CDN is on 127.0.0.1: let the bot's guarded fetcher reach it (as tests of /edit do).
    bot = await start_bot(make_settings(images={"allow_private_urls": True}))
    inter = await imagine(fake, "a red fox")
    await final_edit(fake, inter, files=True)
    await settled(bot)
    store, user_id = bot.services.store, int(fake.member_user["id"])
    rules = bot.services.ledger.rules_for(user_id)
    gone = await store.create_job(
        NewJob(
            kind=JobKind.IMAGINE,
            user_id=user_id,
            guild_id=None,
            channel_id=int(inter.channel_id),
            prompt="a result whose message was deleted",
            aspect_ratio="1:1",
            cost=1,
        ),
        rules=rules,
    )
    await store.finish_job(gone.id, delivered=True, result_message_id=123456789)

    _, sheet = await _ephemeral_upload(fake, await fake.send_slash_command("history", user=fake.member_user))
    assert sheet.format == "PNG"
    assert sheet.size == (2 * TILE, TILE)  # two results on the page, newest first
    middle = TILE // 2
    assert sheet.getpixel((middle, middle)) == GREY_TILE  # the deleted one: a grey tile, not an error
    assert sheet.getpixel((TILE + middle, middle)) != GREY_TILE  # the real image
