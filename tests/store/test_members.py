"""Member preferences, a member's unfinished jobs and their images per day, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bot.store import JobState, open_store
from bot.store.members import MemberPreferences
from tests.store.conftest import RULES, new_job, sql_all

if TYPE_CHECKING:
    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock


async def test_a_member_without_a_row_has_the_defaults(store: Store) -> None:
    assert await store.preferences(7) == MemberPreferences(7, aspect_ratio=None, model=None, private="off")
    assert await sql_all(store, "SELECT * FROM member_preferences") == []


async def test_preferences_are_saved_replaced_and_survive_reopening(backend: Backend, clock: FakeClock) -> None:
    first = await open_store(backend.url, clock=clock)
    try:
        wanted = MemberPreferences(7, aspect_ratio="16:9", model="nano-banana-2-lite", private="dm", notify=True)
        assert await first.save_preferences(wanted) == wanted
        # A second save replaces every field (one row per member), including back to the defaults.
        await first.save_preferences(MemberPreferences(7, aspect_ratio="9:16", private="ephemeral"))
        await first.save_preferences(MemberPreferences(8, notify=True))
    finally:
        await first.close()
    second = await open_store(backend.url, clock=clock)
    try:
        assert await second.preferences(7) == MemberPreferences(7, aspect_ratio="9:16", private="ephemeral")
        assert await second.preferences(8) == MemberPreferences(8, notify=True)
        rows = await sql_all(second, "SELECT user_id FROM member_preferences ORDER BY user_id")
        assert [int(r["user_id"]) for r in rows] == [7, 8]
    finally:
        await second.close()


async def test_an_unknown_private_mode_is_refused_and_nothing_stored(store: Store) -> None:
    with pytest.raises(ValueError, match="private"):
        await store.save_preferences(MemberPreferences(7, private="loud"))
    assert await store.preferences(7) == MemberPreferences(7)


async def test_member_jobs_lists_only_that_members_unfinished_jobs_oldest_first(store: Store, clock: FakeClock) -> None:
    first = await store.create_job(new_job(1, prompt="first"), rules=RULES)
    clock.advance(1)
    other = await store.create_job(new_job(2), rules=RULES)
    clock.advance(1)
    second = await store.create_job(new_job(1, prompt="second"), rules=RULES)
    clock.advance(1)
    done = await store.create_job(new_job(1, prompt="done"), rules=RULES)
    await store.finish_job(done.id, delivered=True, result_message_id=5)
    await store.mark_submitting(second.id, at=clock())

    jobs = await store.member_jobs(1, limit=10)
    assert [j.id for j in jobs] == [first.id, second.id]
    assert [j.state for j in jobs] == [JobState.QUEUED, JobState.SUBMITTING]
    assert [j.id for j in await store.member_jobs(1, limit=1)] == [first.id]
    assert [j.id for j in await store.member_jobs(2, limit=10)] == [other.id]


async def test_member_images_per_day_counts_delivered_images_in_each_day(store: Store, clock: FakeClock) -> None:
    day = 86_400.0
    start = clock()
    days = [start - 2 * day, start - day, start]
    clock.now = start - 2 * day + 10
    for delivered in (True, True, False):  # two images on day one, and a failure that does not count
        job = await store.create_job(new_job(1), rules=RULES)
        await store.finish_job(job.id, delivered=delivered, result_message_id=1 if delivered else None)
    clock.now = start + 5
    job = await store.create_job(new_job(1), rules=RULES)
    await store.finish_job(job.id, delivered=True, result_message_id=2)
    other = await store.create_job(new_job(2), rules=RULES)  # someone else's image
    await store.finish_job(other.id, delivered=True, result_message_id=3)

    assert await store.member_images_per_day(1, days) == [2, 0, 1]
    assert await store.member_images_per_day(2, days) == [0, 0, 1]
    assert await store.member_images_per_day(1, []) == []
