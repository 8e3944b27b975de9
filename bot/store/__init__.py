"""Storage: one small interface (Store) with SQLite and PostgreSQL backends."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot.store.base import Store
from bot.store.jobs import TERMINAL_STATES, HistoryEntry, Job, JobKind, JobState, NewJob
from bot.store.records import (
    AccountRules,
    Balance,
    ClaimLimits,
    DatabaseInUse,
    DayUsage,
    InsufficientBalance,
    LedgerAudit,
    LedgerEntry,
    QueueLimitExceeded,
    QueueLimits,
    SpendCapExceeded,
    SpendLimit,
    Usage,
    UserUsage,
)
from bot.store.sql import SqlStore
from bot.store.sql_settings import MemberPause, SettingsChange, SettingsConflict, StoredSettings

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "TERMINAL_STATES",
    "AccountRules",
    "Balance",
    "ClaimLimits",
    "DatabaseInUse",
    "DayUsage",
    "HistoryEntry",
    "InsufficientBalance",
    "Job",
    "JobKind",
    "JobState",
    "LedgerAudit",
    "LedgerEntry",
    "MemberPause",
    "NewJob",
    "QueueLimitExceeded",
    "QueueLimits",
    "SettingsChange",
    "SettingsConflict",
    "SpendCapExceeded",
    "SpendLimit",
    "Store",
    "StoredSettings",
    "Usage",
    "UserUsage",
    "open_store",
]


async def open_store(url: str, *, clock: Callable[[], float] = time.time, exclusive: bool = False) -> Store:
    """Open the store a ``database.url`` names: ``sqlite:///path`` or ``postgresql://…``.

    ``exclusive`` (the bot process passes it) makes a SQLite store refuse to open while another process holds
    the file: SQLite's queue and wake-ups are in-process only. PostgreSQL, built for several processes, ignores it.

    Raises
    ------
    DatabaseInUse
        ``exclusive`` and another process already has this SQLite file open exclusively.
    """
    if url.startswith("sqlite:///"):
        from bot.store.sqlite import SqliteDatabase

        path = url.removeprefix("sqlite:///")
        return SqlStore(await SqliteDatabase.open(path, exclusive=exclusive), clock=clock)
    if url == "sqlite://:memory:":
        from bot.store.sqlite import SqliteDatabase

        return SqlStore(await SqliteDatabase.open(":memory:"), clock=clock)
    if url.startswith(("postgresql://", "postgres://")):
        from bot.store.postgres import PostgresDatabase

        return SqlStore(await PostgresDatabase.open(url), clock=clock)
    raise ValueError(f"database.url must start with sqlite:/// or postgresql:// (got {url.split(':', 1)[0]}:…)")
