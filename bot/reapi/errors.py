"""The one exception tree of the reAPI adapter, and the single status → exception mapping."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bot.reapi.models import TaskError

__all__ = [
    "CONTENT_POLICY_CODE",
    "BadRequest",
    "ContentPolicy",
    "DownloadError",
    "DownloadFailure",
    "InsufficientFunds",
    "InvalidResponse",
    "NotSent",
    "OutcomeUnknown",
    "RateLimited",
    "ReapiConnectionError",
    "ReapiError",
    "ReapiStatusError",
    "ServerError",
    "TaskFailed",
    "TaskNotFound",
    "Unauthorized",
    "error_from_response",
    "parse_retry_after",
]

CONTENT_POLICY_CODE = 80006
"""Task error code reAPI uses for a moderated (content policy) request."""

_MAX_MESSAGE_CHARS = 300

DownloadFailure = Literal["too_large", "bad_type", "expired", "status", "unavailable", "bad_url"]
"""Why a download failed: the value of :attr:`DownloadError.reason`."""


class ReapiError(Exception):
    """Base of every error raised by the reAPI adapter, so callers can catch one class."""


class ReapiStatusError(ReapiError):
    """reAPI answered with a non-2xx status; ``code``/``message``/``request_id`` come from its error envelope."""

    def __init__(
        self,
        status: int,
        code: int | None,
        message: str,
        request_id: str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        code = f" code {self.code}" if self.code is not None else ""
        request = f" (request {self.request_id})" if self.request_id else ""
        return f"reAPI HTTP {self.status}{code}: {self.message}{request}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class BadRequest(ReapiStatusError):
    """400: reAPI rejected the parameters (2xxxx codes); nothing was created or charged."""


class Unauthorized(ReapiStatusError):
    """401: the API key is missing, malformed, invalid or revoked (1xxxx codes)."""


class InsufficientFunds(ReapiStatusError):
    """402: the reAPI account has too few credits; nothing was created."""


class TaskNotFound(ReapiStatusError):
    """404 on a poll: the task does not exist or belongs to another key."""


class RateLimited(ReapiStatusError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if it sent one."""


class ServerError(ReapiStatusError):
    """5xx: reAPI failed; on a submit the task may or may not exist, so it is never retried."""


class ReapiConnectionError(ReapiError):
    """No HTTP answer was received (connection, DNS, timeout or disconnect)."""


class NotSent(ReapiConnectionError):
    """The request provably never reached reAPI (connect failed or timed out), so retrying is safe."""


class OutcomeUnknown(ReapiConnectionError):
    """The request may have reached reAPI but no answer arrived; a submit may have created a paid task."""


class InvalidResponse(ReapiError):
    """reAPI answered 2xx with a body that is not the documented JSON shape."""


class TaskFailed(ReapiError):
    """A task ended in ``failed``; reAPI refunds it automatically."""

    def __init__(self, code: int | None, message: str, request_id: str | None = None) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        request = f" (request {request_id})" if request_id else ""
        super().__init__(f"reAPI task failed with code {code}: {message}{request}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, request_id={self.request_id!r})"

    @classmethod
    def from_error(cls, error: TaskError | None) -> TaskFailed:
        """Build the right class for a failed task's ``error`` (``ContentPolicy`` for code 80006)."""
        if error is None:
            return TaskFailed(None, "reAPI reported the task as failed without an error")
        kind = ContentPolicy if error.code == CONTENT_POLICY_CODE else TaskFailed
        return kind(error.code, error.message, error.request_id)


class ContentPolicy(TaskFailed):
    """The task was refused by reAPI's content filter (code 80006)."""


class DownloadError(ReapiError):
    """An output could not be downloaded: too large, not an image, expired, or unreachable."""

    def __init__(self, reason: DownloadFailure, message: str, *, status: int | None = None) -> None:
        self.reason: DownloadFailure = reason
        self.status = status
        super().__init__(message)

    def __repr__(self) -> str:
        return f"DownloadError(reason={self.reason!r}, status={self.status!r}, message={str(self)!r})"


_STATUS_CLASSES: dict[int, type[ReapiStatusError]] = {
    400: BadRequest,
    401: Unauthorized,
    402: InsufficientFunds,
    404: TaskNotFound,
    429: RateLimited,
}


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"


def _envelope(body: bytes | str | None) -> tuple[int | None, str | None, str | None, str]:
    """Return (code, message, request_id, raw text) from reAPI's ``{"error": {...}}`` envelope, if present."""
    if body is None:
        return None, None, None, ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None, None, None, text
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        return None, error, None, text
    if not isinstance(error, dict):
        message = data.get("message") if isinstance(data, dict) else None
        return None, message if isinstance(message, str) else None, None, text
    raw_code = error.get("code")
    code: int | None = None
    if isinstance(raw_code, int) and not isinstance(raw_code, bool):
        code = raw_code
    elif isinstance(raw_code, str) and raw_code.strip().isdigit():
        code = int(raw_code)
    message = error.get("message")
    request_id = error.get("request_id")
    return (
        code,
        message if isinstance(message, str) else None,
        request_id if isinstance(request_id, str) else None,
        text,
    )


def error_from_response(
    status: int,
    body: bytes | str | None,
    headers: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
) -> ReapiStatusError:
    """Map a non-2xx answer to its exception class; the one place where status decides the class.

    Parameters
    ----------
    status
        The HTTP status.
    body
        The raw body: reAPI's JSON error envelope, or anything else (an HTML page from a proxy).
    headers
        Response headers; ``Retry-After`` (seconds or HTTP-date) becomes ``retry_after``.
    now
        Unix time used to resolve an HTTP-date ``Retry-After`` (default: the current time).
    """
    code, message, request_id, text = _envelope(body)
    if not message:
        message = _shorten(text) if text.strip() else f"HTTP {status} without a message"
    else:
        message = _shorten(message)
    retry_after = None
    if headers is not None:
        retry_after = parse_retry_after(headers.get("Retry-After"), time.time() if now is None else now)
    cls = _STATUS_CLASSES.get(status)
    if cls is None:
        cls = ServerError if 500 <= status <= 599 else ReapiStatusError
    return cls(status, code, message, request_id, retry_after=retry_after)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; None when absent or garbage.

    ``now`` is the current Unix time, used for the HTTP-date form (a date in the past gives 0).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" parses as naive; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
