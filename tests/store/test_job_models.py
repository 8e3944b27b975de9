"""Issue 13: a job stores its model, options and reAPI cost; the spend cap sums reAPI credits (both backends)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bot.store import JobState, SpendCapExceeded, SpendLimit, open_store
from tests.store.conftest import ONE_IMAGE, RULES, START, new_job
from tests.store.test_migration_0003 import old_job, open_at_version

if TYPE_CHECKING:
    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock

TODAY = START - 60
NB2_4_AT_2K = 190_800  # four Nano Banana 2 images at 2k: 4 x 47.7 credits, in millicredits


async def test_a_job_keeps_its_model_options_and_reapi_cost(store: Store) -> None:
    """What create_job stores comes back from get_job and the claim: model, resolution, count, cost."""
    new = new_job(
        model="gemini-3.1-flash-image-preview", resolution="2k", image_count=4, reapi_millicredits=NB2_4_AT_2K
    )
    job = await store.create_job(new, rules=RULES)
    again = await store.get_job(job.id)
    assert again is not None
    assert (again.model, again.resolution, again.image_count, again.reapi_millicredits) == (
        "gemini-3.1-flash-image-preview",
        "2k",
        4,
        NB2_4_AT_2K,
    )
    plain = await store.create_job(new_job(2), rules=RULES)
    assert (plain.model, plain.resolution, plain.image_count) == ("nano-banana-2-lite", None, 1)


async def test_the_spend_cap_counts_reapi_credits_not_jobs(store: Store, clock: FakeClock) -> None:
    """One 4-image 2k job weighs 190.8 credits: a cap of 200 leaves room for a cheap job, not a second dear one."""
    cap = SpendLimit(since=TODAY, max_millicredits=200_000)
    dear = new_job(
        model="gemini-3.1-flash-image-preview", resolution="2k", image_count=4, reapi_millicredits=NB2_4_AT_2K
    )
    first = await store.create_job(dear, rules=RULES, spend=cap)
    with pytest.raises(SpendCapExceeded) as exceeded:
        await store.create_job(dear, rules=RULES, spend=cap)
    assert (exceeded.value.counted, exceeded.value.cap) == (NB2_4_AT_2K, 200_000)
    cheap = await store.create_job(new_job(reapi_millicredits=4_400), rules=RULES, spend=cap)  # one z-image: fits
    assert cheap.state is JobState.QUEUED
    moved = await store.transition(
        first.id, from_states=[JobState.QUEUED], to=JobState.SUBMITTING, submit_started_at=clock.now
    )
    assert moved is not None
    usage = await store.usage([TODAY])
    assert (usage.days[0].charged, usage.days[0].spent_millicredits) == (4, NB2_4_AT_2K)
    assert (usage.in_flight, usage.in_flight_millicredits) == (1, 4_400)


async def test_migration_0010_gives_older_jobs_the_old_model_and_price(
    backend: Backend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows from before 0010 are one nano-banana-2-lite image at 20 credits, and still count against the cap."""
    old = await open_at_version(backend, clock, monkeypatch, 7)
    try:
        await old_job(old, "q", "queued")
    finally:
        await old.close()
    store = await open_store(backend.url, clock=clock)
    try:
        job = await store.get_job("q")
        assert job is not None
        assert (job.model, job.resolution, job.image_count, job.reapi_millicredits) == (
            "nano-banana-2-lite",
            None,
            1,
            ONE_IMAGE,
        )
        with pytest.raises(SpendCapExceeded):
            await store.create_job(new_job(2), rules=RULES, spend=SpendLimit(since=TODAY, max_millicredits=ONE_IMAGE))
    finally:
        await store.close()
