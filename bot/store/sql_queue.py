"""The job queue in portable SQL: fair claims under the concurrency limits, leases, and waking workers.

A job *holds a slot* while it is unfinished and its lease is live (``lease_until > now``); it is *waiting* while
it is queued without a live lease. Every claim first updates the one ``queue_lock`` row, so counting the slots
held and taking one happen one claim at a time in every process (PostgreSQL runs READ COMMITTED); the chosen row
is then locked with ``FOR UPDATE … SKIP LOCKED``, passing over a job another transaction is changing right now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.sql_rows import TERMINAL, job_from_row

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from bot.store.db import Database, Tx
    from bot.store.jobs import Job
    from bot.store.records import ClaimLimits

__all__ = ["QueueSql"]

# Slots held, in all and per member; one parameter: now.
_HELD = f"SELECT COUNT(*) AS n FROM jobs WHERE state NOT IN {TERMINAL} AND lease_until > ?"
_HELD_PER_MEMBER = (
    f"SELECT user_id, COUNT(*) AS n FROM jobs WHERE state NOT IN {TERMINAL} AND lease_until > ? GROUP BY user_id"
)
# Waiting jobs in the fair order's terms: ``turn`` = slots the member holds + the job's 0-based place among the
# member's waiting jobs, so a member's tenth job never goes before another member's first. Parameters: now, now.
_RANKED = (
    "SELECT w.id, w.created_at, COALESCE(h.n, 0) AS held, "
    "COALESCE(h.n, 0) + ROW_NUMBER() OVER (PARTITION BY w.user_id ORDER BY w.created_at, w.id) - 1 AS turn "
    f"FROM jobs w LEFT JOIN ({_HELD_PER_MEMBER}) h ON h.user_id = w.user_id "
    "WHERE w.state = 'queued' AND (w.lease_until IS NULL OR w.lease_until <= ?)"
)
_FAIR_ORDER = "r.turn, r.created_at, r.id"


# Most ids one statement's ``IN`` list holds; a longer batch takes several statements.
_CHUNK = 256


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" for _ in values)


def _id_lists(ids: Collection[str]) -> list[list[str]]:
    """``ids`` in lists of a few fixed lengths (powers of two up to ``_CHUNK``), padded by repeating their last id.

    Each distinct SQL text is one more prepared statement the driver keeps (sqlite3 caches 512 per connection,
    asyncpg its own per connection), one with n placeholders taking memory in proportion to n: an ``IN`` list as
    long as each batch made that cache grow with every new batch size (issue 12's soak: ~0.5 KB per finished job,
    native memory). A repeated id changes no ``IN`` list's result.
    """
    ordered = list(ids)
    lists = []
    for start in range(0, len(ordered), _CHUNK):
        part = ordered[start : start + _CHUNK]
        length = 1 << (len(part) - 1).bit_length()
        lists.append(part + [part[-1]] * (length - len(part)))
    return lists


class QueueSql:
    """Mixed into SqlStore: the queue's claims and leases, each one transaction unit (``Database.run``)."""

    _db: Database
    _clock: Callable[[], float]

    async def claim_next(self, worker: str, *, lease_seconds: float, limits: ClaimLimits) -> Job | None:
        """Claim the next waiting job in fair order if the limits leave it a slot (see ``Store.claim_next``)."""
        claimed = await self.claim_many(worker, 1, lease_seconds=lease_seconds, limits=limits)
        return claimed[0] if claimed else None

    async def claim_many(
        self, worker: str, n: int, *, lease_seconds: float, limits: ClaimLimits, orphans: bool = False
    ) -> list[Job]:
        """Claim up to ``n`` jobs in one transaction: with ``orphans``, first the ones successive claim_orphan calls
        would take, then the waiting ones successive claim_next calls would take (see ``Store.claim_many``).

        Taking a member's job leaves the turn of that member's other waiting jobs unchanged (one slot more held,
        one place less among the waiting), so the fair order does not move while claiming: the first jobs of it
        whose turn is below ``per_user_running``, as many as the free slots allow, are exactly those.
        """
        if n <= 0:
            return []
        now = self._clock()
        lock = self._skip_locked()

        async def unit(tx: Tx) -> list[Job]:
            held = await self._lock_and_count(tx, now)
            taken = await self._orphans(tx, now, held, n, worker, lease_seconds, limits) if orphans else []
            room = min(n - len(taken), limits.max_running - held - len(taken))
            if room <= 0:
                return taken
            rows = await tx.fetchall(
                f"SELECT j.id FROM jobs j JOIN ({_RANKED}) r ON r.id = j.id "
                "WHERE j.state = 'queued' AND (j.lease_until IS NULL OR j.lease_until <= ?) AND r.turn < ? "
                f"ORDER BY {_FAIR_ORDER} LIMIT ?{lock}",
                now,
                now,
                now,
                limits.per_user_running,
                room,
            )
            return taken + await self._take(tx, [str(r["id"]) for r in rows], worker, now, lease_seconds)

        return await self._db.run(unit)

    async def claim_orphan(self, worker: str, *, lease_seconds: float, limits: ClaimLimits) -> Job | None:
        """Claim the oldest unfinished job past 'queued' whose lease ran out (see ``Store.claim_orphan``)."""
        now = self._clock()

        async def unit(tx: Tx) -> list[Job]:
            held = await self._lock_and_count(tx, now)
            return await self._orphans(tx, now, held, 1, worker, lease_seconds, limits)

        taken = await self._db.run(unit)
        return taken[0] if taken else None

    async def touch_notices(self, job_ids: Collection[str]) -> None:
        """Touch these jobs' pending notices (``updated_at`` to now): a take passes over them for its ``idle``."""
        ids = set(job_ids)
        if not ids:
            return
        now = self._clock()

        async def unit(tx: Tx) -> None:
            for part in _id_lists(ids):
                await tx.execute(
                    f"UPDATE jobs SET updated_at = ? WHERE id IN ({_marks(part)}) AND notice_pending = 1", now, *part
                )

        await self._db.run(unit)

    async def renew_leases(self, worker: str, job_ids: Collection[str], *, lease_seconds: float) -> set[str]:
        """Extend the live leases ``worker`` holds on these unfinished jobs; return the ids it no longer holds."""
        ids = set(job_ids)
        if not ids:
            return set()
        now = self._clock()

        async def unit(tx: Tx) -> set[str]:
            held: set[str] = set()
            for part in _id_lists(ids):
                rows = await tx.fetchall(
                    f"UPDATE jobs SET lease_until = ? WHERE id IN ({_marks(part)}) AND claimed_by = ? "
                    f"AND state NOT IN {TERMINAL} AND lease_until > ? RETURNING id",
                    now + lease_seconds,
                    *part,
                    worker,
                    now,
                )
                held.update(str(r["id"]) for r in rows)
            return held

        return ids - await self._db.run(unit)

    async def release(self, worker: str, job_ids: Collection[str]) -> None:
        """End now the live leases ``worker`` holds on these jobs, and wake the workers of every process."""
        ids = set(job_ids)
        if not ids:
            return
        now = self._clock()

        async def unit(tx: Tx) -> None:
            released = 0
            for part in _id_lists(ids):
                released += await tx.execute(
                    f"UPDATE jobs SET lease_until = ? WHERE id IN ({_marks(part)}) AND claimed_by = ? "
                    f"AND state NOT IN {TERMINAL} AND lease_until > ?",
                    now,
                    *part,
                    worker,
                    now,
                )
            if released:
                await self._db.notify_work(tx)

        await self._db.run(unit)

    async def waiting_places(self) -> dict[str, int]:
        """The 1-based place of every waiting job in the fair order claim_next follows."""
        now = self._clock()
        rows = await self._db.fetch_all_atomic(
            f"SELECT r.id, ROW_NUMBER() OVER (ORDER BY {_FAIR_ORDER}) AS place FROM ({_RANKED}) r", now, now
        )
        return {str(r["id"]): int(r["place"]) for r in rows}

    async def held_slots(self) -> int:
        """How many jobs hold a runner slot now."""
        row = await self._db.fetch_atomic(_HELD, self._clock())
        return int(row["n"]) if row else 0

    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109 (returns normally at the deadline: not a cancel scope)
        """Return when work may be available, or after ``timeout`` (the backend's wake-up; never raises for it)."""
        await self._db.wait_for_work(timeout)

    # -- inside a claim's transaction -------------------------------------------------------------

    def _skip_locked(self) -> str:
        # Only the jobs row: the ranking beside it is computed, and PostgreSQL cannot lock rows of a window.
        return " FOR UPDATE OF j SKIP LOCKED" if self._db.locks_rows else ""

    async def _orphans(
        self, tx: Tx, now: float, held: int, n: int, worker: str, lease_seconds: float, limits: ClaimLimits
    ) -> list[Job]:
        """Up to ``n`` orphans, oldest first, each under the limits as the ones before it left them.

        Under full limits only a 'submitting' orphan qualifies: its resume asks reAPI what became of the POST and
        settles it, never re-POSTs, so it takes little and must not wait behind the jobs holding the slots.
        """
        taken: list[Job] = []
        for _ in range(n):
            row = await tx.fetchone(
                f"SELECT j.id FROM jobs j LEFT JOIN ({_HELD_PER_MEMBER}) h ON h.user_id = j.user_id "
                # The NOT IN term changes no result; it is jobs_claim's WHERE, which SQLite's planner must see
                # word for word to read that partial index instead of scanning every job ever created.
                f"WHERE j.state NOT IN {TERMINAL} AND j.state IN ('submitting', 'running', 'delivering') "
                "AND (j.lease_until IS NULL OR j.lease_until <= ?) "
                "AND (j.state = 'submitting' OR (? = 1 AND COALESCE(h.n, 0) < ?)) "
                f"ORDER BY j.created_at, j.id LIMIT 1{self._skip_locked()}",
                now,
                now,
                int(held + len(taken) < limits.max_running),
                limits.per_user_running,
            )
            if row is None:
                break
            taken += await self._take(tx, [str(row["id"])], worker, now, lease_seconds)
        return taken

    @staticmethod
    async def _lock_and_count(tx: Tx, now: float) -> int:
        """Take the queue lock (claims then count one after another), and count the slots held in all."""
        await tx.execute("UPDATE queue_lock SET taken = ? WHERE id = 1", now)
        # A statement of its own, after the lock: on PostgreSQL it then sees every claim committed before.
        row = await tx.fetchone(_HELD, now)
        return int(row["n"]) if row else 0

    @staticmethod
    async def _take(tx: Tx, job_ids: list[str], worker: str, now: float, lease_seconds: float) -> list[Job]:
        """Lease these jobs (locked by this transaction, or under SQLite's write lock) to ``worker``, in this order."""
        if not job_ids:
            return []
        rows = []
        for part in _id_lists(job_ids):
            rows += await tx.fetchall(
                "UPDATE jobs SET claimed_by = ?, lease_until = ?, attempt = attempt + 1, updated_at = ? "
                f"WHERE id IN ({_marks(part)}) RETURNING *",
                worker,
                now + lease_seconds,
                now,
                *part,
            )
        taken = {job.id: job for job in map(job_from_row, rows)}
        assert len(taken) == len(job_ids)
        return [taken[job_id] for job_id in job_ids]
