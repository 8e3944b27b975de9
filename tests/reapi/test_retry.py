"""Retry rules: Retry-After parsing, backoff bounds, and which errors each operation may retry."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from bot.reapi import (
    DOWNLOAD_POLICY,
    POLL_POLICY,
    SUBMIT_POLICY,
    BadRequest,
    InvalidResponse,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    RetryPolicy,
    ServerError,
    TaskNotFound,
    parse_retry_after,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("7", 7.0), (" 12 ", 12.0), ("1.5", 1.5)])
def test_retry_after_in_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_as_http_date_is_seconds_from_now() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert parse_retry_after(when, NOW) == pytest.approx(30.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0  # in the past: retry now


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "nan", "inf", "Mon, 99 Foo 2015 07:28:00 GMT"])
def test_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize("attempt", range(1, 12))
@pytest.mark.parametrize("rand", [0.0, 0.5, 1.0])
def test_backoff_is_jittered_within_half_to_full_and_capped(attempt: int, rand: float) -> None:
    policy = RetryPolicy(max_attempts=12, base_delay=0.5, max_delay=8.0, max_retry_after=30.0)
    ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
    delay = policy.delay_for(attempt, rand=lambda: rand)
    assert ceiling / 2 <= delay <= ceiling
    assert delay == pytest.approx(ceiling / 2 + ceiling / 2 * rand)


def test_backoff_never_overflows_for_huge_attempts() -> None:
    assert POLL_POLICY.delay_for(10_000) <= POLL_POLICY.max_delay


def test_retry_after_is_honoured_exactly_and_capped() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=1, max_delay=4, max_retry_after=30)
    assert policy.delay_for(1, 7.0) == 7.0
    assert policy.delay_for(1, 3600.0) == 30.0
    assert policy.delay_for(2, math.inf) <= 2.0  # not finite: ignored, backoff instead


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0, base_delay=1, max_delay=1, max_retry_after=1)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(max_attempts=1, base_delay=-1, max_delay=1, max_retry_after=1)


def _status(cls: type[ServerError | RateLimited | BadRequest | TaskNotFound], status: int) -> Exception:
    return cls(status, None, "x")


def test_submit_retries_only_what_provably_created_nothing() -> None:
    assert SUBMIT_POLICY.should_retry(NotSent("x"), 1)
    assert SUBMIT_POLICY.should_retry(_status(RateLimited, 429), 1)
    assert not SUBMIT_POLICY.should_retry(OutcomeUnknown("x"), 1)
    assert not SUBMIT_POLICY.should_retry(_status(ServerError, 502), 1)
    assert not SUBMIT_POLICY.should_retry(InvalidResponse("x"), 1)
    assert not SUBMIT_POLICY.should_retry(NotSent("x"), SUBMIT_POLICY.max_attempts)


@pytest.mark.parametrize("policy", [POLL_POLICY, DOWNLOAD_POLICY])
def test_reads_retry_transient_failures_but_not_client_errors(policy: RetryPolicy) -> None:
    for transient in (NotSent("x"), OutcomeUnknown("x"), _status(RateLimited, 429), _status(ServerError, 503)):
        assert policy.should_retry(transient, 1)
    for final in (_status(BadRequest, 400), _status(TaskNotFound, 404), InvalidResponse("x")):
        assert not policy.should_retry(final, 1)
