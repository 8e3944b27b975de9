"""Cluster test: three sharded bot processes share one PostgreSQL job queue; one is SIGKILLed, one SIGTERMed.

Each process owns one shard of three (``run --shards N --shard-count 3``) and receives only its guilds'
interactions, but any process may claim and deliver any job: the queue, the leases and the ledger are in the
database. Whatever the kills interrupt, every job must end delivered exactly once or refunded with a message, no
prompt may reach reAPI twice, and the books must balance.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from bot.engine.failures import FailureCode
from bot.reapi.simulator import Fault, Outcome
from bot.store import JobState, open_store
from tests.e2e.test_crash import until
from tests.e2e.test_ledger_check import cli

if TYPE_CHECKING:
    from pathlib import Path

    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.store import Job, Store
    from tests.e2e.conftest import BotProcess
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

SpawnBot = Callable[..., Awaitable["BotProcess"]]
JSON = dict[str, Any]

SHARDS = 3
MEMBERS = 10
JOBS = 300
START_BALANCE = 100


def cluster_settings(make_settings: Callable[..., Settings], dsn: str) -> Settings:
    return make_settings(
        database={"url": dsn},
        credits={"allowance": START_BALANCE, "max_balance": START_BALANCE},
        # A short lease: a SIGKILLed process's jobs are taken over within seconds. Not shorter: a process the machine
        # starves for longer than a lease loses its jobs, and each one whose POST was on its way is refunded.
        jobs={
            "max_concurrent": 24,
            "per_user_concurrent": 4,
            "per_user_queued": JOBS,
            "max_queued": JOBS,
            "lease_seconds": 3.0,
            "progress_interval": 1.0,
        },
    )


async def test_three_sharded_processes_share_one_queue_through_a_sigkill_and_a_sigterm(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    make_settings: Callable[..., Settings],
    spawn_bot: SpawnBot,
    postgres_dsn: str,
    tmp_path: Path,
) -> None:
    rng = random.Random(20261130)
    guilds = [fake.add_guild(f"shard {s}", shard=(s, SHARDS)) for s in range(SHARDS)]
    members = [fake.make_user(f"member{m}") for m in range(MEMBERS)]
    for guild in guilds:
        for member in members:
            fake.add_member(member, guild_id=guild)
    sim.next_outcomes.extend(Outcome.complete(delay=rng.uniform(0.02, 0.3)) for _ in range(JOBS))
    settings = cluster_settings(make_settings, postgres_dsn)
    bots = [await spawn_bot(settings, "--shards", str(s), "--shard-count", str(SHARDS)) for s in range(SHARDS)]

    interactions: dict[str, FakeInteraction] = {}
    for n in range(JOBS):
        guild, member = guilds[n % SHARDS], members[rng.randrange(MEMBERS)]
        prompt = f"cluster job {n:03d}"
        interactions[prompt] = await fake.send_slash_command(
            "imagine", [{"name": "prompt", "value": prompt}], user=member, guild_id=guild
        )
    store = await open_store(postgres_dsn)
    try:
        # Mid-run: one process dies without a word, another is stopped politely.
        await until("a fifth of the jobs to be sent to reAPI", lambda: _submitted(sim, JOBS // 5), within=60)
        await bots[0].kill()
        await until("another fifth", lambda: _submitted(sim, 2 * JOBS // 5), within=60)
        assert await bots[1].terminate() == 0
        await until("every job to end", lambda: _all_ended(store, postgres_dsn, JOBS), within=90)
        jobs = {j.prompt: j for j in await _every_job(store, postgres_dsn)}
        # A failed job's placeholder is edited after its row has ended: under load that edit may still be on its way.
        refunded = [interactions[p] for p, j in jobs.items() if j.state is JobState.FAILED]
        await until("the refunds to show", lambda: _all_say(fake, refunded, "refunded"), within=30)
    finally:
        await store.close()
    assert await bots[2].terminate() == 0

    assert len(jobs) == JOBS
    posts = Counter(s["body"]["prompt"] for s in sim.submissions)
    assert max(posts.values()) == 1, [p for p, n in posts.items() if n > 1]  # nothing was ever sent twice
    showing = [m for guild in guilds for c in fake.guild_channel_ids(guild) for m in fake.channel_messages(c)]
    outcomes: Counter[str] = Counter()
    for prompt, job in jobs.items():
        if job.state is JobState.DELIVERED:
            shown = [m for m in showing if _names_job(m, job.id)]
            assert len(shown) == 1, f"{prompt}: {len(shown)} messages"
            outcomes["delivered"] += 1
        else:
            assert job.state is JobState.FAILED, (prompt, job.state)
            # Only a job whose POST the SIGKILL cut off may fail: it is refunded, never re-sent.
            assert job.error_code == FailureCode.INTERRUPTED_SUBMIT, (prompt, job.error_code)
            placeholder = fake.original_message(interactions[prompt])
            assert placeholder is not None
            assert "refunded" in (placeholder.get("content") or "")
            outcomes["refunded"] += 1
    assert outcomes["delivered"] >= JOBS - 24  # at most the SIGKILLed process's POSTs in flight are lost

    code, report = await cli(tmp_path, "ledger", "check", "--config", str(tmp_path / "bot-0.toml"))
    assert code == 0, report
    spent = Counter(job.user_id for job in jobs.values() if job.state is JobState.DELIVERED)
    store = await open_store(postgres_dsn)
    try:
        for member in members:
            user_id = int(member["id"])
            balance = await store.balance(user_id, "global", _rules(settings))
            assert balance.balance == START_BALANCE - spent[user_id]
            assert balance.held == 0
    finally:
        await store.close()


async def test_a_second_process_starting_never_fails_the_first_ones_live_jobs(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    make_settings: Callable[..., Settings],
    spawn_bot: SpawnBot,
    postgres_dsn: str,
) -> None:
    settings = cluster_settings(make_settings, postgres_dsn)
    first = await spawn_bot(settings)
    sim.inject("submit", *(Fault.slow(1.0) for _ in range(3)))  # three POSTs stay in flight a while
    prompts = [f"slow job {n}" for n in range(3)]
    for prompt in prompts:
        await fake.send_slash_command("imagine", [{"name": "prompt", "value": prompt}], user=fake.member_user)
    store = await open_store(postgres_dsn)
    try:
        await until("the POSTs to be under way", lambda: _submitted(sim, 3), within=20)
        second = await spawn_bot(settings)  # starts while the first process's jobs are 'submitting'
        await until("every job to end", lambda: _all_ended(store, postgres_dsn, 3), within=30)
        jobs = await _every_job(store, postgres_dsn)
    finally:
        await store.close()
    assert sorted(j.state for j in jobs) == [JobState.DELIVERED] * 3  # none failed as "interrupted"
    assert sim.submit_count == 3
    assert await second.terminate() == 0
    assert await first.terminate() == 0


async def _all_say(fake: FakeDiscord, interactions: list[FakeInteraction], words: str) -> bool:
    return all(words in ((fake.original_message(i) or {}).get("content") or "") for i in interactions)


async def _submitted(sim: ReapiSimulator, n: int) -> bool:
    return sim.submit_count >= n


async def _every_job(store: Store, dsn: str) -> list[Job]:
    # The store lists unfinished jobs only; the ids of all of them come straight from the table.
    conn = await asyncpg.connect(dsn)
    try:
        ids = [row["id"] for row in await conn.fetch("SELECT id FROM jobs ORDER BY created_at, id")]
    finally:
        await conn.close()
    found = []
    for job_id in ids:
        job = await store.get_job(job_id)
        assert job is not None
        found.append(job)
    return found


async def _all_ended(store: Store, dsn: str, n: int) -> bool:
    jobs = await _every_job(store, dsn)
    return len(jobs) == n and all(j.state.is_terminal for j in jobs)


def _names_job(message: JSON, job_id: str) -> bool:
    """Whether a message is the result of ``job_id`` (its embed footer carries ``job <id>``)."""
    return any(
        f"job {job_id}" in (e.get("footer") or {}).get("text", "").split(" · ") for e in message.get("embeds") or []
    )


def _rules(settings: Settings) -> Any:
    from bot.engine.credits import CreditLedger

    return CreditLedger(settings.credits, owner_ids=frozenset()).base_rules()
