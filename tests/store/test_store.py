"""The Store contract, run unchanged on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import pytest

from bot.store import (
    AccountRules,
    Balance,
    InsufficientBalance,
    JobKind,
    JobState,
    NewJob,
    open_store,
)
from bot.store.migrations import migrations_for
from tests.store.conftest import (
    RULES,
    START,
    assert_ledger_consistent,
    new_job,
    sql_all,
    sql_execute,
)

if TYPE_CHECKING:
    from pathlib import Path

    from bot.store import Job, Store
    from tests.store.conftest import Backend, FakeClock

SNOWFLAKE = 1_234_567_890_123_456_789  # Discord ids need 64 bits
FREE = AccountRules(allowance=0, period_seconds=3600.0, max_balance=0)


async def job_row(store: Store, job_id: str) -> dict[str, Any]:
    """The raw jobs row (including columns a Job does not show, such as updated_at)."""
    rows = await sql_all(store, "SELECT * FROM jobs WHERE id = ?", job_id)
    assert len(rows) == 1
    row: Any = rows[0]  # sqlite3.Row or asyncpg.Record: both are mappings of column to value
    return {key: row[key] for key in row.keys()}  # noqa: SIM118 (sqlite3.Row iterates values, not keys)


async def count(store: Store, table: str) -> int:
    """How many rows a table holds."""
    rows = await sql_all(store, f"SELECT COUNT(*) AS n FROM {table}")
    return int(rows[0]["n"])


async def reasons(store: Store, user_id: int | None = None) -> list[tuple[str, int]]:
    """The ledger as (reason, delta) pairs, oldest first."""
    return [(e.reason, e.delta) for e in await store.ledger(user_id)]


# -- migrations -------------------------------------------------------------------------------------


async def test_migrations_are_recorded_in_schema_version(store: Store, backend: Backend) -> None:
    """Every migration's version is stored once and every table exists."""
    rows = await sql_all(store, "SELECT version FROM schema_version ORDER BY version")
    assert [int(r["version"]) for r in rows] == [v for v, _ in migrations_for(backend.name)]
    for table in ("jobs", "history", "accounts", "ledger", "meta"):
        assert await count(store, table) == 0


async def test_reopening_an_existing_database_does_not_reapply_migrations(backend: Backend, clock: FakeClock) -> None:
    """A second open of the same database keeps one schema_version row per migration and all data."""
    first = await open_store(backend.url, clock=clock)
    try:
        job = await first.create_job(new_job(cost=2), rules=RULES)
        await first.set_meta("tree", "abc")
    finally:
        await first.close()
    second = await open_store(backend.url, clock=clock)
    try:
        rows = await sql_all(second, "SELECT version FROM schema_version ORDER BY version")
        assert [int(r["version"]) for r in rows] == [v for v, _ in migrations_for(backend.name)]
        assert await second.get_job(job.id) == job
        assert await second.get_meta("tree") == "abc"
        assert (await second.balance(1, "global", RULES)).balance == 8
        await assert_ledger_consistent(second)
    finally:
        await second.close()


async def test_sqlite_database_file_uses_wal(tmp_path: Path, clock: FakeClock) -> None:
    """The SQLite backend puts its file in WAL mode (readers never block the writer)."""
    store = await open_store(f"sqlite:///{tmp_path / 'sub' / 'bot.sqlite3'}", clock=clock)
    try:
        rows = await sql_all(store, "PRAGMA journal_mode")
        assert str(rows[0]["journal_mode"]).lower() == "wal"
        await store.set_meta("k", "v")
        assert (tmp_path / "sub" / "bot.sqlite3-wal").exists()
    finally:
        await store.close()


async def test_open_store_rejects_unknown_url_schemes() -> None:
    """Only sqlite:/// and postgresql:// URLs are accepted."""
    with pytest.raises(ValueError, match=r"database\.url"):
        await open_store("mysql://localhost/bot")


# -- jobs -------------------------------------------------------------------------------------------


