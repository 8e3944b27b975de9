"""Migration 0003 back-fills the new columns from what a step-3 database holds, on both backends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bot.store.postgres
import bot.store.sqlite
from bot.store import open_store
from bot.store.migrations import migrations_for
from tests.store.conftest import RULES, START, sql_all, sql_execute

if TYPE_CHECKING:
    import pytest

    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock


async def open_at_version(backend: Backend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, version: int) -> Store:
    """Open the test database with only the migrations up to ``version`` applied."""
    with monkeypatch.context() as patch:
        for module in (bot.store.sqlite, bot.store.postgres):
            patch.setattr(module, "migrations_for", lambda name: migrations_for(name)[:version])
        return await open_store(backend.url, clock=clock)


async def old_job(store: Store, job_id: str, state: str, **values: Any) -> None:
    """A jobs row as step 3 wrote it."""
    row: dict[str, Any] = {
        "id": job_id,
        "kind": "imagine",
        "state": state,
        "user_id": 1,
        "channel_id": 200,
        "prompt": "a cat",
        "aspect_ratio": "1:1",
        "upload_limit": 1024,
        "cost": 1,
        "scope": "global",
        "created_at": START,
        "updated_at": START,
    }
    row.update(values)
    await sql_execute(
        store, f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", *row.values()
    )


async def test_held_is_back_filled_from_the_costs_of_unfinished_jobs(
    backend: Backend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each account holds what its unfinished jobs cost; finished jobs and other members' jobs do not count."""
    old = await open_at_version(backend, clock, monkeypatch, 2)
    try:
        for user_id, scope in ((1, "global"), (1, "guild:5"), (2, "global")):
            await sql_execute(
                old,
                "INSERT INTO accounts (user_id, scope, balance, period_start) VALUES (?, ?, 4, ?)",
                user_id,
                scope,
                START,
            )
        await old_job(old, "q", "queued", cost=2)
        await old_job(old, "r", "running", cost=3, task_id="t")
        await old_job(old, "g", "delivering", cost=4, task_id="t", scope="guild:5")
        await old_job(old, "d", "delivered", cost=5, task_id="t")
        await old_job(old, "f", "failed", cost=6)
    finally:
        await old.close()
    store = await open_store(backend.url, clock=clock)
    try:
        rows = await sql_all(store, "SELECT user_id, scope, balance, held FROM accounts ORDER BY user_id, scope")
        assert [(r["user_id"], r["scope"], r["balance"], r["held"]) for r in rows] == [
            (1, "global", 4, 5),
            (1, "guild:5", 4, 4),
            (2, "global", 4, 0),
        ]
        assert (await store.balance(1, "global", RULES)).held == 5
    finally:
        await store.close()


async def test_charged_is_back_filled_from_task_ids_states_and_failure_codes(
    backend: Backend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Charged: a task id unless the task itself failed, an unknown outcome, or a job still in reAPI's hands."""
    expected = {
        "queued": ("queued", None, None, False),
        "submitting": ("submitting", None, None, True),
        "running": ("running", "t1", None, True),
        "delivering": ("delivering", "t2", None, True),
        "delivered": ("delivered", "t3", None, True),
        "poll_429": ("failed", "t4", "reapi_unavailable", True),
        "task_failed": ("failed", "t5", "task_failed", False),
        "moderated": ("failed", "t6", "content_policy", False),
        "unknown": ("failed", None, "outcome_unknown", True),
        "interrupted": ("failed", None, "interrupted_submit", True),
        "refused": ("failed", None, "reapi_402", False),
        "cancelled": ("failed", None, "cancelled", False),
    }
    old = await open_at_version(backend, clock, monkeypatch, 2)
    try:
        for job_id, (state, task_id, code, _) in expected.items():
            await old_job(old, job_id, state, task_id=task_id, error_code=code)
        await sql_execute(
            old,
            "INSERT INTO history (job_id, user_id, channel_id, kind, prompt, aspect_ratio, state, cost, "
            "created_at, finished_at) VALUES ('refused', 1, 200, 'imagine', 'a cat', '1:1', 'failed', 0, ?, ?)",
            START,
            START,
        )
    finally:
        await old.close()
    store = await open_store(backend.url, clock=clock)
    try:
        for job_id, (*_, charged) in expected.items():
            job = await store.get_job(job_id)
            assert job is not None
            assert (job_id, job.charged, job.notice_pending, job.post_started_at) == (job_id, charged, False, None)
        # Since 0015 a member's history is their ended jobs (the old table's rows, copies of them, are gone): each
        # entry carries its job's own failure code, the old row of 'refused' (written without one) included.
        entries = {e.job_id: e.error_code for e in await store.history(1, limit=20)}
        assert entries == {j: code for j, (state, _, code, _) in expected.items() if state in ("delivered", "failed")}
    finally:
        await store.close()
