"""A claimed job as this process holds it (``Run``), its store writes, and ``Superseded`` when it lost the row.

Kept apart from ``bot.engine.steps`` because every part of a job's way (submit, watch, delivery attempts) writes
through these, and none of those parts needs the state machine itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.store import Job

__all__ = ["Run", "Superseded", "retrying"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# A store write that fails (database briefly locked, connection lost) is retried with backoff before giving up.
_STORE_ATTEMPTS = 5
_STORE_BACKOFF = 0.5


class Superseded(Exception):
    """The job's row was moved by someone else (a cancel, another process); this task lets go of it."""


@dataclass(slots=True)
class Run:
    """One job as this runner last stored it: every conditional write names ``job.state`` as the state it expects."""

    job: Job
    shown_at: float | None = None  # when Discord took the result (the end of what the poll schedule budgets for)


async def retrying(write: Callable[[], Awaitable[T]], what: str, *, sleep: Callable[[float], Awaitable[None]]) -> T:
    """Retry a store write with backoff: a briefly locked or lost database must not strand a job."""
    for attempt in range(_STORE_ATTEMPTS - 1):
        try:
            return await write()
        except Exception as exc:
            log.warning("could not %s (attempt %d): %s", what, attempt + 1, exc)
            await sleep(_STORE_BACKOFF * 2**attempt)
    return await write()