async def test_create_job_round_trips_every_field(store: Store, clock: FakeClock) -> None:
    """Every NewJob field comes back as stored (tuples, bools, 64-bit ids), queued, with defaults unset."""
    request = NewJob(
        kind=JobKind.EDIT,
        user_id=SNOWFLAKE + 1,
        guild_id=SNOWFLAKE + 2,
        channel_id=SNOWFLAKE + 3,
        prompt="make it night 🌙 — \"quoted\" 'single' ; DROP TABLE jobs; --",
        aspect_ratio="16:9",
        image_urls=("https://cdn.example/a.png", "https://cdn.example/b.png?x=1&y=2"),
        sources=("https://discord.com/channels/1/2/3",),
        parent_job_id="abcdef012345",
        application_id=SNOWFLAKE + 4,
        interaction_token="tok-" + "x" * 200,
        interaction_expires_at=START + 900.25,
        placeholder_message_id=SNOWFLAKE + 5,
        upload_limit=25 * 1024 * 1024,
        simulated=True,
        cost=2,
        scope="guild:42",
        locale="de",
    )
    job = await store.create_job(request, rules=RULES)
    for f in fields(NewJob):
        assert getattr(job, f.name) == getattr(request, f.name), f.name
    assert job.kind is JobKind.EDIT
    assert job.state is JobState.QUEUED
    assert job.image_urls == request.image_urls
    assert isinstance(job.image_urls, tuple)
    assert isinstance(job.sources, tuple)
    assert job.simulated is True
    assert len(job.id) == 12
    assert job.created_at == START
    assert (job.task_id, job.result_message_id, job.error_code, job.error_message) == (None, None, None, None)
    assert (job.submitted_at, job.completed_at, job.finished_at, job.duration) == (None, None, None, None)
    assert await store.get_job(job.id) == job


async def test_create_job_round_trips_defaults_and_nones(store: Store) -> None:
    """A DM job with no images keeps empty tuples, None ids and simulated False."""
    request = NewJob(
        kind=JobKind.IMAGINE, user_id=7, guild_id=None, channel_id=8, prompt="p", aspect_ratio="1:1", cost=0
    )
    job = await store.create_job(request, rules=RULES)
    stored = await store.get_job(job.id)
    assert stored is not None
    assert stored == job
    assert stored.image_urls == ()
    assert stored.sources == ()
    assert stored.simulated is False
    assert stored.guild_id is None
    assert stored.parent_job_id is None
    assert stored.application_id is None
    assert stored.interaction_token is None
    assert stored.interaction_expires_at is None
    assert stored.placeholder_message_id is None
    assert stored.upload_limit == 10 * 1024 * 1024
    assert await store.ledger() == []


async def test_get_job_of_unknown_id_is_none(store: Store) -> None:
    """Looking up a job that does not exist returns None."""
    assert await store.get_job("000000000000") is None


async def test_job_ids_are_unique(store: Store) -> None:
    """Each created job gets its own id."""
    jobs = [await store.create_job(new_job(cost=0), rules=None) for _ in range(20)]
    assert len({j.id for j in jobs}) == 20


async def test_transition_moves_from_a_listed_state_and_sets_values(store: Store, clock: FakeClock) -> None:
    """A job in one of from_states moves to the target and takes the given values."""
    job = await store.create_job(new_job(), rules=RULES)
    clock.advance(5)
    moved = await store.transition(
        job.id, from_states=[JobState.QUEUED], to=JobState.SUBMITTING, submitted_at=clock.now
    )
    assert moved is not None
    assert moved.state is JobState.SUBMITTING
    assert moved.submitted_at == START + 5
    running = await store.transition(
        job.id,
        from_states={JobState.QUEUED, JobState.SUBMITTING},
        to=JobState.RUNNING,
        task_id="task-1",
        image_urls=("https://x/y.png",),
        simulated=True,
    )
    assert running is not None
    assert (running.state, running.task_id, running.image_urls, running.simulated) == (
        JobState.RUNNING,
        "task-1",
        ("https://x/y.png",),
        True,
    )
    assert await store.get_job(job.id) == running


async def test_transition_from_an_unlisted_state_returns_none_and_changes_nothing(
    store: Store, clock: FakeClock
) -> None:
    """Someone else moved the job: the transition is refused and the row (even updated_at) is untouched."""
    job = await store.create_job(new_job(), rules=RULES)
    await store.transition(job.id, from_states=[JobState.QUEUED], to=JobState.RUNNING, task_id="t")
    before = await job_row(store, job.id)
    clock.advance(10)
    assert (
        await store.transition(job.id, from_states=[JobState.QUEUED], to=JobState.SUBMITTING, task_id="other") is None
    )
    assert await store.transition("000000000000", from_states=[JobState.QUEUED], to=JobState.RUNNING) is None
    assert await job_row(store, job.id) == before


