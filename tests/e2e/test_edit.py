"""Editing end to end: /edit, reply-to-edit, the "Edit image" menu and modal, and the result buttons."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from bot.store import JobKind
from tests.e2e.conftest import stop_bot
from tests.e2e.test_imagine import final_edit, imagine

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction, RecordedRequest

StartBot = Callable[..., Awaitable["ImagineBot"]]
JSON = dict[str, Any]


def png(colour: str = "red", size: tuple[int, int] = (32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def edit_settings(make_settings: Callable[..., Settings]) -> Settings:
    # The fake Discord serves attachments from 127.0.0.1, so the bot must be allowed to probe loopback.
    return make_settings(images={"allow_private_urls": True})


async def ephemeral_error(fake: FakeDiscord, inter: FakeInteraction) -> str:
    """The text of the ephemeral error an interaction got (direct answer or follow-up)."""
    request = await fake.wait_for_request(
        "POST",
        rf"(/interactions/{inter.id}/{inter.token}/callback|/webhooks/\d+/{inter.token})",
        predicate=lambda r: _flags(r) & 64 != 0,
    )
    body = request.json.get("data", request.json)
    return str(body["content"])


def _flags(request: RecordedRequest) -> int:
    body = request.json or {}
    return int(body.get("data", body).get("flags") or 0) if isinstance(body, dict) else 0


async def delivered_result(fake: FakeDiscord, inter: FakeInteraction) -> JSON:
    """Wait for a job's image and return the stored result message."""
    await final_edit(fake, inter, files=True)
    message = fake.message(inter.original_message_id or "")
    assert message is not None
    return message


def button_id(message: JSON, action: str) -> str:
    for row in message["components"]:
        for child in row["components"]:
            if child.get("custom_id", "").startswith(f"imagine:{action}:"):
                return str(child["custom_id"])
    raise AssertionError(f"no {action} button on {message['id']}")


async def test_edit_with_attachments_and_urls_submits_them_in_order(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, edit_settings: Settings
) -> None:
    bot = await start_bot(edit_settings)
    first = fake.add_attachment("cat.png", png("red"), "image/png")
    second = fake.add_attachment("sofa.webp", _webp(), "image/webp")
    link = fake.add_attachment("hat.png", png("blue"), "image/png")["url"]
    inter = await fake.send_slash_command(
        "edit",
        [
            {"name": "prompt", "value": "put the cat on the sofa"},
            {"name": "image", "value": first},
            {"name": "image2", "value": second},
            {"name": "urls", "value": f"  {link}  "},
            {"name": "aspect_ratio", "value": "1:1"},
        ],
        user=fake.member_user,
    )
    final = await final_edit(fake, inter, files=True)
    assert sim.submissions[0]["body"]["image_urls"] == [first["url"], second["url"], link]
    assert sim.submissions[0]["body"]["aspect_ratio"] == "1:1"
    sources = final.json["embeds"][0]["fields"][0]
    assert sources["name"] == "Sources"
    assert first["url"] in sources["value"]
    assert link in sources["value"]
    (entry,) = await bot.services.store.history(int(fake.member_user["id"]), limit=5)
    job = await bot.services.store.get_job(entry.job_id)
    assert job is not None
    assert job.kind is JobKind.EDIT
    assert job.sources == (first["url"], second["url"], link)


async def test_edit_with_only_urls_works(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, edit_settings: Settings
) -> None:
    await start_bot(edit_settings)
    link = fake.add_attachment("a.jpg", _jpeg(), "image/jpeg")["url"]
    inter = await fake.send_slash_command(
        "edit", [{"name": "prompt", "value": "make it pop"}, {"name": "urls", "value": link}], user=fake.member_user
    )
    await final_edit(fake, inter, files=True)
    assert sim.submissions[0]["body"]["image_urls"] == [link]


