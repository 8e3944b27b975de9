"""Crash test: the real bot process, 52 jobs in flight, SIGKILLed at several points of their lifecycle.

The bot runs as ``python -m bot run`` against the fake Discord and the reAPI simulator served from this test's
event loop, on one SQLite file. It is killed (SIGKILL: no shutdown code runs) three times at points picked by a
seeded RNG and by observed progress, restarted on the same database each time, then left to finish. Whatever the
kills interrupted, every job must end delivered exactly once or refunded with a message, no prompt may reach
reAPI twice, and the books must balance.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

from bot.engine.credits import CreditLedger
from bot.engine.failures import FailureCode
from bot.reapi.simulator import Fault
from bot.store import JobState, open_store
from tests.e2e.conftest import DISCORD_TOKEN, REAPI_KEY
from tests.e2e.test_ledger_check import cli

if TYPE_CHECKING:
    from pathlib import Path

    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.store import Job
    from tests.e2e.conftest import BotProcess
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

SpawnBot = Callable[["Settings"], Awaitable["BotProcess"]]
JSON = dict[str, Any]

MEMBERS = 26
JOBS_PER_MEMBER = 2  # /imagine allows two per member per 6 s
JOBS = MEMBERS * JOBS_PER_MEMBER
SLOTS = 8  # jobs.max_concurrent
START_BALANCE = 50  # a new member's full allowance
COST = 1


def job_states(db: Path) -> Counter[str]:
    """How many jobs are in each state, read straight from the bot's SQLite file (WAL: never blocks the bot)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return Counter(dict(conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()))