@pytest.mark.parametrize("delivered", [True, False], ids=["delivered", "failed"])
async def test_transition_of_a_finished_job_returns_none(store: Store, delivered: bool) -> None:
    """An ended job is in none of the active states, so no transition applies."""
    job = await store.create_job(new_job(), rules=RULES)
    await store.finish_job(job.id, delivered=delivered)
    before = await job_row(store, job.id)
    active = [s for s in JobState if not s.is_terminal]
    assert await store.transition(job.id, from_states=active, to=JobState.QUEUED) is None
    assert await job_row(store, job.id) == before


async def test_transition_never_reopens_a_finished_job_even_if_its_state_is_listed(store: Store) -> None:
    """A settled job must stay ended: reopening it would make every later finish_job raise IntegrityError."""
    job = await store.create_job(new_job(), rules=RULES)
    await store.finish_job(job.id, delivered=False)
    before = await job_row(store, job.id)
    assert await store.transition(job.id, from_states=list(JobState), to=JobState.QUEUED) is None
    assert await job_row(store, job.id) == before
    assert await store.active_jobs() == []


@pytest.mark.parametrize("target", [JobState.DELIVERED, JobState.FAILED])
async def test_transition_refuses_terminal_targets(store: Store, target: JobState) -> None:
    """Ending a job must go through finish_job (which settles credits); the row is unchanged."""
    job = await store.create_job(new_job(), rules=RULES)
    before = await job_row(store, job.id)
    with pytest.raises(ValueError, match="finish_job"):
        await store.transition(job.id, from_states=[JobState.QUEUED], to=target)
    assert await job_row(store, job.id) == before
    assert await reasons(store) == [("allowance", 10), ("reserve", -1)]


async def test_transition_refuses_unknown_fields(store: Store) -> None:
    """A misspelt column is an error, not silently ignored; the row is unchanged."""
    job = await store.create_job(new_job(), rules=RULES)
    before = await job_row(store, job.id)
    with pytest.raises(ValueError, match="unknown job fields"):
        await store.transition(job.id, from_states=[JobState.QUEUED], to=JobState.RUNNING, taskid="t")
    assert await job_row(store, job.id) == before


async def test_transition_refuses_a_state_value_that_would_bypass_finish_job(store: Store) -> None:
    """``state=`` among the values must not override ``to`` (it would end a job without settling credits)."""
    job = await store.create_job(new_job(), rules=RULES)
    before = await job_row(store, job.id)
    with pytest.raises(ValueError, match="state"):
        await store.transition(
            job.id, from_states=[JobState.QUEUED], to=JobState.SUBMITTING, state=JobState.DELIVERED.value
        )
    assert await job_row(store, job.id) == before


async def test_named_steps_each_expect_their_own_state(store: Store, clock: FakeClock) -> None:
    """mark_submitting → mark_running → mark_delivering → record_*: each moves only from the state it names."""
    job = await store.create_job(new_job(), rules=RULES)
    assert await store.mark_running(job.id, task_id="t", at=clock.now) is None  # still queued
    submitting = await store.mark_submitting(job.id, at=clock.now)
    assert submitting is not None
    assert (submitting.state, submitting.charged, submitting.submit_started_at) == (
        JobState.SUBMITTING,
        True,
        clock.now,
    )
    assert await store.mark_submitting(job.id, at=clock.now) is None  # never twice
    running = await store.mark_running(job.id, task_id="task_1", at=clock.now)
    assert running is not None
    assert (running.state, running.task_id) == (JobState.RUNNING, "task_1")
    assert await store.record_post_started(job.id, at=clock.now) is None  # not delivering yet
    delivering = await store.mark_delivering(job.id, at=clock.now)
    assert delivering is not None
    assert delivering.state is JobState.DELIVERING
    posted = await store.record_result_message(job.id, message_id=SNOWFLAKE)
    assert posted is not None
    assert (posted.state, posted.result_message_id) == (JobState.DELIVERING, SNOWFLAKE)


# -- finishing jobs ---------------------------------------------------------------------------------


