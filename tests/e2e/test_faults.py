"""The fault matrix: one test per reAPI fault kind, asserting how the job ends (real bot, fake Discord, simulator).

Each test drives one /imagine through the real bot while the simulator misbehaves in one way, then checks the end
state a member and the owner can see: the job's state, the text left in the placeholder, the refund in the ledger,
how many POSTs reached reAPI, and the stored fact whether reAPI charged the owner for it (``Job.charged``).

Two groups of assertions belong to work that lands separately and are kept apart so a failure says which:
``assert_charged`` (the stored ``charged`` fact) and the wording/pause checks marked "contract" below.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from bot.reapi.simulator import Fault, Outcome
from bot.store import JobState
from tests.e2e.conftest import settled

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import Endpoint, ReapiSimulator
    from bot.store import Job
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction, RecordedRequest

StartBot = Callable[..., Awaitable["ImagineBot"]]
EPHEMERAL = 64


@dataclass(frozen=True)
class Ended:
    """How one job ended, as the member, the ledger and reAPI saw it."""

    job: Job
    final: RecordedRequest  # the placeholder edit that ended the job
    text: str  # the placeholder's final text ("" when it carries the image)
    ledger: list[str]  # the member's ledger reasons, oldest first
    balance: int
    posts: int  # submits reAPI received
    uploads: int  # edits or posts that carried an image


async def ended_job(fake: FakeDiscord, bot: ImagineBot, sim: ReapiSimulator, inter: FakeInteraction) -> Ended:
    """Wait for the job's last placeholder edit (image or ❌ text), let it settle, and read its end state."""

    def is_final(r: RecordedRequest) -> bool:
        return bool(r.files) or (isinstance(r.json, dict) and str(r.json.get("content") or "").startswith("❌"))

    final = await fake.wait_for_request(
        "PATCH", rf"/webhooks/\d+/{inter.token}/messages/\d+", predicate=is_final, timeout=15
    )
    await settled(bot)
    store, user_id = bot.services.store, int(inter.user["id"])
    (entry,) = await store.history(user_id, limit=5)
    job = await store.get_job(entry.job_id)
    assert job is not None
    ledger = await store.ledger(user_id)
    return Ended(
        job=job,
        final=final,
        text=str(final.json.get("content") or ""),
        ledger=[e.reason for e in ledger],
        balance=sum(e.delta for e in ledger),
        posts=sim.submit_count,
        uploads=len([r for r in fake.requests if r.files]),
    )


async def run_one(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    settings: Settings | None = None,
    *,
    faults: tuple[tuple[Endpoint, Fault], ...] = (),
    outcome: Outcome | None = None,
) -> Ended:
    """Start the bot, arm the faults (and the task's outcome), run one /imagine and return how it ended."""
    sim.delay = 0.05
    bot = await start_bot(settings)
    for endpoint, fault in faults:
        sim.inject(endpoint, fault)
    if outcome is not None:
        sim.next_outcomes.append(outcome)
    inter = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "a lighthouse"}])
    return await ended_job(fake, bot, sim, inter)


def assert_refunded(ended: Ended, *, posts: int) -> None:
    """Failed, refunded in the ledger (and said so), nothing uploaded, ``posts`` submits at reAPI."""
    assert ended.job.state is JobState.FAILED, ended.job
    assert ended.text.startswith("❌"), ended.text
    assert "1 credit was refunded" in ended.text
    assert ended.ledger == ["allowance", "reserve", "refund"]
    assert ended.balance == 50
    assert ended.uploads == 0
    assert ended.posts == posts


def assert_delivered_once(ended: Ended, *, posts: int) -> None:
    """Delivered with one upload into the placeholder, captured once, ``posts`` submits at reAPI."""
    assert ended.job.state is JobState.DELIVERED, ended.job
    assert ended.final.files, "the final edit carries no image"
    assert ended.uploads == 1
    assert ended.ledger == ["allowance", "reserve", "capture"]
    assert ended.balance == 49
    assert ended.posts == posts


def assert_charged(ended: Ended, expected: bool) -> None:
    """Contract (the store's ``charged`` column): whether reAPI may have charged the owner for this job."""
    assert hasattr(ended.job, "charged"), "jobs do not store the `charged` fact yet"
    assert ended.job.charged is expected


