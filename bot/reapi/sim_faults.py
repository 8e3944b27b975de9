"""Faults the simulator can inject into its next requests: error statuses, raw bodies, delays and drops."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = ["DEFAULT_CODES", "Endpoint", "Fault", "FaultKind"]

Endpoint = Literal["submit", "poll", "download"]
"""Where a fault applies: ``POST /images/generations``, ``GET /tasks/{id}`` or ``GET /files/{id}.png``."""

DEFAULT_CODES = {400: 20001, 401: 10003, 402: 40201, 404: 40401, 429: 42901, 500: 50000, 502: 50002, 503: 50003}
"""Error code a ``Fault.error(status)`` sends when no code is given."""


class FaultKind(StrEnum):
    """What a :class:`Fault` does to one request."""

    STATUS = "status"  # answer status + reAPI error envelope (+ Retry-After); nothing is created
    RAW = "raw"  # answer status + an arbitrary body (malformed JSON, HTML from a proxy…)
    DELAY = "delay"  # handle normally (a submit creates its task), then wait ``seconds`` before answering
    DROP_BEFORE = "drop_before"  # close the connection before reading the body; nothing is created
    DROP_AFTER = "drop_after"  # handle normally (a submit creates its task), then close instead of answering


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour, consumed by the next request to its endpoint.

    Client-side effects (aiohttp 3.14): STATUS/RAW → the mapped status error; DELAY beyond the client's
    ``sock_read`` → ``SocketTimeoutError``; both drops → ``ServerDisconnectedError`` (``ClientOSError`` if the
    kernel resets a connection with unread data). On a submit the client maps timeouts and drops to
    ``OutcomeUnknown``; only connection refused / connect timeout become ``NotSent``.
    """

    kind: FaultKind
    status: int = 500
    code: int | None = None
    message: str | None = None
    retry_after: float | str | None = None
    seconds: float = 0.0
    body: str = ""
    content_type: str = "application/json"

    @classmethod
    def error(
        cls, status: int, code: int | None = None, message: str | None = None, *, retry_after: float | str | None = None
    ) -> Fault:
        """Answer ``status`` with reAPI's error envelope (code from :data:`DEFAULT_CODES` when omitted)."""
        return cls(FaultKind.STATUS, status=status, code=code, message=message, retry_after=retry_after)

    @classmethod
    def raw(cls, status: int, body: str, content_type: str = "text/html") -> Fault:
        """Answer ``status`` with an arbitrary body."""
        return cls(FaultKind.RAW, status=status, body=body, content_type=content_type)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Handle the request, then answer only after ``seconds``."""
        return cls(FaultKind.DELAY, seconds=seconds)

    @classmethod
    def drop_before(cls) -> Fault:
        """Close the connection before the body is read: the request never takes effect."""
        return cls(FaultKind.DROP_BEFORE)

    @classmethod
    def drop_after(cls) -> Fault:
        """Handle the request (a submit creates its task), then close the connection without answering."""
        return cls(FaultKind.DROP_AFTER)