async def test_a_result_recorded_in_a_dm_or_as_ephemeral_keeps_its_place_into_history(
    store: Store, clock: FakeClock
) -> None:
    """/history links to a result where it is: the member's DM channel, or nowhere for an ephemeral one."""
    places = {"channel": {}, "dm": {"channel_id": 4242}, "ephemeral": {"ephemeral": True}}
    jobs = {}
    for name, place in places.items():
        job = await store.create_job(new_job(prompt=name), rules=RULES)
        await store.mark_submitting(job.id, at=clock.now)
        await store.mark_running(job.id, task_id=f"task_{name}", at=clock.now)
        await store.mark_delivering(job.id, at=clock.now)
        posted = await store.record_result_message(job.id, message_id=SNOWFLAKE, **place)
        assert posted is not None
        jobs[name] = posted
    # Together: PostgreSQL ends them in one batched statement, its other path than a settle alone.
    await asyncio.gather(*(store.finish_job(j.id, delivered=True, result_message_id=SNOWFLAKE) for j in jobs.values()))
    await store.finish_job(jobs["dm"].id, delivered=True)  # already ended: changes nothing
    assert [(j.result_channel_id, j.result_ephemeral) for j in jobs.values()] == [
        (None, False),
        (4242, False),
        (None, True),
    ]
    entries = {e.prompt: e for e in await store.history(1, limit=10)}
    assert [(entries[n].result_channel_id, entries[n].result_ephemeral) for n in places] == [
        (None, False),
        (4242, False),
        (None, True),
    ]
    for name, job in jobs.items():
        ended = await store.get_job(job.id)
        assert ended is not None
        assert (ended.result_channel_id, ended.result_ephemeral) == (job.result_channel_id, job.result_ephemeral), name


async def test_finish_delivered_captures_the_reservation_and_records_history(store: Store, clock: FakeClock) -> None:
    """Delivery writes a capture entry (delta 0), keeps the balance and records the cost in history."""
    job = await store.create_job(new_job(cost=3), rules=RULES)
    clock.advance(30)
    done = await store.finish_job(job.id, delivered=True, result_message_id=SNOWFLAKE)
    assert done is not None
    assert (done.state, done.finished_at, done.result_message_id) == (JobState.DELIVERED, START + 30, SNOWFLAKE)
    assert await store.get_job(job.id) == done
    ledger = await store.ledger(1)
    assert [(e.reason, e.delta, e.job_id) for e in ledger] == [
        ("allowance", 10, None),
        ("reserve", -3, job.id),
        ("capture", 0, job.id),
    ]
    assert ledger[-1].created_at == START + 30
    assert (await store.balance(1, "global", RULES)).balance == 7
    [entry] = await store.history(1, limit=10)
    assert (entry.job_id, entry.state, entry.cost, entry.result_message_id, entry.error_message) == (
        job.id,
        JobState.DELIVERED,
        3,
        SNOWFLAKE,
        None,
    )
    assert (entry.kind, entry.prompt, entry.guild_id, entry.channel_id) == (JobKind.IMAGINE, job.prompt, 100, 200)
    assert (entry.created_at, entry.finished_at) == (START, START + 30)
    await assert_ledger_consistent(store)


async def test_finish_failed_refunds_the_reservation_and_records_zero_cost(store: Store, clock: FakeClock) -> None:
    """Failure refunds +cost (balance restored) and history shows cost 0 with the error."""
    job = await store.create_job(new_job(cost=3), rules=RULES)
    assert (await store.balance(1, "global", RULES)).balance == 7
    clock.advance(12)
    done = await store.finish_job(job.id, delivered=False, error_code="nsfw", error_message="blocked by filter")
    assert done is not None
    assert (done.state, done.error_code, done.error_message) == (JobState.FAILED, "nsfw", "blocked by filter")
    assert [(e.reason, e.delta, e.job_id) for e in await store.ledger(1)] == [
        ("allowance", 10, None),
        ("reserve", -3, job.id),
        ("refund", 3, job.id),
    ]
    assert (await store.balance(1, "global", RULES)).balance == 10
    [entry] = await store.history(1, limit=10)
    assert (entry.state, entry.cost, entry.error_message, entry.finished_at) == (
        JobState.FAILED,
        0,
        "blocked by filter",
        START + 12,
    )
    await assert_ledger_consistent(store)


