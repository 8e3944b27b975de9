"""Jobs made from rows without Job.__init__ (bot.store.sql_rows) are the same records Job(...) makes (both backends)."""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import asdict
from typing import TYPE_CHECKING

import pytest

from bot.store import Job, JobState, QueueLimits
from bot.store.sql import SqlStore
from tests.store.conftest import RULES, START, new_job

if TYPE_CHECKING:
    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock, StoreFactory


def _rebuilt(job: Job) -> Job:
    """The same job through the dataclass's own constructor, field by field."""
    return Job(**{name: getattr(job, name) for name in job.__dataclass_fields__})


async def test_created_and_read_jobs_equal_jobs_built_by_their_constructor(store: Store) -> None:
    """Every field is set, equality, hash and repr hold, and the record stays frozen."""
    new = new_job(7, image_urls=("https://example.invalid/a.png",), sources=("s",), simulated=True, locale="de")
    created = await store.create_job(new, rules=RULES)
    fields = {name: getattr(new, name) for name in new.__dataclass_fields__}
    assert created == Job(**fields, id=created.id, state=JobState.QUEUED, created_at=START)
    read = await store.get_job(created.id)
    finished = await store.finish_job(created.id, delivered=True, result_message_id=99)
    assert read is not None
    assert finished is not None
    for job in (created, read, finished):
        twin = _rebuilt(job)
        assert job == twin
        assert (hash(job), repr(job)) == (hash(twin), repr(twin))
        assert asdict(job) == asdict(twin)
    assert created == read
    assert (finished.state, finished.result_message_id, finished.image_urls) == (
        JobState.DELIVERED,
        99,
        ("https://example.invalid/a.png",),
    )
    with pytest.raises(AttributeError):
        finished.state = JobState.FAILED  # type: ignore[misc]


async def test_every_way_create_job_stores_a_job_returns_the_job_it_stored(store: Store) -> None:
    """create_job builds the Job it returns from what it inserted, never reading the row back: on every path (a new
    account, a known one reserved in one statement or a batch of them, no charge, limits checked) that Job is the
    stored row's."""
    rich = {"image_urls": ("https://example.invalid/a.png",), "sources": ("s",), "simulated": True, "locale": "de"}
    created = [await store.create_job(new_job(7, **rich), rules=RULES)]  # a new account: the full transaction
    created.append(await store.create_job(new_job(7, **rich), rules=RULES))  # a known account: at once
    created += await asyncio.gather(*(store.create_job(new_job(10 + n, **rich), rules=RULES) for n in range(4)))
    created += await asyncio.gather(*(store.create_job(new_job(10 + n, **rich), rules=RULES) for n in range(4)))
    created.append(await store.create_job(new_job(8, **rich), rules=None))  # nothing to reserve
    limits = QueueLimits(max_queued=100, per_user_queued=100)
    created.append(await store.create_job(new_job(7, **rich), rules=RULES, queue=limits))
    for job in created:
        assert job == await store.get_job(job.id)
        assert (job.state, job.created_at) == (JobState.QUEUED, START)
    assert [job.cost for job in created[-2:]] == [0, 1]


# Text that a JSON document, an array literal or a CSV would each mangle if quoted or escaped by hand.
AWKWARD_TEXTS = (
    'say "hi" \\ back\\slash, {"json": [1]} and NULL',
    "tabs\tnew\nlines\r\x01\x1f \u2028 \u2029 ünïcødé 🐱‍👤 \u202eright-to-left",
    "",
    "null",
)
HUGE_ID = 2**63 - 1  # a snowflake column holds any signed 64-bit value


async def test_awkward_values_keep_every_bit_through_batched_creations_and_settles(
    store: Store, clock: FakeClock, backend: Backend
) -> None:
    """Jobs created and ended together (PostgreSQL: one statement for each batch, the new jobs sent as one array of
    the jobs table's rows, the settles as arrays, one per column) store exactly what a job made alone would: every
    character of the text, 64-bit ids, the clock's every bit, and the history and error text too."""
    clock.now = START + 0.1234567890123  # a time whose shortest decimal form has 17 digits
    texts = AWKWARD_TEXTS
    new = [
        new_job(
            30 + n,
            prompt=text or "x",
            guild_id=HUGE_ID - n,
            channel_id=HUGE_ID - 10 - n,
            image_urls=(f"https://example.invalid/{n}?q={text}",),
            sources=(text, "s"),
            locale="pt-BR",
        )
        for n, text in enumerate(texts)
    ]
    await asyncio.gather(*(store.create_job(job, rules=RULES) for job in new))  # new accounts: each on its own
    created = await asyncio.gather(*(store.create_job(job, rules=RULES) for job in new))  # known accounts: batched
    for job, asked in zip(created, new, strict=True):
        assert job == await store.get_job(job.id)
        assert (job.prompt, job.guild_id, job.sources, job.created_at) == (
            asked.prompt,
            asked.guild_id,
            asked.sources,
            clock.now,
        )
    clock.advance(1.000000000000001)
    ended = await asyncio.gather(
        *(
            store.finish_job(job.id, delivered=n % 2 == 0, result_message_id=HUGE_ID - n, error_message=text or None)
            for n, (job, text) in enumerate(zip(created, texts, strict=True))
        )
    )
    if backend.name == "postgres":  # each batch went as one statement (else the one-by-one path was tested)
        assert isinstance(store, SqlStore)
        assert [batcher.statements for batcher in store._batched()] == [1, 1, 0]
    for n, (job, text) in enumerate(zip(ended, texts, strict=True)):
        assert job is not None
        assert job == await store.get_job(job.id)
        assert (job.finished_at, job.result_message_id, job.error_message) == (clock.now, HUGE_ID - n, text or None)
        entries = await store.history(job.user_id, limit=5)
        latest = entries[0]
        assert (latest.job_id, latest.prompt, latest.error_message) == (job.id, job.prompt, text or None)


async def test_a_first_creation_needs_no_second_connection(open_test_store: StoreFactory) -> None:
    """A fresh store's first creations, as many at once as its pool has connections, each inside its own
    transaction: what the store reads once on first use (PostgreSQL: the column types) is read in that transaction,
    not on another pooled connection that every transaction is waiting for."""
    store = await open_test_store(pool_size=2)
    limits = QueueLimits(max_queued=100, per_user_queued=100)
    creations = (store.create_job(new_job(user_id), rules=RULES, queue=limits) for user_id in (1, 2))
    created = await asyncio.wait_for(asyncio.gather(*creations), 10)
    assert [job.user_id for job in created] == [1, 2]


async def test_job_ids_made_one_after_another_sit_side_by_side(store: Store) -> None:
    """A job id is 12 hex digits (the buttons' custom ids match that), the first 8 the microsecond it was made
    (modulo 2**32: ~72 minutes), so that consecutive jobs share the index pages keyed by job id instead of each
    dirtying a page of its own (random ids: SQLite's WAL pages per ledger pair grew 2.5 -> 8.8 with the tables)."""
    ids = [(await store.create_job(new_job(7), rules=None)).id for _ in range(200)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{12}", job_id) for job_id in ids)
    micros = [int(job_id[:8], 16) for job_id in ids]
    steps = [(later - earlier) % 2**32 for earlier, later in itertools.pairwise(micros)]
    assert all(step < 10**7 for step in steps), steps  # never backwards (a step back would be ~2**32), < 10 s each
    assert (micros[-1] - micros[0]) % 2**32 < 60 * 10**6  # the 200 jobs were made within a minute
