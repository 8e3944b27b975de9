"""Issue 13 end to end: /edit's model, resolution and count options, model defaults that cannot edit, the options
registered only where the enabled models make them useful, and every enabled model's aspect ratios."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.store import JobState
from tests.e2e.conftest import settled
from tests.e2e.test_credits import balance_of
from tests.e2e.test_edit import ephemeral_error, png
from tests.e2e.test_german import _missing_german
from tests.e2e.test_imagine import final_edit
from tests.e2e.test_members import set_preferences
from tests.e2e.test_settings import opt, settings
from tests.fakes.discord_rules import command_errors

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

    StartBot = Callable[..., Awaitable[ImagineBot]]

JSON = dict[str, Any]
NB2 = "gemini-3.1-flash-image-preview"


def with_models(make_settings: Callable[..., Settings], *models: str, **sections: Any) -> Settings:
    # The fake Discord serves attachments from 127.0.0.1, so the bot must be allowed to probe loopback.
    return make_settings(
        reapi={"models": list(models or ("nano-banana-2-lite", NB2, "z-image"))},
        images={"allow_private_urls": True},
        **sections,
    )


async def edit(fake: FakeDiscord, prompt: str, **options: object) -> FakeInteraction:
    upload = fake.add_attachment("cat.png", png("red"), "image/png")
    given = [{"name": "prompt", "value": prompt}, {"name": "image", "value": upload}]
    given += [{"name": k, "value": v} for k, v in options.items()]
    return await fake.send_slash_command("edit", given, user=fake.member_user)


def image_fetches(fake: FakeDiscord) -> int:
    """How often the bot asked for an attachment (probing a source fetches it)."""
    return sum(1 for r in fake.requests if r.path.startswith("/attachments/"))


def options_of(fake: FakeDiscord, command: str) -> dict[str, JSON]:
    (synced,) = [c for c in fake.commands() if c["name"] == command]
    return {o["name"]: o for o in synced.get("options", [])}


async def test_an_edit_with_nano_banana_2_and_two_images_delivers_both_and_charges_the_option_price(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(with_models(make_settings))
    inter = await edit(fake, "give it a hat", model=NB2, count=2)
    final = await final_edit(fake, inter, files=True)
    await settled(bot)

    assert sim.submit_count == 1
    body = sim.submissions[0]["body"]
    # No ratio given: "auto" where the model takes it, else the model's own default (Nano Banana 2 has no auto).
    assert {k: body[k] for k in ("model", "size", "resolution", "n")} == {
        "model": NB2,
        "size": "1:1",
        "resolution": "1k",
        "n": 2,
    }
    assert len(body["image_urls"]) == 1
    assert len(final.files) == 2
    (entry,) = await bot.services.store.history(int(fake.member_user["id"]), limit=5)
    job = await bot.services.store.get_job(entry.job_id)
    assert job is not None
    assert job.state is JobState.DELIVERED
    assert (job.model, job.image_count) == (NB2, 2)
    # 2 x 31.5 reAPI credits = 63; one default image (20 credits) costs 1 bot credit: ceil(63 / 20) = 4.
    assert (job.reapi_millicredits, job.cost) == (63_000, 4)
    assert await balance_of(bot, fake.member_user) == 50 - 4


async def test_edit_options_the_model_refuses_are_answered_before_any_image_is_fetched(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(with_models(make_settings))
    cases: list[tuple[dict[str, object], str]] = [
        ({"model": "z-image"}, "only makes images from text"),
        ({"model": "nano-banana-2-lite", "count": 3}, "one image at a time"),
        ({"model": NB2, "aspect_ratio": "2:1"}, "cannot make the aspect ratio `2:1`"),
        ({"model": "gpt-image-2"}, "not available here"),
    ]
    for options, wording in cases:
        inter = await edit(fake, "make it night", **options)
        text = await ephemeral_error(fake, inter)
        assert wording in text
        assert "Nothing was charged" in text
    assert image_fetches(fake) == 0
    assert sim.submit_count == 0
    assert await bot.services.store.history(int(fake.member_user["id"]), limit=5) == []
    assert await balance_of(bot, fake.member_user) == 50


async def test_a_text_only_preferred_model_refuses_the_edit_menu_clearly(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(with_models(make_settings))
    await set_preferences(fake, model="z-image")
    upload = await fake.send_message("x", author=fake.owner_user, attachments=[fake.add_attachment("d.png", png())])
    menu = await fake.send_message_command("Edit image", upload, user=fake.member_user)
    await fake.wait_for_request("POST", menu.callback_path)
    assert menu.modal is not None
    fetched = image_fetches(fake)
    submit = await fake.send_modal_submit(menu.modal["custom_id"], {"instruction": "add a hat", "aspect_ratio": ""})
    text = await ephemeral_error(fake, submit)
    assert "Z-Image" in text
    assert "only makes images from text" in text
    assert image_fetches(fake) == fetched
    assert sim.submit_count == 0
    assert await balance_of(bot, fake.member_user) == 50


async def test_a_text_only_server_default_refuses_reply_to_edit_clearly(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    # The intent lets the bot see the images in a member's upload.
    bot = await start_bot(with_models(make_settings, discord={"message_content_intent": True}))
    await settings(fake, "defaults", opt("model", "z-image"), user=fake.owner_user)
    upload = await fake.send_message("x", author=fake.owner_user, attachments=[fake.add_attachment("d.png", png())])
    fetched = image_fetches(fake)
    await fake.send_message(
        f"<@{fake.bot_user['id']}> add a hat", author=fake.member_user, mentions=[fake.bot_user], reply_to=upload
    )
    answer = await fake.wait_for_request(
        "PATCH",
        rf"/channels/{fake.channel_id}/messages/\d+",
        predicate=lambda r: "only makes images from text" in str(r.json),
        timeout=10,
    )
    assert "Nothing was charged" in answer.json["content"]
    assert image_fetches(fake) == fetched
    assert sim.submit_count == 0
    assert await balance_of(bot, fake.member_user) == 50


async def test_a_default_install_registers_no_model_options(
    fake: FakeDiscord, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    await start_bot(make_settings())
    imagine = options_of(fake, "imagine")
    edit = options_of(fake, "edit")
    assert list(imagine) == ["prompt", "aspect_ratio"]
    assert [name for name in edit if not name.startswith("image")] == ["prompt", "urls", "aspect_ratio"]
    # The ratio choices are the default model's, in reAPI's order, as always.
    lite = ["1:1", "1:4", "1:8", "2:3", "3:2", "3:4", "4:1", "4:3", "4:5", "5:4", "8:1", "9:16", "16:9", "21:9"]
    assert [c["value"] for c in imagine["aspect_ratio"]["choices"]] == [*lite, "auto"]
    assert edit["aspect_ratio"]["choices"] == imagine["aspect_ratio"]["choices"]


async def test_two_models_register_the_options_they_make_useful(
    fake: FakeDiscord, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    await start_bot(with_models(make_settings, "nano-banana-2-lite", "gpt-image-2"))
    for command in ("imagine", "edit"):
        options = options_of(fake, command)
        assert "model" in options
        assert [c["value"] for c in options["resolution"]["choices"]] == ["1k", "2k", "4k"]
        assert "count" not in options  # neither model makes several images at once
        ratios = [c["value"] for c in options["aspect_ratio"]["choices"]]
        assert {"2:1", "1:2", "9:21", "1:8", "auto"} <= set(ratios)
        assert len(ratios) == len(set(ratios)) <= 25
    # Every added name, description and worded choice has its German version, within Discord's rules.
    commands = fake.commands()
    assert [m for c in commands if c["name"] in ("imagine", "edit") for m in _missing_german(c, c["name"])] == []
    assert command_errors(commands) is None


async def test_a_count_option_appears_with_a_model_that_makes_several(
    fake: FakeDiscord, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    await start_bot(with_models(make_settings, "nano-banana-2-lite", NB2))
    for command in ("imagine", "edit"):
        options = options_of(fake, command)
        assert options["count"]["max_value"] == 4
        assert [c["value"] for c in options["resolution"]["choices"]] == ["0.5k", "1k", "2k", "4k"]


async def test_gpt_image_2s_own_ratios_can_be_chosen(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(with_models(make_settings, "nano-banana-2-lite", "gpt-image-2"))
    inter = await fake.send_slash_command(
        "imagine",
        [opt("prompt", "a long bridge"), opt("model", "gpt-image-2"), opt("aspect_ratio", "2:1")],
        user=fake.member_user,
    )
    await final_edit(fake, inter, files=True)
    await settled(bot)
    assert sim.submissions[0]["body"]["size"] == "2:1"
    # A model without it names the ones it takes.
    refused = await fake.send_slash_command(
        "imagine", [opt("prompt", "a long bridge"), opt("aspect_ratio", "9:21")], user=fake.member_user
    )
    assert "cannot make the aspect ratio `9:21`" in await ephemeral_error(fake, refused)
    assert sim.submit_count == 1


async def test_a_default_ratio_can_be_one_only_another_enabled_model_takes(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(with_models(make_settings, "nano-banana-2-lite", "gpt-image-2"))
    ratios = [c["value"] for c in options_of(fake, "preferences")["aspect_ratio"]["choices"]]
    assert "2:1" in ratios
    saved = await set_preferences(fake, aspect_ratio="2:1", model="gpt-image-2")
    assert "2:1" in str(saved)  # the saved preferences, shown back
    inter = await fake.send_slash_command("imagine", [opt("prompt", "a long bridge")], user=fake.member_user)
    await final_edit(fake, inter, files=True)
    await settled(bot)
    assert sim.submissions[0]["body"]["model"] == "gpt-image-2"
    assert sim.submissions[0]["body"]["size"] == "2:1"
