"""Server settings in portable SQL: one document per server, a global version counter, and the audit log.

Every change bumps ``settings_version`` and stamps the server's row with the new value in one transaction, so a
process that remembers the last version it read learns about changes anywhere with one single-row read, and
fetches only the rows newer than that. A change is conditional on the row version the writer read (optimistic
concurrency): two admins saving at once cannot silently undo each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from bot.store.db import Database

__all__ = ["MemberPause", "SettingsChange", "SettingsConflict", "SettingsSql", "SettingsStorage", "StoredSettings"]


@dataclass(frozen=True, slots=True)
class StoredSettings:
    """One server's stored settings document and the version it was written at (0: never written)."""

    guild_id: int
    data: str
    version: int


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """One audit-log line: who changed which setting of a server, from what to what, and when."""

    guild_id: int
    actor_id: int
    setting: str
    old_value: str | None
    new_value: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class MemberPause:
    """A member paused in a server (``guild_id`` None: in DMs) until ``until`` after ``strikes`` strikes."""

    user_id: int
    guild_id: int | None
    until: float
    strikes: int


class SettingsConflict(Exception):
    """The server's settings changed since they were read; read them again and retry."""


class SettingsStorage(Protocol):
    """The settings part of the Store protocol (SettingsSql implements it for both backends)."""

    async def settings_version(self) -> int:
        """The version of the newest settings change anywhere."""
        ...

    async def guild_settings_since(self, version: int) -> tuple[int, list[StoredSettings]]:
        """The current version and every server's settings written after ``version``."""
        ...

    async def guild_settings(self, guild_id: int) -> StoredSettings:
        """One server's settings as stored now."""
        ...

    async def save_guild_settings(
        self,
        guild_id: int,
        data: str,
        *,
        expected_version: int,
        actor_id: int,
        changes: Sequence[tuple[str, str | None, str | None]],
    ) -> int:
        """Store a server's settings if still at ``expected_version`` (else SettingsConflict)."""
        ...

    async def settings_audit(self, guild_id: int, *, limit: int) -> list[SettingsChange]:
        """A server's newest settings changes first."""
        ...

    async def content_policy_strikes(self, user_id: int, guild_id: int | None, *, since: float) -> int:
        """A member's content-policy failures here since ``since``."""
        ...

    async def pause_member(self, user_id: int, guild_id: int | None, *, until: float, strikes: int) -> int:
        """Pause a member here until ``until`` (bumping the settings version); returns the new version."""
        ...

    async def member_pauses(self, *, now: float) -> list[MemberPause]:
        """Every pause still running at ``now``."""
        ...


class SettingsSql:
    """Mixed into SqlStore: reading, writing and auditing server settings."""

    _db: Database
    _clock: Callable[[], float]

    async def settings_version(self) -> int:
        """The version of the newest settings change anywhere (0: none yet)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT version FROM settings_version WHERE id = 1")
        return int(row["version"]) if row else 0

    async def guild_settings_since(self, version: int) -> tuple[int, list[StoredSettings]]:
        """The current global version and every server's settings written after ``version`` (0: all of them)."""
        async with self._db.transaction() as tx:
            head = await tx.fetchone("SELECT version FROM settings_version WHERE id = 1")
            rows = await tx.fetchall(
                "SELECT guild_id, data, version FROM guild_settings WHERE version > ? ORDER BY version", version
            )
        current = int(head["version"]) if head else 0
        return current, [StoredSettings(int(r["guild_id"]), str(r["data"]), int(r["version"])) for r in rows]

    async def guild_settings(self, guild_id: int) -> StoredSettings:
        """One server's settings as stored now (an empty document at version 0 when never set)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT data, version FROM guild_settings WHERE guild_id = ?", guild_id)
        if row is None:
            return StoredSettings(guild_id, "", 0)
        return StoredSettings(guild_id, str(row["data"]), int(row["version"]))

    async def save_guild_settings(
        self,
        guild_id: int,
        data: str,
        *,
        expected_version: int,
        actor_id: int,
        changes: Sequence[tuple[str, str | None, str | None]],
    ) -> int:
        """Store a server's new settings and their audit lines, if the row is still at ``expected_version``.

        Returns the new version. ``changes``: (setting, old value, new value) for the audit log.

        Raises
        ------
        SettingsConflict
            Someone else changed this server's settings since they were read; nothing was written.
        """
        now = self._clock()
        async with self._db.transaction() as tx:
            head = await tx.fetchone("UPDATE settings_version SET version = version + 1 WHERE id = 1 RETURNING version")
            assert head is not None
            version = int(head["version"])
            if expected_version == 0:
                written = await tx.execute(
                    "INSERT INTO guild_settings (guild_id, data, version, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (guild_id) DO NOTHING",
                    guild_id,
                    data,
                    version,
                    now,
                )
            else:
                written = await tx.execute(
                    "UPDATE guild_settings SET data = ?, version = ?, updated_at = ? "
                    "WHERE guild_id = ? AND version = ?",
                    data,
                    version,
                    now,
                    guild_id,
                    expected_version,
                )
            if written != 1:
                raise SettingsConflict  # rolls the version bump back too
            for setting, old, new in changes:
                await tx.execute(
                    "INSERT INTO settings_audit (guild_id, actor_id, setting, old_value, new_value, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    guild_id,
                    actor_id,
                    setting,
                    old,
                    new,
                    now,
                )
        return version

    async def settings_audit(self, guild_id: int, *, limit: int) -> list[SettingsChange]:
        """A server's newest settings changes first."""
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT guild_id, actor_id, setting, old_value, new_value, created_at FROM settings_audit "
                "WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
                guild_id,
                limit,
            )
        return [
            SettingsChange(
                int(r["guild_id"]),
                int(r["actor_id"]),
                str(r["setting"]),
                r["old_value"],
                r["new_value"],
                float(r["created_at"]),
            )
            for r in rows
        ]

    async def content_policy_strikes(self, user_id: int, guild_id: int | None, *, since: float) -> int:
        """How many of a member's jobs here (``None``: in DMs) reAPI failed on its content policy since ``since``."""
        where = "guild_id = ?" if guild_id is not None else "guild_id IS NULL"
        params: tuple[object, ...] = (user_id, since, guild_id) if guild_id is not None else (user_id, since)
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT COUNT(*) AS n FROM jobs WHERE user_id = ? AND error_code = 'content_policy' "
                f"AND finished_at >= ? AND {where}",
                *params,
            )
        return int(row["n"]) if row else 0

    async def pause_member(self, user_id: int, guild_id: int | None, *, until: float, strikes: int) -> int:
        """Pause a member here until ``until`` and bump the settings version, so every process learns of it."""
        async with self._db.transaction() as tx:
            head = await tx.fetchone("UPDATE settings_version SET version = version + 1 WHERE id = 1 RETURNING version")
            assert head is not None
            await tx.execute(
                "INSERT INTO member_pauses (user_id, guild_id, until, strikes) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_id, guild_id) DO UPDATE SET until = excluded.until, strikes = excluded.strikes",
                user_id,
                guild_id or 0,
                until,
                strikes,
            )
        return int(head["version"])

    async def member_pauses(self, *, now: float) -> list[MemberPause]:
        """Every pause still running at ``now`` (a handful: read whole whenever the settings version moves)."""
        async with self._db.transaction() as tx:
            rows = await tx.fetchall("SELECT user_id, guild_id, until, strikes FROM member_pauses WHERE until > ?", now)
        return [
            MemberPause(int(r["user_id"]), int(r["guild_id"]) or None, float(r["until"]), int(r["strikes"]))
            for r in rows
        ]
