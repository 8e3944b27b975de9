"""Why a job ended without an image: one Enum of failure codes, and the exception the runner raises with it."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from bot.reapi import (
    BadRequest,
    ContentPolicy,
    DownloadError,
    InsufficientFunds,
    InvalidResponse,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    TaskFailed,
    TaskNotFound,
    Unauthorized,
)

if TYPE_CHECKING:
    from bot.reapi import ReapiError
    from bot.store import Job

__all__ = ["FailureCode", "JobFailure", "failure_for", "stored_failure"]


class FailureCode(StrEnum):
    """Every way a job can fail; stored as ``jobs.error_code`` and rendered into a sentence by the surface."""

    # Refused before anything was sent to reAPI.
    CANCELLED = "cancelled"  # the member (or a moderator) cancelled it while queued
    REAPI_PAUSED = "reapi_paused"  # submissions were paused (reAPI answered 402 or 401) before it was sent
    # reAPI refused the POST: nothing was created, nothing charged.
    REAPI_400 = "reapi_400"
    REAPI_401 = "reapi_401"
    REAPI_402 = "reapi_402"
    REAPI_UNAVAILABLE = "reapi_unavailable"  # 429 or connection refused: provably not sent
    # The POST may have created (and charged) a task: never re-sent.
    OUTCOME_UNKNOWN = "outcome_unknown"  # timeout / reset after sending
    REAPI_SERVER_ERROR = "reapi_server_error"  # 5xx or an unreadable answer to the POST
    INTERRUPTED_SUBMIT = "interrupted_submit"  # the bot stopped while the POST was under way
    # reAPI accepted the task.
    CONTENT_POLICY = "content_policy"  # the task failed on moderation (reAPI refunds it)
    TASK_FAILED = "task_failed"  # the task failed (reAPI refunds it)
    TASK_LOST = "task_lost"  # reAPI no longer knows the task
    TIMEOUT = "timeout"  # reAPI kept saying 'processing' past jobs.timeout
    NO_OUTPUT = "no_output"  # completed without an image URL
    DOWNLOAD_FAILED = "download_failed"
    TOO_LARGE = "too_large"  # not even a shrunk re-encoding fits the upload limit
    DISCORD = "discord"  # Discord refused every way of showing the image
    INTERNAL = "internal"  # a bug: logged with the job id


class JobFailure(Exception):
    """A job cannot produce an image: the code says why, ``detail`` adds a fact worth showing (never prose).

    ``detail`` is e.g. reAPI's error code, or reAPI's message for a 400; the surface decides how to show it.
    ``charged`` is what the failure proves about the owner's reAPI bill: False when reAPI provably charged
    nothing (it refused the POST, or the task failed and reAPI refunded it); None when it proves nothing, so the
    store keeps what it knows (a job that reached 'submitting' counts as charged).
    """

    def __init__(self, code: FailureCode, detail: str | None = None, *, charged: bool | None = None) -> None:
        super().__init__(code.value if detail is None else f"{code.value}: {detail}")
        self.code = code
        self.detail = detail
        self.charged = charged


def failure_for(exc: ReapiError, *, submitting: bool) -> JobFailure:
    """Translate a reAPI error into a failure, knowing whether it answered the POST (phase-aware charging).

    An error that answers the POST proves reAPI created nothing (4xx, 429, connection refused), or proves
    nothing (5xx, unreadable answer, lost connection): then the job stays counted as charged.
    """
    if isinstance(exc, ContentPolicy):
        return JobFailure(FailureCode.CONTENT_POLICY, charged=False)  # reAPI refunds failed tasks itself
    if isinstance(exc, TaskFailed):
        return JobFailure(FailureCode.TASK_FAILED, str(exc.code) if exc.code else None, charged=False)
    if not submitting:
        if isinstance(exc, TaskNotFound):
            return JobFailure(FailureCode.TASK_LOST)
        if isinstance(exc, DownloadError):
            return JobFailure(FailureCode.DOWNLOAD_FAILED)
        return JobFailure(FailureCode.REAPI_UNAVAILABLE)  # a poll after acceptance: the task was charged
    if isinstance(exc, InsufficientFunds):
        return JobFailure(FailureCode.REAPI_402, charged=False)
    if isinstance(exc, Unauthorized):
        return JobFailure(FailureCode.REAPI_401, charged=False)
    if isinstance(exc, RateLimited | NotSent):
        return JobFailure(FailureCode.REAPI_UNAVAILABLE, charged=False)
    if isinstance(exc, BadRequest):
        return JobFailure(FailureCode.REAPI_400, exc.message, charged=False)
    if isinstance(exc, ServerError | InvalidResponse):
        return JobFailure(FailureCode.REAPI_SERVER_ERROR)
    if isinstance(exc, OutcomeUnknown):
        return JobFailure(FailureCode.OUTCOME_UNKNOWN)
    return JobFailure(FailureCode.OUTCOME_UNKNOWN)  # any other answer to a POST: it may have created a task


def stored_failure(job: Job) -> JobFailure:
    """The failure a settled job was stored with (an unknown legacy code shows as internal)."""
    try:
        code = FailureCode(job.error_code or "")
    except ValueError:
        code = FailureCode.INTERNAL
    return JobFailure(code, job.error_message)
