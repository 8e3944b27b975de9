"""The job records: a request for images as the bot takes it (NewJob) and as it is stored (Job), the states it
moves through, and the line of /history it leaves once it ended (HistoryEntry)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["TERMINAL_STATES", "HistoryEntry", "Job", "JobKind", "JobState", "NewJob"]


class JobState(StrEnum):
    """Where a job is in its life; each state is stored before the side effect it guards."""

    QUEUED = "queued"  # accepted and paid for, waiting for a runner slot
    SUBMITTING = "submitting"  # the POST to reAPI may be under way: never re-POST from here
    RUNNING = "running"  # reAPI accepted it; task_id is stored, we poll
    DELIVERING = "delivering"  # reAPI finished; downloading and uploading to Discord
    DELIVERED = "delivered"  # the image is on Discord and the credits captured
    FAILED = "failed"  # it ended without an image and the credits were refunded

    @property
    def is_terminal(self) -> bool:
        """Whether the job is over (delivered or failed)."""
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.DELIVERED, JobState.FAILED})


class JobKind(StrEnum):
    """Which command made the job."""

    IMAGINE = "imagine"
    EDIT = "edit"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewJob:
    """What a command asks for, before the store gives it an id."""

    kind: JobKind
    user_id: int
    guild_id: int | None
    channel_id: int
    prompt: str
    aspect_ratio: str
    image_urls: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # links shown as lineage: jump links or source URLs
    parent_job_id: str | None = None
    application_id: int | None = None
    interaction_token: str | None = None
    interaction_expires_at: float | None = None
    placeholder_message_id: int | None = None
    upload_limit: int = 10 * 1024 * 1024
    simulated: bool = False
    cost: int = 0
    scope: str = "global"
    locale: str | None = None  # the member's Discord locale ("de", "en-US"): the job's notices speak it
    # What reAPI is asked for (issue 13): the model id, the resolution (None = the model's default) and how many
    # images one task makes; and what reAPI charges for it, in thousandths of a reAPI credit (the spend cap's unit).
    model: str = "nano-banana-2-lite"
    resolution: str | None = None
    image_count: int = 1
    reapi_millicredits: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Job(NewJob):
    """One image request as stored: the unit the job runner moves through its states."""

    id: str
    state: JobState
    task_id: str | None = None
    result_message_id: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: float
    submitted_at: float | None = None
    submit_started_at: float | None = None  # entered 'submitting': reAPI may charge from here on
    completed_at: float | None = None
    finished_at: float | None = None
    # Whether reAPI may have charged the owner: set on entering 'submitting'; cleared by finish_job(charged=False)
    # when reAPI provably refused the POST or refunded the failed task. The daily spend cap counts it.
    charged: bool = False
    post_started_at: float | None = None  # a fallback result post was begun (look for it before posting again)
    notice_pending: bool = False  # ended, but the member has not been shown the outcome yet
    # The job queue (step 5): the worker that last claimed the job, until when its lease runs (the job holds a
    # runner slot while unfinished and lease_until > now; NULL once finished or on rows from before step 5),
    # and how many times it was claimed.
    claimed_by: str | None = None
    lease_until: float | None = None
    attempt: int = 0
    # Deliveries Discord could not take for now (429, 5xx, no answer): how many were put off, and when the next
    # may go. Stored so that a restart resumes the wait (and its bound) instead of starting over or refunding.
    delivery_attempts: int = 0
    delivery_retry_at: float | None = None
    # Where the result is when not in the job's channel (see ``record_result_message``): /history links to it.
    result_channel_id: int | None = None
    result_ephemeral: bool = False

    @property
    def duration(self) -> float | None:
        """Seconds reAPI took from submit to completion, when known."""
        if self.submitted_at is None or self.completed_at is None:
            return None
        return self.completed_at - self.submitted_at


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A finished job as the member's history shows it."""

    job_id: str
    user_id: int
    guild_id: int | None
    channel_id: int
    kind: JobKind
    prompt: str
    state: JobState
    cost: int
    result_message_id: int | None
    error_message: str | None
    created_at: float
    finished_at: float
    error_code: str | None = None  # why it failed, as a code (None when delivered, and on rows before step 4)
    result_channel_id: int | None = None  # the DM channel holding the result; None: the job's channel
    result_ephemeral: bool = False  # the result was shown to the member only: nothing can link to it