def says(text: str, *patterns: str) -> None:
    """Every regex in ``patterns`` occurs in ``text`` (case-insensitive), with the text in the failure."""
    missing = [p for p in patterns if not re.search(p, text, re.IGNORECASE)]
    assert not missing, f"{missing} not in {text!r}"


# -- submit: reAPI refused it, nothing was created ----------------------------------------------------------------


async def test_submit_400_fails_with_reapis_message_uncharged(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    ended = await run_one(
        fake, sim, start_bot, faults=(("submit", Fault.error(400, 20005, "prompt is far too long.")),)
    )
    assert_refunded(ended, posts=1)
    says(ended.text, "prompt is far too long")
    assert_charged(ended, False)


async def test_submit_402_fails_pauses_new_jobs_and_alerts_the_owner_once(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    owner = fake.owner_user
    settings = make_settings(discord={"owner_ids": [int(owner["id"])]})
    ended = await run_one(fake, sim, start_bot, settings, faults=(("submit", Fault.error(402)),))
    assert_refunded(ended, posts=1)
    says(ended.text, "out of credits")
    await assert_paused_with_one_alert(fake, sim, "402")
    assert_charged(ended, False)


async def test_submit_401_fails_pauses_new_jobs_and_alerts_the_owner_once(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    owner = fake.owner_user
    settings = make_settings(discord={"owner_ids": [int(owner["id"])]})
    ended = await run_one(fake, sim, start_bot, settings, faults=(("submit", Fault.error(401, 10004, "Key revoked.")),))
    assert_refunded(ended, posts=1)
    says(ended.text, "key was refused")
    # Contract (item 12): a refused key pauses intake like a 402 does, and the owners hear about it once.
    await assert_paused_with_one_alert(fake, sim, "401")
    assert_charged(ended, False)


async def assert_paused_with_one_alert(fake: FakeDiscord, sim: ReapiSimulator, status: str) -> None:
    """The owner got one DM naming ``status``; another member's /imagine is refused at intake, unsent."""
    dm = fake.dm_channel(fake.owner_user)
    alert = await fake.wait_for_request("POST", rf"/channels/{dm['id']}/messages", timeout=5)
    assert status in alert.json["content"]
    other = fake.make_user("another member")
    refused = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "a dog"}], user=other)
    followup = await fake.wait_for_request("POST", refused.webhook_path, timeout=5)
    assert followup.json["flags"] & EPHEMERAL
    says(followup.json["content"], "paused", "Nothing was charged")
    assert sim.submit_count == 1  # the refused job never reached reAPI
    assert len(fake.requests_matching("POST", rf"/channels/{dm['id']}/messages")) == 1


