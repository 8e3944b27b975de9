"""PostgreSQL: the same step of many callers in one statement, one round trip, each caller with its own outcome.

A store call that arrives while others of its kind are being collected joins them: they are sent together on
the next turn of the event loop (or as soon as a statement of that kind comes back, when ``max_in_flight`` are on
the wire). The statement is atomic, so a batch is all or nothing on the server; each caller still gets only its
own row (its job's id is the key), or ``None`` when its conditions did not hold for it (too little balance, the
job already ended), exactly as its one-statement form would have answered.

Callers whose requests must not share a statement (two reservations on one account, two finishes of one job:
``UPDATE … FROM`` changes a row once however many inputs match it) carry the same ``key``; a batch takes one of
them, the next batch the next. Should the server refuse the whole statement (a deadlock with another process, a
constraint one request breaks), nothing of it was kept, and each request is sent again alone, so that only the
request at fault fails. A connection lost mid-statement is different (it may have committed): every caller of
that batch gets the error, as it would have for its own statement.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

import asyncpg

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable, Sequence

    from bot.store.db import Row

__all__ = ["MAX_BATCH", "Batcher", "Request"]

MAX_BATCH = 200  # requests per statement: bounds its arrays and how long it holds its row locks
ItemT = TypeVar("ItemT")


@dataclass(slots=True)
class Request(Generic[ItemT]):
    """One caller's request: what to send, what it may not share a statement with, and where its row is found."""

    item: ItemT
    key: Hashable  # requests with equal keys go in different statements
    row_id: str  # the id of the job row the statement returns for this request
    future: asyncio.Future[Row | None] = field(init=False)


class Batcher(Generic[ItemT]):
    """Sends requests of one kind in batches: ``send`` runs one statement for many, ``alone`` one request by itself.

    ``send`` returns the rows the statement returned (each carrying its job's ``id``); ``alone`` returns the row
    for one request or None.
    """

    def __init__(
        self,
        send: Callable[[Sequence[ItemT]], Awaitable[Sequence[Row]]],
        alone: Callable[[ItemT], Awaitable[Row | None]],
        *,
        max_in_flight: int = 2,
    ) -> None:
        self._send = send
        self._alone = alone
        self._max_in_flight = max_in_flight
        self._pending: list[Request[ItemT]] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.statements = 0  # batch statements sent (tests and benchmarks: how much batching happened)

    async def submit(self, item: ItemT, *, key: Hashable, row_id: str) -> Row | None:
        """Send ``item`` with whatever else is waiting; its own row, or None when its conditions did not hold.

        A caller cancelled before its batch is sent takes its request out; once sent, the statement runs to its
        end (as a statement already sent always did) and only the answer is dropped.
        """
        loop = asyncio.get_running_loop()
        request = Request(item, key, row_id)
        request.future = loop.create_future()
        self._pending.append(request)
        self._schedule(loop)
        try:
            return await request.future
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                self._pending.remove(request)
            raise

    async def close(self) -> None:
        """Wait for the statements on the wire (their callers hear their outcomes), before the pool closes."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        # On the next turn of the loop: the callers woken together (by one batch's answer) all join the next one.
        if not self._scheduled and self._pending and self._in_flight < self._max_in_flight:
            self._scheduled = True
            loop.call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        loop = asyncio.get_running_loop()
        while self._pending and self._in_flight < self._max_in_flight:
            batch = self._take()
            self._in_flight += 1
            task = loop.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[Request[ItemT]]:
        """The oldest waiting requests, at most one per key and MAX_BATCH in all; the others wait, in order."""
        batch: list[Request[ItemT]] = []
        keys: set[Hashable] = set()
        rest: list[Request[ItemT]] = []
        for request in self._pending:
            if request.key in keys or len(batch) >= MAX_BATCH:
                rest.append(request)
            else:
                keys.add(request.key)
                batch.append(request)
        self._pending = rest
        return batch

    async def _run(self, batch: list[Request[ItemT]]) -> None:
        try:
            if len(batch) == 1:
                await self._run_alone(batch[0])
                return
            try:
                rows = await self._send([r.item for r in batch])
            except (asyncpg.PostgresError, asyncpg.DataError):
                # The server refused the statement as a whole, or a value could not even be encoded: nothing of it
                # was kept. Alone, only the request at fault fails (and a deadlock with another process is not met
                # again in the same order).
                await asyncio.gather(*(self._run_alone(r) for r in batch))
                return
            self.statements += 1
            outcomes = {str(row["id"]): row for row in rows}
            for request in batch:
                if not request.future.done():  # else its caller was cancelled
                    request.future.set_result(outcomes.get(request.row_id))
        except BaseException as error:  # the connection was lost (it may have committed), or we are cancelled
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
            if isinstance(error, asyncio.CancelledError):
                raise
        finally:
            self._in_flight -= 1
            self._schedule(asyncio.get_running_loop())

    async def _run_alone(self, request: Request[ItemT]) -> None:
        try:
            row = await self._alone(request.item)
        except Exception as error:
            if not request.future.done():
                request.future.set_exception(error)
            return
        if not request.future.done():
            request.future.set_result(row)
