"""Issue 13 end to end: /imagine with a model, resolution and count, through real discord.py and the simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store import JobState
from tests.e2e.conftest import settled
from tests.e2e.test_credits import balance_of
from tests.e2e.test_imagine import final_edit

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

    StartBot = Callable[..., Awaitable[ImagineBot]]

NB2 = "gemini-3.1-flash-image-preview"


async def imagine(fake: FakeDiscord, prompt: str, **options: object) -> FakeInteraction:
    given = [{"name": "prompt", "value": prompt}, *({"name": k, "value": v} for k, v in options.items())]
    return await fake.send_slash_command("imagine", given, user=fake.member_user)


def with_models(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(reapi={"models": ["nano-banana-2-lite", NB2, "z-image"]})


async def test_a_four_image_nano_banana_2_job_at_2k_delivers_four_images_and_charges_the_option_price(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(with_models(make_settings))
    inter = await imagine(fake, "a lighthouse at dusk", model=NB2, resolution="2k", count=4, aspect_ratio="16:9")
    final = await final_edit(fake, inter, files=True)
    await settled(bot)

    assert sim.submit_count == 1
    body = sim.submissions[0]["body"]
    assert body == {"model": NB2, "prompt": "a lighthouse at dusk", "size": "16:9", "resolution": "2k", "n": 4}
    # Four images in one message, each shown by its own embed and with its own buttons.
    assert len(final.files) == 4
    names = [f.filename for f in final.files]
    assert len(set(names)) == 4
    assert [e["image"]["url"] for e in final.json["embeds"]] == [f"attachment://{n}" for n in names]
    rows = final.json["components"]
    assert len(rows) == 5
    custom_ids = [c["custom_id"] for row in rows for c in row["components"]]
    for n in range(1, 5):
        assert any(cid.startswith("imagine:edit:") and cid.endswith(f":{n}") for cid in custom_ids)
        assert any(cid.startswith("imagine:ref:") and cid.endswith(f":{n}") for cid in custom_ids)
    # Charged per option: 4 x 47.7 reAPI credits = 190.8; one default image (20 credits) costs 1 bot credit.
    job_id = custom_ids[0].split(":")[2]
    job = await bot.services.store.get_job(job_id)
    assert job is not None
    assert job.state is JobState.DELIVERED
    assert (job.model, job.resolution, job.image_count) == (NB2, "2k", 4)
    assert (job.reapi_millicredits, job.cost) == (190_800, 10)
    assert await balance_of(bot, fake.member_user) == 50 - 10


async def test_options_the_model_refuses_get_a_friendly_answer_and_charge_nothing(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(with_models(make_settings))
    cases = [
        ({"model": "z-image", "count": 2}, "one image at a time"),
        ({"model": "z-image", "resolution": "4k"}, "cannot make the resolution `4k`"),
        ({"model": "gpt-image-2"}, "not available here"),
    ]
    for options, wording in cases:
        inter = await imagine(fake, "a fox", **options)
        reply = await fake.wait_for_request(
            "POST",
            rf"/webhooks/\d+/{inter.token}",
            predicate=lambda r: isinstance(r.json, dict) and "Nothing was charged" in str(r.json.get("content")),
            timeout=10,
        )
        assert wording in reply.json["content"]
        assert reply.json["flags"] & 64  # ephemeral
    assert sim.submit_count == 0
    assert await bot.services.store.history(int(fake.member_user["id"]), limit=5) == []
    assert await balance_of(bot, fake.member_user) == 50