@pytest.mark.parametrize(
    ("first", "second"),
    [(True, True), (True, False), (False, True), (False, False)],
    ids=["deliver-deliver", "deliver-fail", "fail-deliver", "fail-fail"],
)
async def test_second_finish_job_returns_none_and_changes_nothing(
    store: Store, clock: FakeClock, first: bool, second: bool
) -> None:
    """A job ends once: a second finish (either kind) is refused; ledger, history, row and balance stay."""
    job = await store.create_job(new_job(cost=4), rules=RULES)
    assert await store.finish_job(job.id, delivered=first, result_message_id=1, error_message="e1") is not None
    ledger = await store.ledger()
    history = await store.history(1, limit=10)
    row = await job_row(store, job.id)
    balance = await store.balance(1, "global", RULES)
    clock.advance(60)
    assert await store.finish_job(job.id, delivered=second, result_message_id=2, error_message="e2") is None
    assert await store.ledger() == ledger
    assert await store.history(1, limit=10) == history
    assert await job_row(store, job.id) == row
    assert await store.balance(1, "global", RULES) == balance
    await assert_ledger_consistent(store)


async def test_finish_job_of_unknown_id_returns_none(store: Store) -> None:
    """Finishing a job that does not exist is a no-op."""
    assert await store.finish_job("000000000000", delivered=True) is None
    assert await store.history(1, limit=10) == []
    assert await store.ledger() == []


async def test_finish_keeps_an_earlier_result_message_id(store: Store) -> None:
    """Delivery without a new message id keeps the one stored earlier."""
    job = await store.create_job(new_job(), rules=RULES)
    await store.transition(job.id, from_states=[JobState.QUEUED], to=JobState.DELIVERING)
    await store.record_result_message(job.id, message_id=99)
    done = await store.finish_job(job.id, delivered=True)
    assert done is not None
    assert done.result_message_id == 99
    [entry] = await store.history(1, limit=1)
    assert entry.result_message_id == 99


# -- queries ----------------------------------------------------------------------------------------


async def test_active_jobs_excludes_finished_jobs_oldest_first(store: Store, clock: FakeClock) -> None:
    """Queued, submitting, running and delivering jobs are active, in creation order; ended ones are not."""
    jobs: list[Job] = []
    for i in range(6):
        jobs.append(await store.create_job(new_job(user_id=i + 1), rules=RULES))
        clock.advance(1)
    await store.transition(jobs[1].id, from_states=[JobState.QUEUED], to=JobState.SUBMITTING)
    await store.transition(jobs[2].id, from_states=[JobState.QUEUED], to=JobState.RUNNING)
    await store.transition(jobs[3].id, from_states=[JobState.QUEUED], to=JobState.DELIVERING)
    await store.finish_job(jobs[0].id, delivered=True)
    await store.finish_job(jobs[4].id, delivered=False)
    active = await store.active_jobs()
    assert [j.id for j in active] == [jobs[1].id, jobs[2].id, jobs[3].id, jobs[5].id]
    assert [j.state for j in active] == [JobState.SUBMITTING, JobState.RUNNING, JobState.DELIVERING, JobState.QUEUED]
    await assert_ledger_consistent(store)


async def test_history_is_newest_first_with_limit_and_offset(store: Store, clock: FakeClock) -> None:
    """A member's finished jobs, newest finish first, paged; unfinished jobs and other members excluded."""
    mine = [await store.create_job(new_job(user_id=1), rules=RULES) for _ in range(5)]
    other = await store.create_job(new_job(user_id=2), rules=RULES)
    unfinished = await store.create_job(new_job(user_id=1), rules=RULES)
    for i, job in enumerate([mine[2], mine[0], mine[4], mine[1], mine[3]]):
        clock.advance(10)
        await store.finish_job(job.id, delivered=i % 2 == 0)
    await store.finish_job(other.id, delivered=True)
    newest_first = [mine[3].id, mine[1].id, mine[4].id, mine[0].id, mine[2].id]
    assert [h.job_id for h in await store.history(1, limit=10)] == newest_first
    assert [h.job_id for h in await store.history(1, limit=2)] == newest_first[:2]
    assert [h.job_id for h in await store.history(1, limit=2, offset=2)] == newest_first[2:4]
    assert [h.job_id for h in await store.history(1, limit=2, offset=4)] == newest_first[4:]
    assert await store.history(1, limit=2, offset=5) == []
    assert [h.job_id for h in await store.history(2, limit=10)] == [other.id]
    assert unfinished.id not in {h.job_id for h in await store.history(1, limit=10)}
    assert await store.history(3, limit=10) == []
    await assert_ledger_consistent(store)


