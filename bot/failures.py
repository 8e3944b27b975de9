"""Why a job ended without an image: one Enum of failure codes, and the exception the runner raises with it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FailureCode", "JobFailure"]


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

    ``detail`` is e.g. reAPI's error code, or reAPI's (already shortened) message for a 400; the surface decides
    how to show it.
    """

    def __init__(self, code: FailureCode, detail: str | None = None) -> None:
        super().__init__(code.value if detail is None else f"{code.value}: {detail}")
        self.code = code
        self.detail = detail
