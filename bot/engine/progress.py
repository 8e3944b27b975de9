"""Progress snapshots the job runner reports: the stages a member sees, without any wording."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Progress", "Stage", "queue_place"]


class Stage(StrEnum):
    """The steps a member sees a job go through."""

    QUEUED = "queued"
    SUBMITTING = "submitting"
    GENERATING = "generating"
    UPLOADING = "uploading"


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress snapshot of a job (the surface turns it into a sentence)."""

    stage: Stage
    position: int | None = None  # place in the queue; with ``position_to``, somewhere in that range
    position_to: int | None = None
    # While generating: when reAPI took the task (epoch seconds) and how long such tasks usually take. Shown as
    # Discord timestamps that count by themselves, so the line never needs re-editing while the task runs.
    started_at: float | None = None
    estimate: float | None = None


# Exact places only at the very front; behind them ranges about five times wider each, so a draining queue
# changes a waiting job's text (and costs a Discord edit) a bounded few times in its life: at most five exact
# places plus one per range it starts in or passes. At the benchmark's pace (about 40 places drained between two
# refreshes of the places) that is two or three edits per job; shown at every single step, at most eight for a
# job that starts anywhere in the first 500.
_EXACT_UP_TO = 5
_RANGE_ENDS = (20, 100, 500, 2500)
_BLOCK = 2500  # beyond the last range: blocks this wide


def queue_place(position: int) -> tuple[int, int | None]:
    """The place to show for a 1-based queue position: ``(position, None)`` near the front, else a range."""
    if position <= _EXACT_UP_TO:
        return position, None
    start = _EXACT_UP_TO + 1
    for end in _RANGE_ENDS:
        if position <= end:
            return start, end
        start = end + 1
    block = (position - start) // _BLOCK
    return start + block * _BLOCK, start + (block + 1) * _BLOCK - 1
