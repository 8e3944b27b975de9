"""/imagine end to end: real discord.py, the fake Discord and the reAPI simulator on loopback."""

from __future__ import annotations

import asyncio
import inspect
import io
import itertools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from PIL import Image

from bot.reapi.simulator import Fault, Outcome
from bot.store import JobState
from tests.e2e.conftest import settled, webhook_edits

if TYPE_CHECKING:
    import pytest

    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction, RecordedRequest

StartBot = Callable[..., Awaitable["ImagineBot"]]


async def final_edit(fake: FakeDiscord, inter: FakeInteraction, *, files: bool) -> RecordedRequest:
    """The placeholder edit that ends a job: with an upload, or the failure text."""

    def is_final(r: RecordedRequest) -> bool:
        if files:
            return bool(r.files)
        return isinstance(r.json, dict) and str(r.json.get("content", "")).startswith("❌")

    return await fake.wait_for_request(
        "PATCH", rf"/webhooks/\d+/{inter.token}/messages/\d+", predicate=is_final, timeout=10
    )


async def imagine(fake: FakeDiscord, prompt: str, aspect_ratio: str | None = None) -> FakeInteraction:
    options: list[dict[str, object]] = [{"name": "prompt", "value": prompt}]
    if aspect_ratio:
        options.append({"name": "aspect_ratio", "value": aspect_ratio})
    return await fake.send_slash_command("imagine", options, user=fake.member_user)