async def test_recent_durations_of_delivered_jobs_newest_first(store: Store, clock: FakeClock) -> None:
    """Only delivered jobs with both timestamps count, most recently finished first, limited."""

    async def run(took: float | None, *, delivered: bool) -> None:
        job = await store.create_job(new_job(), rules=RULES)
        values: dict[str, Any] = {"submitted_at": clock.now}
        if took is not None:
            values["completed_at"] = clock.now + took
        await store.transition(job.id, from_states=[JobState.QUEUED], to=JobState.RUNNING, **values)
        clock.advance(100)
        await store.finish_job(job.id, delivered=delivered)

    assert await store.recent_durations(5) == []
    await run(10.5, delivered=True)
    await run(4.0, delivered=True)
    await run(7.0, delivered=False)  # failed: not a reAPI duration
    await run(None, delivered=True)  # never completed
    await run(2.25, delivered=True)
    assert await store.recent_durations(10) == [2.25, 4.0, 10.5]
    assert await store.recent_durations(2) == [2.25, 4.0]


# -- balances and the ledger ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowance", "max_balance", "expected"),
    [(5, 10, 5), (20, 8, 8), (8, 8, 8)],
    ids=["below-max", "capped", "equal"],
)
async def test_new_member_starts_with_allowance_capped_at_max_balance(
    store: Store, allowance: int, max_balance: int, expected: int
) -> None:
    """The first touch creates the account with min(allowance, max_balance) and one allowance entry."""
    rules = AccountRules(allowance=allowance, period_seconds=600.0, max_balance=max_balance)
    balance = await store.balance(SNOWFLAKE, "global", rules)
    assert (balance.user_id, balance.scope, balance.balance, balance.next_refill_at) == (
        SNOWFLAKE,
        "global",
        expected,
        START + 600,
    )
    [entry] = await store.ledger(SNOWFLAKE)
    assert (entry.reason, entry.delta, entry.job_id, entry.actor_id, entry.created_at) == (
        "allowance",
        expected,
        None,
        None,
        START,
    )
    assert await store.balance(SNOWFLAKE, "global", rules) == balance
    assert len(await store.ledger()) == 1
    await assert_ledger_consistent(store)


async def test_new_member_with_zero_allowance_gets_no_ledger_entry(store: Store) -> None:
    """A zero starting balance is an account but not a ledger entry."""
    balance = await store.balance(1, "global", FREE)
    assert balance.balance == 0
    assert await store.ledger() == []
    await assert_ledger_consistent(store)


async def test_refill_adds_whole_periods_only(store: Store, clock: FakeClock) -> None:
    """N whole periods add N*allowance; partial periods add nothing; period_start moves by whole periods."""
    rules = AccountRules(allowance=3, period_seconds=100.0, max_balance=100)
    assert (await store.balance(1, "global", rules)).balance == 3
    await store.create_job(new_job(cost=3), rules=rules)
    clock.advance(99.5)
    assert await store.balance(1, "global", rules) == _bal(0, START + 100, held=3)
    clock.now = START + 250  # 2.5 periods: two refills, the half period is kept
    assert await store.balance(1, "global", rules) == _bal(6, START + 300, held=3)
    assert (await store.ledger(1))[-1].delta == 6
    clock.now = START + 299.9
    assert await store.balance(1, "global", rules) == _bal(6, START + 300, held=3)
    clock.now = START + 300  # exactly on the boundary
    assert await store.balance(1, "global", rules) == _bal(9, START + 400, held=3)
    assert await reasons(store) == [("allowance", 3), ("reserve", -3), ("allowance", 6), ("allowance", 3)]
    assert [e.created_at for e in await store.ledger()][-2:] == [START + 250, START + 300]
    await assert_ledger_consistent(store)


