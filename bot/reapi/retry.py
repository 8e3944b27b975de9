"""Retry policies per reAPI operation: what may be retried, how often, and how long to wait."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.reapi.errors import (
    NotSent,
    RateLimited,
    ReapiConnectionError,
    ReapiStatusError,
    ServerError,
    parse_retry_after,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DOWNLOAD_POLICY", "POLL_POLICY", "SUBMIT_POLICY", "RetryPolicy", "parse_retry_after"]


@dataclass(frozen=True)
class RetryPolicy:
    """How one operation retries: attempts, capped exponential backoff with jitter, and which errors qualify.

    Parameters
    ----------
    max_attempts
        Total attempts including the first one (1 = never retry).
    base_delay
        Backoff before the second attempt, doubled for each further one (before jitter).
    max_delay
        Cap on the computed backoff.
    max_retry_after
        Cap on a server's ``Retry-After`` hint, so a huge value cannot stall a job.
    retry_on
        Exception classes that may be retried; anything else is raised at once.
    """

    max_attempts: int
    base_delay: float
    max_delay: float
    max_retry_after: float
    retry_on: tuple[type[Exception], ...] = (ReapiConnectionError, RateLimited, ServerError)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def should_retry(self, exc: Exception, attempt: int) -> bool:
        """Whether ``exc``, raised by attempt number ``attempt`` (1-based), may be followed by another attempt."""
        return attempt < self.max_attempts and isinstance(exc, self.retry_on)

    def delay_for(
        self, attempt: int, retry_after: float | None = None, *, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based).

        A server ``Retry-After`` is honoured exactly, capped at ``max_retry_after``. Otherwise the backoff is
        ``base_delay * 2**(attempt-1)`` capped at ``max_delay``, jittered into its upper half (``[d/2, d]``) so
        that many clients do not retry in lockstep.
        """
        if retry_after is not None and math.isfinite(retry_after):
            return min(max(retry_after, 0.0), self.max_retry_after)
        exponent = min(max(attempt - 1, 0), 62)
        ceiling = min(self.max_delay, self.base_delay * 2.0**exponent)
        return ceiling / 2.0 + ceiling / 2.0 * min(max(rand(), 0.0), 1.0)

    @staticmethod
    def retry_after_of(exc: Exception) -> float | None:
        """The ``Retry-After`` hint carried by ``exc``, if any."""
        return exc.retry_after if isinstance(exc, ReapiStatusError) else None


SUBMIT_POLICY = RetryPolicy(
    max_attempts=3, base_delay=1.0, max_delay=4.0, max_retry_after=30.0, retry_on=(NotSent, RateLimited)
)
"""Submits create paid tasks and reAPI has no idempotency: retry only what provably created nothing."""

POLL_POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, max_retry_after=30.0)
"""Polls are free and read-only: retry 429, 5xx, timeouts and connection errors."""

DOWNLOAD_POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, max_retry_after=30.0)
"""Downloads are read-only: retry 429, 5xx, timeouts and connection errors."""
