"""Jobs made from rows without Job.__init__ (bot.store.sql_rows) are the same records Job(...) makes (both backends)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import pytest

from bot.store import Job, JobState
from tests.store.conftest import RULES, START, new_job

if TYPE_CHECKING:
    from bot.store import Store


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