async def test_refill_is_capped_at_max_balance(store: Store, clock: FakeClock) -> None:
    """Many missed periods refill balance + held only up to max_balance; periods while full still move period_start."""
    rules = AccountRules(allowance=5, period_seconds=60.0, max_balance=8)
    await store.create_job(new_job(cost=4), rules=rules)
    clock.advance(10 * 60 + 30)
    assert await store.balance(1, "global", rules) == _bal(4, START + 11 * 60, held=4)
    clock.advance(120)
    assert await store.balance(1, "global", rules) == _bal(4, START + 13 * 60, held=4)
    assert await reasons(store) == [("allowance", 5), ("reserve", -4), ("allowance", 3)]
    await assert_ledger_consistent(store)


async def test_refill_does_not_reduce_a_balance_above_max(store: Store, clock: FakeClock) -> None:
    """A balance above max_balance (e.g. an admin grant) is kept through refills."""
    await store.balance(1, "global", RULES)
    await sql_execute(store, "UPDATE accounts SET balance = balance + 40 WHERE user_id = ?", 1)
    await sql_execute(
        store,
        "INSERT INTO account_entries (user_id, scope, delta, reason, actor_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        1,
        "global",
        40,
        "grant",
        99,
        START,
    )
    await assert_ledger_consistent(store)
    clock.advance(3 * 3600 + 1)
    assert await store.balance(1, "global", RULES) == _bal(50, START + 4 * 3600)
    assert await reasons(store) == [("allowance", 10), ("grant", 40)]
    job = await store.create_job(new_job(cost=45), rules=RULES)
    clock.advance(3600)
    assert (await store.balance(1, "global", RULES)).balance == 5  # 5 + 45 held: still above the cap
    await store.finish_job(job.id, delivered=True)
    clock.advance(3600)
    assert (await store.balance(1, "global", RULES)).balance == 15
    await assert_ledger_consistent(store)


async def test_create_job_without_rules_is_free_and_writes_no_ledger(store: Store) -> None:
    """rules=None stores cost 0, touches no account, and finishing it moves no credits."""
    job = await store.create_job(new_job(cost=5), rules=None)
    assert job.cost == 0
    assert await store.get_job(job.id) == job
    assert await store.ledger() == []
    assert await count(store, "accounts") == 0
    await store.finish_job(job.id, delivered=False)
    [entry] = await store.history(1, limit=1)
    assert entry.cost == 0
    assert await store.ledger() == []
    await assert_ledger_consistent(store)


async def test_zero_cost_job_with_rules_writes_no_ledger(store: Store) -> None:
    """A free job for a charged member reserves nothing."""
    job = await store.create_job(new_job(cost=0), rules=RULES)
    await store.finish_job(job.id, delivered=True)
    assert [e for e in await store.ledger() if e.job_id is not None] == []
    await assert_ledger_consistent(store)


async def test_insufficient_balance_for_a_new_member_stores_nothing(store: Store) -> None:
    """The error carries the balance; no job, no ledger entry and no account remain."""
    rules = AccountRules(allowance=2, period_seconds=3600.0, max_balance=20)
    with pytest.raises(InsufficientBalance) as caught:
        await store.create_job(new_job(user_id=5, cost=3), rules=rules)
    assert caught.value.cost == 3
    assert (caught.value.balance.user_id, caught.value.balance.balance) == (5, 2)
    assert caught.value.balance.next_refill_at == START + 3600
    assert await count(store, "jobs") == 0
    assert await store.active_jobs() == []
    assert await store.ledger() == []
    await assert_ledger_consistent(store)


async def test_insufficient_balance_for_an_existing_member_stores_nothing(store: Store) -> None:
    """A member who cannot pay keeps their balance and ledger exactly as they were."""
    first = await store.create_job(new_job(cost=8), rules=RULES)
    ledger = await store.ledger()
    with pytest.raises(InsufficientBalance) as caught:
        await store.create_job(new_job(cost=3), rules=RULES)
    assert caught.value.balance.balance == 2
    assert [j.id for j in await store.active_jobs()] == [first.id]
    assert await count(store, "jobs") == 1
    assert await store.ledger() == ledger
    assert (await store.balance(1, "global", RULES)).balance == 2
    await assert_ledger_consistent(store)