async def test_submit_429_then_accepted_is_delivered_after_one_more_post(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    ended = await run_one(fake, sim, start_bot, faults=(("submit", Fault.error(429, retry_after=0.1)),))
    assert_delivered_once(ended, posts=2)


async def test_submit_429_every_time_fails_busy_uncharged(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    limited = Fault.error(429, retry_after=0)
    ended = await run_one(fake, sim, start_bot, faults=(("submit", limited),) * 3)
    assert_refunded(ended, posts=3)  # the submit policy's three attempts, each refused before anything was created
    says(ended.text, "busy or unreachable")
    assert_charged(ended, False)


async def test_submit_to_a_closed_port_is_retried_then_fails_unreachable_uncharged(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    # Connection refused proves nothing was sent: the only transport failure a submit may retry (takes ~2 s).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/api/v1"
    ended = await run_one(fake, sim, start_bot, make_settings(reapi={"base_url": closed}))
    assert_refunded(ended, posts=0)
    says(ended.text, "busy or unreachable")
    assert_charged(ended, False)


# -- submit: the POST may have created (and charged) a task; never re-sent ---------------------------------------


async def test_submit_connection_dropped_before_reading_is_not_resent(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    # The client cannot tell a drop before reAPI read the body from one after: both look like a closed
    # connection once the request was written, so it is (rightly) treated as an unknown outcome.
    ended = await run_one(fake, sim, start_bot, faults=(("submit", Fault.drop_before()),))
    assert_refunded(ended, posts=1)
    says(ended.text, "did not confirm", "not sent again")
    assert_charged(ended, True)


async def test_submit_connection_dropped_after_reading_is_not_resent(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    ended = await run_one(fake, sim, start_bot, faults=(("submit", Fault.drop_after()),))
    assert_refunded(ended, posts=1)
    assert len(sim.tasks) == 1  # reAPI did create (and charge) the task
    says(ended.text, "did not confirm", "not sent again")
    assert_charged(ended, True)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.error(500),
        Fault.error(502),
        Fault.error(503),
        Fault.raw(200, "<html>upstream proxy says hello</html>"),
    ],
    ids=["500", "502", "503", "unreadable-2xx"],
)
async def test_submit_server_failure_is_not_resent_and_says_so_plainly(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, fault: Fault
) -> None:
    ended = await run_one(fake, sim, start_bot, faults=(("submit", fault),))
    assert_refunded(ended, posts=1)
    # Contract (item 13): reAPI failed; it was not re-sent so as not to be charged twice; refunded; try again.
    says(ended.text, r"reAPI\b.*\b(failed|error)", r"not (re-?sent|sent again)", "twice", "refunded", "try again")
    assert_charged(ended, True)


# -- polling ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.error(429, retry_after=0),
        Fault.error(500),
        Fault.error(503, retry_after=0),
        Fault.raw(200, "{not json", "application/json"),
        Fault.drop_after(),
    ],
    ids=["429", "500", "503", "invalid-json", "dropped"],
)
async def test_transient_poll_fault_still_delivers_once(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, fault: Fault
) -> None:
    ended = await run_one(fake, sim, start_bot, faults=(("poll", fault),))
    assert_delivered_once(ended, posts=1)
    assert sim.poll_count >= 2  # the faulted poll was followed by another


async def test_poll_404_fails_task_lost_charged(fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot) -> None:
    ended = await run_one(fake, sim, start_bot, faults=(("poll", Fault.error(404)),))
    assert_refunded(ended, posts=1)
    says(ended.text, "no longer knows this task")
    assert_charged(ended, True)


# -- the task itself ----------------------------------------------------------------------------------------------


async def test_failed_task_fails_with_its_code_uncharged(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    ended = await run_one(fake, sim, start_bot, outcome=Outcome.fail(50123, "The model fell over."))
    assert_refunded(ended, posts=1)
    says(ended.text, "50123")
    assert_charged(ended, False)  # reAPI refunds failed tasks itself


async def test_moderated_task_fails_on_the_content_filter_uncharged(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    ended = await run_one(fake, sim, start_bot, outcome=Outcome.fail(80006, "Blocked by the content policy."))
    assert_refunded(ended, posts=1)
    says(ended.text, "content filter")
    assert_charged(ended, False)


async def test_task_still_processing_past_the_timeout_fails_charged(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(jobs={"timeout": 0.4})
    ended = await run_one(fake, sim, start_bot, settings, outcome=Outcome.never())
    assert_refunded(ended, posts=1)
    assert sim.poll_count >= 1
    says(ended.text, "did not finish in time")  # contract wording
    assert_charged(ended, True)


# -- downloading the output ---------------------------------------------------------------------------------------

_DOWNLOAD_FAULTS: dict[str, tuple[tuple[Fault, ...], dict[str, Any]]] = {
    "404": ((Fault.error(404),), {}),
    "503-persistent": ((Fault.error(503, retry_after=0),) * 4, {}),  # every attempt of the download policy
    "not-an-image": ((Fault.raw(200, "<html>a login page</html>"),), {}),
    "too-large": ((), {"images": {"max_download_bytes": 512}}),
}


@pytest.mark.parametrize("name", list(_DOWNLOAD_FAULTS))
async def test_download_failure_fails_refunded_charged(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    make_settings: Callable[..., Settings],
    name: str,
) -> None:
    faults, sections = _DOWNLOAD_FAULTS[name]
    ended = await run_one(
        fake, sim, start_bot, make_settings(**sections), faults=tuple(("download", f) for f in faults)
    )
    assert_refunded(ended, posts=1)
    assert sim.download_count == max(len(faults), 1)
    says(ended.text, "could not be downloaded")
    assert_charged(ended, True)
