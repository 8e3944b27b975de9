"""What the members' own commands read and write: preferences (/preferences), unfinished jobs (/jobs) and images per
day (the /credits chart), in portable SQL over the driver seam (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.members import PRIVATE_MODES, MemberPreferences
from bot.store.sql_rows import TERMINAL, job_from_row

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from bot.store.db import Database
    from bot.store.jobs import Job

__all__ = ["MembersSql"]


class MembersSql:
    """The member-facing half of the SQL store (mixed into ``SqlStore``, which provides ``_db`` and ``_clock``)."""

    _db: Database
    _clock: Callable[[], float]

    async def preferences(self, user_id: int) -> MemberPreferences:
        """The member's preferences (the defaults when they never set any)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT aspect_ratio, model, private, notify FROM member_preferences WHERE user_id = ?", user_id
            )
        if row is None:
            return MemberPreferences(user_id)
        return MemberPreferences(
            user_id,
            aspect_ratio=row["aspect_ratio"],
            model=row["model"],
            private=str(row["private"]),
            notify=bool(row["notify"]),
        )

    async def save_preferences(self, preferences: MemberPreferences) -> MemberPreferences:
        """Store all of a member's preferences at once (insert or replace); returns what was stored.

        Raises
        ------
        ValueError
            ``private`` is not one of :data:`PRIVATE_MODES` (the engine validates first; this guards the column).
        """
        if preferences.private not in PRIVATE_MODES:
            raise ValueError(f"private must be one of {PRIVATE_MODES}")
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO member_preferences (user_id, aspect_ratio, model, private, notify, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET aspect_ratio = excluded.aspect_ratio, "
                "model = excluded.model, private = excluded.private, notify = excluded.notify, "
                "updated_at = excluded.updated_at",
                preferences.user_id,
                preferences.aspect_ratio,
                preferences.model,
                preferences.private,
                int(preferences.notify),
                self._clock(),
            )
        return preferences

    async def member_jobs(self, user_id: int, *, limit: int) -> list[Job]:
        """The member's unfinished jobs (queued, sent, generating, delivering), oldest first, at most ``limit``."""
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT * FROM jobs WHERE user_id = ? AND state NOT IN {TERMINAL} ORDER BY created_at, id LIMIT ?",
                user_id,
                limit,
            )
        return [job_from_row(r) for r in rows]

    async def member_images_per_day(self, user_id: int, day_starts: Sequence[float]) -> list[int]:
        """How many images the member received on each 24-hour day starting at ``day_starts`` (ascending)."""
        if not day_starts:
            return []
        end = day_starts[-1] + 86_400
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT finished_at FROM history WHERE user_id = ? AND state = 'delivered' "
                "AND finished_at >= ? AND finished_at < ?",
                user_id,
                day_starts[0],
                end,
            )
        counts = [0] * len(day_starts)
        for row in rows:
            at = float(row["finished_at"])
            # The last day that starts at or before the moment (days are ascending and 24 hours long).
            for index in range(len(day_starts) - 1, -1, -1):
                if day_starts[index] <= at < day_starts[index] + 86_400:
                    counts[index] += 1
                    break
        return counts