async def test_edit_with_eleven_images_is_refused_before_anything_happens(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, edit_settings: Settings
) -> None:
    bot = await start_bot(edit_settings)
    options: list[dict[str, object]] = [{"name": "prompt", "value": "combine all"}]
    for n in range(1, 11):
        options.append({"name": "image" if n == 1 else f"image{n}", "value": fake.add_attachment(f"{n}.png", png())})
    options.append({"name": "urls", "value": fake.add_attachment("11.png", png())["url"]})
    inter = await fake.send_slash_command("edit", options, user=fake.member_user)
    assert "You gave 11 images; I can combine at most 10" in await ephemeral_error(fake, inter)
    assert sim.submit_count == 0
    assert await bot.services.store.ledger() == []


@pytest.mark.parametrize(
    ("filename", "data", "declared", "problem"),
    [
        ("anim.gif", b"GIF89a" + bytes(64), "image/gif", "`anim.gif` is `image/gif`; only JPEG, PNG or WebP"),
        ("fake.png", b"<html>not an image</html>", "image/png", "`fake.png` is not a JPEG, PNG or WebP image"),
    ],
)
async def test_edit_with_a_bad_type_names_the_problem_and_charges_nothing(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    edit_settings: Settings,
    filename: str,
    data: bytes,
    declared: str,
    problem: str,
) -> None:
    bot = await start_bot(edit_settings)
    attachment = fake.add_attachment(filename, data, declared)
    inter = await fake.send_slash_command(
        "edit", [{"name": "prompt", "value": "fix it"}, {"name": "image", "value": attachment}], user=fake.member_user
    )
    assert problem in await ephemeral_error(fake, inter)
    assert sim.submit_count == 0
    assert await bot.services.store.ledger() == []
    assert await bot.services.store.active_jobs() == []


