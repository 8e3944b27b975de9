"""Progress snapshots the job runner reports: the stages a member sees, without any wording."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Progress", "Stage"]


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
    position: int | None = None
    waiting: int | None = None
    elapsed: float | None = None
    estimate: float | None = None