async def test_imagine_defers_shows_progress_and_delivers_the_png(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    # A submit that lasts (a quick one's "Submitting" line is never sent: "Generating" replaces it first), and a
    # task that outlasts it, so each stage has its line.
    sim.inject("submit", Fault.slow(1.3))
    sim.next_outcomes.append(Outcome.complete(delay=2.5))
    inter = await imagine(fake, "  a red fox in the snow @everyone  ", "16:9")

    callback = await fake.wait_for_request("POST", inter.callback_path)
    assert callback.json == {"type": 5}  # deferred "thinking", public
    assert callback.query.get("with_response") in ("1", "true")

    final = await final_edit(fake, inter, files=True)
    assert final.path == f"/webhooks/{fake.application_id}/{inter.token}/messages/{inter.original_message_id}"
    (upload,) = final.files
    with Image.open(io.BytesIO(upload.data)) as image:
        assert image.format == "PNG"
        assert image.size == (256, 144)
    embed = final.json["embeds"][0]
    assert embed["image"]["url"] == f"attachment://{upload.filename}"
    assert embed["description"] == "a red fox in the snow @everyone"
    assert final.json["allowed_mentions"] == {"parse": []}
    assert final.json["content"] is None  # the progress line is cleared

    # Progress went submitted → generating before the upload, all in the same placeholder.
    progress = [r.json["content"] for r in webhook_edits(fake, inter.token) if r.index < final.index]
    assert any("Submitting" in text for text in progress)
    assert any("Generating" in text for text in progress)

    # reAPI got exactly one submit with the trimmed prompt.
    assert sim.submit_count == 1
    submitted = sim.submissions[0]
    assert submitted["body"] == {
        "model": "nano-banana-2-lite",
        "prompt": "a red fox in the snow @everyone",
        "aspect_ratio": "16:9",
    }

    store = bot.services.store
    (entry,) = await store.history(int(fake.member_user["id"]), limit=10)
    job = await store.get_job(entry.job_id)
    assert job is not None
    assert job.state is JobState.DELIVERED
    assert entry.state is JobState.DELIVERED
    assert job.task_id == submitted["task_id"]
    assert job.prompt == "a red fox in the snow @everyone"
    assert job.aspect_ratio == "16:9"
    assert job.user_id == int(fake.member_user["id"])
    assert job.guild_id == int(fake.guild_id)
    assert job.channel_id == int(fake.channel_id)
    assert job.placeholder_message_id == int(inter.original_message_id or 0)
    assert job.result_message_id == job.placeholder_message_id
    assert job.submitted_at is not None
    assert job.completed_at is not None
    assert job.finished_at is not None
    reasons = [(e.reason, e.delta) for e in await store.ledger(job.user_id)]
    assert reasons == [("allowance", 50), ("reserve", -1), ("capture", 0)]


async def test_progress_edits_are_coalesced(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    sim.inject("submit", Fault.slow(1.2))  # long enough for "Submitting" to be shown before "Generating"
    sim.next_outcomes.append(Outcome.complete(delay=2.4))
    await start_bot(make_settings(jobs={"progress_interval": 0.4, "poll_interval": 0.02, "max_poll_interval": 0.02}))
    inter = await imagine(fake, "slow lighthouse")
    final = await final_edit(fake, inter, files=True)
    progress = [r for r in webhook_edits(fake, inter.token) if r.index < final.index]
    assert sim.poll_count >= 20  # many polls ...
    assert 2 <= len(progress) <= 6  # ... but only a few edits
    gaps = [b.time - a.time for a, b in itertools.pairwise(progress)]
    assert all(gap >= 0.35 for gap in gaps), gaps


async def test_a_long_task_edits_its_placeholder_only_when_the_stage_changes(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    sim.next_outcomes.append(Outcome.complete(delay=1.5))
    await start_bot(make_settings(jobs={"progress_interval": 0.05, "poll_interval": 0.02, "max_poll_interval": 0.02}))
    inter = await imagine(fake, "a very slow lighthouse")
    final = await final_edit(fake, inter, files=True)
    progress = [r.json["content"] for r in webhook_edits(fake, inter.token) if r.index < final.index]
    assert sim.poll_count >= 30  # polled all along ...
    generating = [text for text in progress if "Generating" in text]
    assert len(generating) == 1, progress  # ... but the running line counts by itself: one edit, not one a tick
    assert "<t:" in generating[0]
    assert len(progress) <= 4  # submitting, generating, uploading (at most one more if coalescing splits)


async def test_content_policy_failure_is_explained_and_refunded(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    sim.next_outcomes.append(Outcome.fail(80006, "blocked by policy"))
    bot = await start_bot()
    inter = await imagine(fake, "something forbidden")
    final = await final_edit(fake, inter, files=False)
    assert "content filter" in final.json["content"]
    assert "1 credit was refunded" in final.json["content"]
    assert final.json["embeds"] == []
    assert final.json.get("attachments") == []
    await settled(bot)
    user_id = int(fake.member_user["id"])
    (entry,) = await bot.services.store.history(user_id, limit=5)
    assert entry.state is JobState.FAILED
    assert entry.cost == 0
    assert [e.reason for e in await bot.services.store.ledger(user_id)] == ["allowance", "reserve", "refund"]
    assert sum(e.delta for e in await bot.services.store.ledger(user_id)) == 50


async def test_reapi_402_fails_the_job_refunds_and_is_not_retried(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    sim.inject("submit", Fault.error(402, 40201, "Insufficient credits"))
    bot = await start_bot()
    inter = await imagine(fake, "a cat")
    final = await final_edit(fake, inter, files=False)
    assert "out of credits" in final.json["content"]
    assert "refunded" in final.json["content"]
    await settled(bot)
    assert sim.submit_count == 1  # one POST arrived and was not re-sent ...
    assert sim.tasks == {}  # ... and the 402 created nothing
    (entry,) = await bot.services.store.history(int(fake.member_user["id"]), limit=5)
    assert entry.state is JobState.FAILED


async def test_submit_outcome_unknown_is_never_reposted(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    sim.inject("submit", Fault.drop_after())
    bot = await start_bot()
    inter = await imagine(fake, "a dog")
    final = await final_edit(fake, inter, files=False)
    assert "not sent again" in final.json["content"]
    await settled(bot)
    assert sim.submit_count == 1  # the bot did not POST again ...
    assert len(sim.tasks) == 1  # ... although reAPI had created (and charged) one task
    (entry,) = await bot.services.store.history(int(fake.member_user["id"]), limit=5)
    assert entry.state is JobState.FAILED


async def test_imagine_acknowledges_before_any_database_call(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 12: nothing but in-memory work before the defer, so a busy database (a burst of /imagine, a slow
    # PostgreSQL) never delays the ack Discord wants within 3 s. Every store call waits at a gate here.
    bot = await start_bot()
    store = bot.services.store
    gate = asyncio.Event()
    waiting: list[str] = []

    def gated(name: str, method: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
        async def call(*args: object, **kwargs: object) -> object:
            waiting.append(name)
            await gate.wait()
            return await method(*args, **kwargs)

        return call

    for name in dir(store):
        method = getattr(store, name)
        if not name.startswith("_") and inspect.iscoroutinefunction(method):
            monkeypatch.setattr(store, name, gated(name, method))
    inter = await imagine(fake, "a fox")
    callback = await fake.wait_for_request("POST", inter.callback_path)
    assert callback.json == {"type": 5}
    gate.set()
    await final_edit(fake, inter, files=True)
    assert "create_job" in waiting  # the job itself was stored after the ack, through the gate


async def test_blank_prompt_gets_an_ephemeral_error_and_costs_nothing(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    bot = await start_bot()
    inter = await imagine(fake, "    ")
    callback = await fake.wait_for_request("POST", inter.callback_path)
    assert callback.json["type"] == 4
    assert callback.json["data"]["flags"] & 64  # ephemeral
    assert "prompt is empty" in callback.json["data"]["content"]
    assert sim.submit_count == 0
    assert await bot.services.store.ledger() == []


async def test_member_without_credits_is_told_when_they_refill(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(make_settings(credits={"allowance": 0}))
    inter = await imagine(fake, "a horse")
    followup = await fake.wait_for_request("POST", rf"/webhooks/\d+/{inter.token}")
    assert followup.json["flags"] & 64
    assert "You have 0 credits and an image costs 1 credit" in followup.json["content"]
    assert "<t:" in followup.json["content"]  # the refill time, shown in the member's timezone
    await fake.wait_for_request("DELETE", rf"/webhooks/\d+/{inter.token}/messages/@original")
    assert sim.submit_count == 0
    assert await bot.services.store.active_jobs() == []