async def test_edit_with_a_private_ip_url_is_refused(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    await start_bot(make_settings(images={"allow_private_urls": False}))
    inter = await fake.send_slash_command(
        "edit",
        [{"name": "prompt", "value": "x"}, {"name": "urls", "value": "http://192.168.1.20/cam.jpg"}],
        user=fake.member_user,
    )
    assert "private or reserved address" in await ephemeral_error(fake, inter)
    assert sim.submit_count == 0


async def test_reply_to_the_bots_own_result_edits_it(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, edit_settings: Settings
) -> None:
    bot = await start_bot(edit_settings)
    result = await delivered_result(fake, await imagine(fake, "a quiet street"))
    request = await fake.send_message(
        f"<@{fake.bot_user['id']}> make it night", author=fake.member_user, mentions=[fake.bot_user], reply_to=result
    )
    placeholder = await fake.wait_for_request(
        "POST", rf"/channels/{fake.channel_id}/messages", predicate=lambda r: "Checking" in str(r.json)
    )
    assert str(placeholder.json["message_reference"]["message_id"]) == request["id"]  # answers the member
    assert placeholder.json["allowed_mentions"]["replied_user"] is False
    final = await fake.wait_for_request(
        "PATCH", rf"/channels/{fake.channel_id}/messages/\d+", predicate=lambda r: bool(r.files), timeout=10
    )
    assert sim.submissions[1]["body"]["image_urls"] == [result["attachments"][0]["url"]]
    assert sim.submissions[1]["body"]["prompt"] == "make it night"
    assert "message 1" in final.json["embeds"][0]["fields"][0]["value"]
    entries = await bot.services.store.history(int(fake.member_user["id"]), limit=5)
    edit_job = await bot.services.store.get_job(entries[0].job_id)
    assert edit_job is not None
    assert edit_job.kind is JobKind.EDIT
    assert edit_job.parent_job_id == entries[1].job_id  # lineage: the result it came from
    assert edit_job.sources[0].endswith(f"/{fake.channel_id}/{result['id']}")


async def test_reply_to_a_member_upload_needs_the_intent_or_gets_a_hint(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    await start_bot(make_settings(images={"allow_private_urls": True}))
    upload = await fake.send_message(
        "my cat", author=fake.owner_user, attachments=[fake.add_attachment("c.png", png())]
    )
    await fake.send_message(
        f"<@{fake.bot_user['id']}> add a hat", author=fake.member_user, mentions=[fake.bot_user], reply_to=upload
    )
    hint = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages")
    assert "Edit image" in hint.json["content"]
    assert "Message Content" in hint.json["content"]
    assert sim.submit_count == 0


async def test_reply_to_a_member_upload_with_the_intent_edits_it(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(images={"allow_private_urls": True}, discord={"message_content_intent": True})
    await start_bot(settings)
    upload = await fake.send_message(
        "my cat", author=fake.owner_user, attachments=[fake.add_attachment("c.png", png())]
    )
    await fake.send_message(
        f"<@{fake.bot_user['id']}> add a hat", author=fake.member_user, mentions=[fake.bot_user], reply_to=upload
    )
    await fake.wait_for_request(
        "PATCH", rf"/channels/{fake.channel_id}/messages/\d+", predicate=lambda r: bool(r.files), timeout=10
    )
    assert sim.submissions[0]["body"]["image_urls"] == [upload["attachments"][0]["url"]]


async def test_reply_without_an_instruction_or_image_gets_a_helpful_answer(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, edit_settings: Settings
) -> None:
    await start_bot(edit_settings)
    result = await delivered_result(fake, await imagine(fake, "a boat"))
    mention = f"<@{fake.bot_user['id']}>"
    await fake.send_message(mention, author=fake.member_user, mentions=[fake.bot_user], reply_to=result)
    answer = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages")
    assert "Tell me what to change" in answer.json["content"]
    text = await fake.send_message("just text", author=fake.member_user, mentions=[fake.bot_user])
    seen = len(fake.requests)
    await fake.send_message(f"{mention} redo", author=fake.member_user, mentions=[fake.bot_user], reply_to=text)
    answer = await fake.wait_for_request("POST", rf"/channels/{fake.channel_id}/messages", after=seen)
    assert "has no image" in answer.json["content"]
    assert sim.submit_count == 1


async def test_edit_image_menu_opens_a_modal_and_edits(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, edit_settings: Settings
) -> None:
    await start_bot(edit_settings)
    upload = await fake.send_message(
        "look", author=fake.owner_user, attachments=[fake.add_attachment("dog.png", png("green"))]
    )
    menu = await fake.send_message_command("Edit image", upload, user=fake.member_user)
    await fake.wait_for_request("POST", menu.callback_path)
    assert menu.response_type == 9
    assert menu.modal is not None
    submit = await fake.send_modal_submit(
        menu.modal["custom_id"], {"instruction": "  give it sunglasses ", "aspect_ratio": "16:9"}
    )
    await final_edit(fake, submit, files=True)
    body = sim.submissions[0]["body"]
    assert body["prompt"] == "give it sunglasses"
    assert body["aspect_ratio"] == "16:9"
    assert body["image_urls"] == [upload["attachments"][0]["url"]]


async def test_edit_image_menu_on_a_message_without_image_is_refused(
    fake: FakeDiscord, start_bot: StartBot, edit_settings: Settings
) -> None:
    await start_bot(edit_settings)
    text = await fake.send_message("hello", author=fake.owner_user, mentions=[fake.bot_user])
    menu = await fake.send_message_command("Edit image", text, user=fake.member_user)
    assert "no image I can edit" in await ephemeral_error(fake, menu)


async def test_modal_with_an_unknown_aspect_ratio_is_refused(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, edit_settings: Settings
) -> None:
    await start_bot(edit_settings)
    upload = await fake.send_message("x", author=fake.owner_user, attachments=[fake.add_attachment("d.png", png())])
    menu = await fake.send_message_command("Edit image", upload, user=fake.member_user)
    await fake.wait_for_request("POST", menu.callback_path)
    assert menu.modal is not None
    submit = await fake.send_modal_submit(menu.modal["custom_id"], {"instruction": "x", "aspect_ratio": "7:3"})
    assert "`7:3` is not an aspect ratio" in await ephemeral_error(fake, submit)
    assert sim.submit_count == 0


async def test_result_buttons_reroll_edit_reference_and_delete(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, edit_settings: Settings
) -> None:
    bot = await start_bot(edit_settings)
    first = await imagine(fake, "a red kite", "4:3")
    result = await delivered_result(fake, first)
    store = bot.services.store
    (origin,) = await store.history(int(fake.member_user["id"]), limit=5)

    reroll = await fake.send_component_click(button_id(result, "reroll"), message=result, user=fake.member_user)
    await final_edit(fake, reroll, files=True)
    assert sim.submissions[1]["body"] == sim.submissions[0]["body"]  # same prompt and options, new task
    assert sim.submissions[1]["task_id"] != sim.submissions[0]["task_id"]

    for action, instruction in (("edit", "add clouds"), ("ref", "a kite festival in this style")):
        click = await fake.send_component_click(button_id(result, action), message=result, user=fake.member_user)
        await fake.wait_for_request("POST", click.callback_path)
        assert click.modal is not None
        submit = await fake.send_modal_submit(click.modal["custom_id"], {"instruction": instruction})
        await final_edit(fake, submit, files=True)
        body = sim.submissions[-1]["body"]
        assert body["prompt"] == instruction
        assert body["image_urls"] == [result["attachments"][0]["url"]]
        assert body["aspect_ratio"] == "4:3"  # prefilled from the parent job

    children = await store.history(int(fake.member_user["id"]), limit=10)
    assert len(children) == 4
    for entry in children[:3]:
        job = await store.get_job(entry.job_id)
        assert job is not None
        assert job.parent_job_id == origin.job_id

    refused = await fake.send_component_click(button_id(result, "delete"), message=result, user=fake.owner_user)
    refused_member = fake.make_user(username="stranger")
    fake.add_member(refused_member)
    stranger = await fake.send_component_click(button_id(result, "delete"), message=result, user=refused_member)
    assert "Only the person who asked" in await ephemeral_error(fake, stranger)
    # The owner (Administrator) may delete anybody's result; the requester may delete their own.
    await fake.wait_for_request("DELETE", rf"/webhooks/\d+/{refused.token}/messages/@original")
    assert fake.message(result["id"]) is None


async def test_buttons_keep_working_after_a_restart(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, edit_settings: Settings
) -> None:
    first_bot = await start_bot(edit_settings)
    result = await delivered_result(fake, await imagine(fake, "a windmill"))
    await stop_bot(first_bot)
    await start_bot(edit_settings)
    reroll = await fake.send_component_click(button_id(result, "reroll"), message=result, user=fake.member_user)
    await final_edit(fake, reroll, files=True)
    assert sim.submit_count == 2
    delete = await fake.send_component_click(button_id(result, "delete"), message=result, user=fake.member_user)
    await fake.wait_for_request("DELETE", rf"/webhooks/\d+/{delete.token}/messages/@original")


async def test_button_of_a_job_that_no_longer_exists_answers_clearly(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, edit_settings: Settings
) -> None:
    bot = await start_bot(edit_settings)
    result = await delivered_result(fake, await imagine(fake, "a tram"))
    job_id = button_id(result, "reroll").rsplit(":", 1)[1]
    assert await bot.services.store.get_job(job_id) is not None
    button = {"type": 2, "style": 2, "label": "Reroll", "custom_id": "imagine:reroll:0123456789ab"}
    ghost = await fake.send_message("", author=fake.bot_user, components=[{"type": 1, "components": [button]}])
    click = await fake.send_component_click(button["custom_id"], message=ghost, user=fake.member_user)
    assert "no longer on record" in await ephemeral_error(fake, click)
    assert sim.submit_count == 1


def _webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "yellow").save(out, format="WEBP")
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "purple").save(out, format="JPEG")
    return out.getvalue()