async def until(what: str, condition: Callable[[], Awaitable[bool]], *, within: float = 20) -> None:
    """Re-check ``condition`` every 20 ms until it holds; fail after ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            # The state lives in another process's database: there is no event to wait on.
            while not await condition():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {within}s waiting for {what}") from None


async def states_are(db: Path, wanted: Callable[[Counter[str]], bool]) -> bool:
    return wanted(await asyncio.to_thread(job_states, db))


def uploads(fake: FakeDiscord) -> int:
    """Requests to Discord that carried an image."""
    return len([r for r in fake.requests if r.files])


def messages_showing(fake: FakeDiscord, job_id: str) -> list[JSON]:
    """Every message in the channel whose embed footer names the job (``… · job <id>``)."""
    return [
        m
        for m in fake.channel_messages()
        if any(f"job {job_id}" in (e.get("footer") or {}).get("text", "").split(" · ") for e in m.get("embeds") or [])
    ]


async def kill(bot: BotProcess, sim: ReapiSimulator, db: Path, snapshots: list[Counter[str]]) -> None:
    """SIGKILL the bot, drop submit faults it did not reach, and record the states it left behind."""
    await bot.kill()
    sim.faults["submit"].clear()
    snapshots.append(await asyncio.to_thread(job_states, db))


@pytest.mark.parametrize("seed", [20261129])
async def test_sigkill_at_several_points_never_loses_repeats_or_mischarges_a_job(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    make_settings: Callable[..., Settings],
    spawn_bot: SpawnBot,
    tmp_path: Path,
    seed: int,
) -> None:
    rng = random.Random(seed)
    settings = make_settings(jobs={"max_concurrent": SLOTS, "progress_interval": 1.0})
    db = tmp_path / "bot.sqlite3"
    assert settings.database.url == f"sqlite:///{db}"
    members = [fake.make_user(f"member{n:02d}") for n in range(MEMBERS)]
    for member in members:
        fake.add_member(member)
    snapshots: list[Counter[str]] = []

    # Run 1: every job is taken in; reAPI holds every task, and one POST (seeded) is never answered.
    sim.delay = 60.0
    hung = rng.randint(2, SLOTS)
    sim.inject("submit", *[Fault.slow(0)] * (hung - 1), Fault.slow(60))
    bot = await spawn_bot(settings)
    asked: dict[str, FakeInteraction] = {}  # prompt → interaction
    for round_ in range(JOBS_PER_MEMBER):
        for n, member in enumerate(members):
            prompt = f"crash test {seed} job {round_ * MEMBERS + n:02d}"
            options = [{"name": "prompt", "value": prompt}]
            asked[prompt] = await fake.send_slash_command("imagine", options, user=member)
    # Every slot is busy: one POST hangs, the other tasks never finish, so the rest must wait in the queue.
    settled_intake = {JobState.QUEUED: JOBS - SLOTS, JobState.RUNNING: SLOTS - 1, JobState.SUBMITTING: 1}
    await until("52 jobs stored, 8 of them sent", lambda: states_are(db, lambda s: s == settled_intake))
    assert sim.submit_count == SLOTS
    await kill(bot, sim, db, snapshots)

    # reAPI finishes what it has; new tasks take 0.2 s from now on.
    sim.delay = 0.2
    for task in sim.tasks.values():
        task.ready_at = sim.clock() + 0.2

    # Run 2: killed after a seeded number of deliveries, while other tasks are still processing.
    delivered = rng.randint(4, 12)
    bot = await spawn_bot(settings)
    await until(f"{delivered} deliveries", lambda: states_are(db, lambda s: s[JobState.DELIVERED] >= delivered))
    await kill(bot, sim, db, snapshots)

    # Run 3: killed the moment Discord receives a seeded n-th image of this run (the job may not have recorded it).
    nth = rng.randint(2, 6)
    before = uploads(fake)
    bot = await spawn_bot(settings)
    await fake.wait_for(lambda: uploads(fake) >= before + nth, timeout=20, what=f"upload {nth} of run 3")
    await kill(bot, sim, db, snapshots)

    # Run 4: left to finish, then stopped the normal way.
    bot = await spawn_bot(settings)
    await until(
        "every job to end", lambda: states_are(db, lambda s: s[JobState.DELIVERED] + s[JobState.FAILED] == JOBS)
    )
    assert await bot.terminate() == 0, bot.output

    await assert_every_job_ended_once(fake, sim, settings, members, asked)
    code, out = await cli(tmp_path, "ledger", "check", "--config", str(tmp_path / "bot-0.toml"))
    assert code == 0, out
    logs = "\n".join((tmp_path / f"bot-{n}.log").read_text(encoding="utf-8") for n in range(4))
    assert REAPI_KEY not in logs
    assert DISCORD_TOKEN not in logs
    # The kills did land mid-lifecycle: queued, mid-POST and processing jobs (run 1), deliveries half done after.
    assert snapshots[0] == settled_intake
    assert all(s[JobState.DELIVERED] + s[JobState.FAILED] < JOBS for s in snapshots)


async def assert_every_job_ended_once(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    settings: Settings,
    members: list[JSON],
    asked: dict[str, FakeInteraction],
) -> None:
    """Each job delivered exactly once or refunded with a message; one POST at most; balances match deliveries."""
    posts = Counter(s["body"]["prompt"] for s in sim.submissions)
    assert sim.submit_count == len(sim.submissions)  # every POST that arrived is one of the recorded ones
    assert set(posts) <= set(asked)
    assert max(posts.values()) == 1, [p for p, n in posts.items() if n > 1]

    store = await open_store(settings.database.url)
    try:
        jobs: list[Job] = []
        for member in members:
            for entry in await store.history(int(member["id"]), limit=10):
                job = await store.get_job(entry.job_id)
                assert job is not None
                jobs.append(job)
        assert sorted(j.prompt for j in jobs) == sorted(asked)
        rules = CreditLedger(settings.credits, owner_ids=frozenset()).base_rules()
        for member in members:
            user_id = int(member["id"])
            got = len([j for j in jobs if j.user_id == user_id and j.state is JobState.DELIVERED])
            balance = await store.balance(user_id, "global", rules)
            assert balance.balance == START_BALANCE - COST * got, member["username"]
    finally:
        await store.close()

    failed = [j for j in jobs if j.state is JobState.FAILED]
    for job in jobs:
        placeholder = fake.original_message(asked[job.prompt])
        assert placeholder is not None
        shown = messages_showing(fake, job.id)
        if job.state is JobState.DELIVERED:
            assert posts[job.prompt] == 1, job
            assert len(shown) == 1, (job, shown)
            assert shown[0]["attachments"], shown[0]
        else:
            assert job.state is JobState.FAILED, job
            # The only failure a crash may cause: the POST was cut off, so reAPI may have charged; never re-sent.
            assert job.error_code == FailureCode.INTERRUPTED_SUBMIT, job
            assert shown == []
            assert placeholder["content"].startswith("❌"), placeholder["content"]
            assert "refunded" in placeholder["content"]
    assert 1 <= len(failed) < JOBS // 2  # at least the job whose POST never got an answer
