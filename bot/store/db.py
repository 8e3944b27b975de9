"""The tiny driver seam the SQL store is written against: a transaction that runs ``?``-placeholder SQL.

SQLite (sqlite3 on one writer thread) and PostgreSQL (asyncpg) each implement it in their module; everything
above it is one portable SQL implementation.

A transaction is best written as a *unit*, ``async def unit(tx) -> T``, handed to ``Database.run``: the driver
may then run it wherever is cheapest (SQLite runs many units back to back on its writer thread, in one
``BEGIN … COMMIT`` with a savepoint each). A unit awaits nothing but its ``tx`` and may be run at most once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from contextlib import AbstractAsyncContextManager

__all__ = ["Database", "Row", "Tx"]

T = TypeVar("T")


class Row(Protocol):
    """A result row addressed by column name (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Tx(Protocol):
    """One open transaction. SQL uses ``?`` placeholders; drivers translate them."""

    async def execute(self, sql: str, *params: Any) -> int:
        """Run a statement; return how many rows it changed."""
        ...

    async def fetchone(self, sql: str, *params: Any) -> Row | None:
        """Run a query (or ``… RETURNING``) and return its first row."""
        ...

    async def fetchall(self, sql: str, *params: Any) -> list[Row]:
        """Run a query and return every row."""
        ...


class Database(Protocol):
    """A connection (or pool) that hands out transactions.

    ``locks_rows``: whether transactions run side by side and reads that precede a write must lock the row
    (``SELECT … FOR UPDATE``, PostgreSQL). SQLite runs one writer at a time and has no such clause.
    """

    locks_rows: bool
    writes_in_cte: bool  # PostgreSQL: statements may hold data-modifying CTEs (``bot.store.sql_pg``)

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction that commits on success and rolls back on any exception (one await per statement)."""
        ...

    async def run(self, unit: Callable[[Tx], Coroutine[Any, Any, T]]) -> T:
        """Run ``unit`` as one transaction: its result once committed, or its exception with nothing kept.

        ``unit`` must await nothing but its ``tx`` (SQLite drives it to the end without an event loop), and may run
        more than once before it commits (SQLite: again after a unit beside it in its batch failed; PostgreSQL:
        again after a deadlock chose it as the victim), so it is a function of the database alone.
        """
        ...

    async def fetch_atomic(self, sql: str, *params: Any) -> Row | None:
        """Run one statement as a transaction of its own and return its first row."""
        ...

    async def fetch_all_atomic(self, sql: str, *params: Any) -> list[Row]:
        """Run one query as a transaction of its own and return every row."""
        ...

    async def notify_work(self, tx: Tx) -> None:
        """Once ``tx`` commits, wake ``wait_for_work`` wherever the backend reaches (every process, or this one)."""
        ...

    async def wait_for_work(self, seconds: float) -> None:
        """Return when ``notify_work`` may have fired, or after ``seconds``; never raises for a lost connection."""
        ...

    async def close(self) -> None:
        """Close the connection or pool."""
        ...
