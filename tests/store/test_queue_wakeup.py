"""Waking workers when work arrives, and SQLite's refusal to serve a second bot process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import asyncpg
import pytest

from bot.store import ClaimLimits, DatabaseInUse, open_store
from bot.store.postgres import PostgresDatabase
from tests.store.conftest import new_job, sql_all

if TYPE_CHECKING:
    from pathlib import Path

    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock, StoreFactory

LONG = 60.0  # a wait that would make the test fail by timing out if the wake-up never came
BOUND = 20.0  # how long a test waits at most for a wake-up (far above the ~1 s it takes)
OPEN = ClaimLimits(max_running=10, per_user_running=10)


async def assert_still_waiting(waiter: asyncio.Task[None]) -> None:
    """The waiter has not returned on its own (checked over a short real pause)."""
    done, _ = await asyncio.wait({waiter}, timeout=0.3)
    assert not done, "wait_for_work returned with nothing to wake it"


async def ready_to_wait(store: Store) -> None:
    """Let the store set up its listening (a fresh listen returns at once: work may have come meanwhile)."""
    await store.wait_for_work(0.05)


async def test_wait_for_work_returns_after_its_timeout(store: Store) -> None:
    """With nothing happening the wait ends by itself, without an error."""
    await ready_to_wait(store)
    started = time.monotonic()
    await store.wait_for_work(0.2)
    assert time.monotonic() - started >= 0.15


async def test_a_new_job_wakes_a_waiting_worker(store: Store) -> None:
    """A job created by the same store wakes its waiting worker (SQLite: in process; PostgreSQL: NOTIFY)."""
    await ready_to_wait(store)
    waiter = asyncio.create_task(store.wait_for_work(LONG))
    await assert_still_waiting(waiter)
    await store.create_job(new_job(cost=0), rules=None)
    await asyncio.wait_for(waiter, BOUND)


async def test_a_job_created_by_another_process_wakes_a_worker(backend: Backend, open_test_store: StoreFactory) -> None:
    """On PostgreSQL a job created through another store (another process) wakes the worker within a second."""
    if backend.name != "postgres":
        pytest.skip("SQLite serves one process: its wake-ups are in-process only")
    worker, other = await open_test_store(), await open_test_store()
    await ready_to_wait(worker)
    waiter = asyncio.create_task(worker.wait_for_work(LONG))
    await assert_still_waiting(waiter)
    await other.create_job(new_job(cost=0), rules=None)
    await asyncio.wait_for(waiter, BOUND)


@pytest.mark.parametrize("how", ["finish", "release"])
async def test_a_freed_slot_wakes_another_process(backend: Backend, open_test_store: StoreFactory, how: str) -> None:
    """Ending a job or releasing a lease elsewhere wakes the worker: a slot may be free."""
    if backend.name != "postgres":
        pytest.skip("SQLite serves one process: its wake-ups are in-process only")
    worker, other = await open_test_store(), await open_test_store()
    job = await other.create_job(new_job(cost=0), rules=None)
    assert await other.claim_next("other", lease_seconds=30, limits=OPEN) is not None
    await ready_to_wait(worker)
    await worker.wait_for_work(0.05)  # take the creation's wake-up, if it came late
    waiter = asyncio.create_task(worker.wait_for_work(LONG))
    await assert_still_waiting(waiter)
    if how == "finish":
        await other.finish_job(job.id, delivered=False)
    else:
        await other.release("other", [job.id])
    await asyncio.wait_for(waiter, BOUND)


async def test_a_dropped_listen_connection_falls_back_to_the_timeout_and_listens_again(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    """Killing the listening connection never raises; the store listens again and wakes as before."""
    if backend.name != "postgres":
        pytest.skip("only PostgreSQL listens on a connection")
    worker, other = await open_test_store(), await open_test_store()
    await ready_to_wait(worker)
    listening = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
    (row,) = await sql_all(other, listening)
    await sql_all(other, "SELECT pg_terminate_backend(?)", row["pid"])
    # A long wait returns without an error: woken by the loss, then by listening again (about a second later:
    # anything sent meanwhile was missed, so the caller should look), not by its timeout.
    for _ in range(3):
        await asyncio.wait_for(worker.wait_for_work(LONG), BOUND)
        if {r["pid"] for r in await sql_all(other, listening)} - {row["pid"]}:
            break
    else:
        pytest.fail("the store did not listen again")
    waiter = asyncio.create_task(worker.wait_for_work(LONG))
    await assert_still_waiting(waiter)
    await other.create_job(new_job(cost=0), rules=None)
    await asyncio.wait_for(waiter, BOUND)


async def test_a_listen_connection_that_cannot_be_opened_means_polling(backend: Backend) -> None:
    """When the listening connection cannot be opened, waits end at their timeout without raising."""
    if backend.name != "postgres":
        pytest.skip("only PostgreSQL listens on a connection")
    pool = await asyncpg.create_pool(backend.url, min_size=1, max_size=1)
    db = PostgresDatabase(pool, dsn="postgresql://imaginebot@127.0.0.1:9/nowhere")  # nothing listens on port 9
    try:
        for _ in range(2):
            started = time.monotonic()
            await db.wait_for_work(0.3)
            assert time.monotonic() - started >= 0.25
    finally:
        await db.close()


# -- SQLite serves one process ----------------------------------------------------------------------


def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file in the test's folder."""
    return f"sqlite:///{tmp_path / 'bot.sqlite3'}"


async def test_sqlite_refuses_a_second_exclusive_opener(tmp_path: Path, clock: FakeClock) -> None:
    """While one bot holds the file, a second exclusive open fails with DatabaseInUse; tools may still open it."""
    url = sqlite_url(tmp_path)
    first = await open_store(url, clock=clock, exclusive=True)
    try:
        with pytest.raises(DatabaseInUse) as refused:
            await open_store(url, clock=clock, exclusive=True)
        message = str(refused.value)
        assert str(tmp_path / "bot.sqlite3") in message
        assert "one bot process" in message
        assert "PostgreSQL" in message
        tool = await open_store(url, clock=clock)  # CLI tools open without exclusive
        await tool.close()
    finally:
        await first.close()
    again = await open_store(url, clock=clock, exclusive=True)  # closing released the lock
    await again.close()


def test_sqlite_refuses_an_exclusive_opener_in_another_process(tmp_path: Path) -> None:
    """A second bot process on the same SQLite file is told so and refused."""
    url = sqlite_url(tmp_path)
    script = (
        "import asyncio, sys\n"
        "from bot.store import DatabaseInUse, open_store\n"
        "async def main():\n"
        "    try:\n"
        "        store = await open_store(sys.argv[1], exclusive=True)\n"
        "    except DatabaseInUse as error:\n"
        "        print(error)\n"
        "        return 3\n"
        "    await store.close()\n"
        "    return 0\n"
        "sys.exit(asyncio.run(main()))\n"
    )

    async def hold_and_try() -> subprocess.CompletedProcess[str]:
        store = await open_store(url, exclusive=True)
        try:
            return await asyncio.to_thread(
                subprocess.run, [sys.executable, "-c", script, url], capture_output=True, text=True, timeout=60
            )
        finally:
            await store.close()

    refused = asyncio.run(hold_and_try())
    assert refused.returncode == 3, refused.stderr
    assert "one bot process" in refused.stdout
    alone = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, timeout=60)
    assert alone.returncode == 0, alone.stderr