async def test_insufficient_balance_at_a_refill_boundary_rolls_back_and_refills_later(
    store: Store, clock: FakeClock
) -> None:
    """A refused job reports the refilled balance; the refill is applied once on the next touch."""
    rules = AccountRules(allowance=2, period_seconds=100.0, max_balance=20)
    await store.create_job(new_job(cost=2), rules=rules)
    ledger = await store.ledger()
    clock.advance(100)
    with pytest.raises(InsufficientBalance) as caught:
        await store.create_job(new_job(cost=3), rules=rules)
    assert caught.value.balance.balance == 2
    assert await store.ledger() == ledger
    assert await store.balance(1, "global", rules) == _bal(2, START + 200, held=2)
    assert await reasons(store) == [("allowance", 2), ("reserve", -2), ("allowance", 2)]
    await assert_ledger_consistent(store)


async def test_scopes_have_separate_balances(store: Store) -> None:
    """The same member has one account per scope."""
    await store.create_job(new_job(cost=4, scope="guild:1"), rules=RULES)
    await store.create_job(new_job(cost=1, scope="global"), rules=RULES)
    assert (await store.balance(1, "guild:1", RULES)).balance == 6
    assert (await store.balance(1, "global", RULES)).balance == 9
    assert await count(store, "accounts") == 2
    await assert_ledger_consistent(store)


async def test_ledger_is_consistent_after_a_mixed_sequence(store: Store, clock: FakeClock) -> None:
    """Creates, refusals, deliveries, refunds and refills across members keep balance == sum(ledger)."""
    rules = AccountRules(allowance=3, period_seconds=100.0, max_balance=6)
    jobs: list[Job] = []
    refused = 0
    for step in range(40):
        user = step % 3 + 1
        scope = "global" if step % 4 else "guild:9"
        try:
            jobs.append(await store.create_job(new_job(user_id=user, cost=step % 4 + 1, scope=scope), rules=rules))
        except InsufficientBalance:
            refused += 1
        if step % 2 and jobs:
            await store.finish_job(jobs.pop(0).id, delivered=step % 4 == 1)
        if step % 5 == 0:
            await store.balance(user, scope, rules)
        clock.advance(17)
        await assert_ledger_consistent(store)
    for job in jobs:
        await store.finish_job(job.id, delivered=False)
    await assert_ledger_consistent(store)
    assert await store.active_jobs() == []
    assert refused > 0
    by_reason = {e.reason for e in await store.ledger()}
    assert by_reason == {"allowance", "reserve", "capture", "refund"}


# -- meta -------------------------------------------------------------------------------------------


async def test_meta_get_set_and_overwrite(store: Store) -> None:
    """Missing keys are None; set stores; set again overwrites; keys are independent."""
    assert await store.get_meta("commands_hash") is None
    await store.set_meta("commands_hash", "abc")
    await store.set_meta("other", "x")
    assert await store.get_meta("commands_hash") == "abc"
    await store.set_meta("commands_hash", "def ✓")
    assert await store.get_meta("commands_hash") == "def ✓"
    assert await store.get_meta("other") == "x"
    assert await count(store, "meta") == 2


def _bal(balance: int, next_refill_at: float, user_id: int = 1, scope: str = "global", *, held: int = 0) -> Balance:
    """The Balance a test expects."""
    return Balance(user_id=user_id, scope=scope, balance=balance, next_refill_at=next_refill_at, held=held)


async def test_finish_only_from_cancels_a_queued_job_but_not_one_already_sent(store: Store) -> None:
    """A cancel may refund a job still waiting, never one that reAPI may already have charged for."""
    sent = await store.create_job(new_job(), rules=RULES)
    moved = await store.transition(sent.id, from_states=[JobState.QUEUED], to=JobState.SUBMITTING)
    assert moved is not None
    before = await job_row(store, sent.id)
    assert await store.finish_job(sent.id, delivered=False, only_from=[JobState.QUEUED]) is None
    assert await job_row(store, sent.id) == before

    waiting = await store.create_job(new_job(), rules=RULES)
    cancelled = await store.finish_job(waiting.id, delivered=False, error_code="cancelled", only_from=[JobState.QUEUED])
    assert cancelled is not None
    assert cancelled.state is JobState.FAILED
    assert await reasons(store) == [("allowance", 10), ("reserve", -1), ("reserve", -1), ("refund", 1)]
    assert await store.finish_job(waiting.id, delivered=False, only_from=[JobState.QUEUED]) is None
    assert await store.finish_job(sent.id, delivered=False, only_from=[]) is None
