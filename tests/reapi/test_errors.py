"""Status → exception mapping, error envelopes, task failures and transport-error classification."""

from __future__ import annotations

import aiohttp
import pytest

from bot.reapi import (
    BadRequest,
    ContentPolicy,
    InsufficientFunds,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    ReapiStatusError,
    ServerError,
    TaskError,
    TaskFailed,
    TaskNotFound,
    Unauthorized,
    error_from_response,
)
from bot.reapi.client import _transport_error


def envelope(code: int, message: str = "nope", request_id: str | None = "req_1") -> bytes:
    import json

    error: dict[str, object] = {"code": code, "message": message}
    if request_id is not None:
        error["request_id"] = request_id
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (402, InsufficientFunds),
        (404, TaskNotFound),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (403, ReapiStatusError),
        (418, ReapiStatusError),
    ],
)
def test_status_picks_the_class(status: int, cls: type[ReapiStatusError]) -> None:
    exc = error_from_response(status, envelope(12345, "boom", "req_abc"), {})
    assert type(exc) is cls
    assert (exc.status, exc.code, exc.message, exc.request_id) == (status, 12345, "boom", "req_abc")
    assert "boom" in str(exc)
    assert "req_abc" in str(exc)


def test_envelope_without_request_id() -> None:
    exc = error_from_response(400, envelope(20002, "Missing required parameter: prompt.", None), None)
    assert exc.code == 20002
    assert exc.request_id is None


@pytest.mark.parametrize(
    "body",
    [b"<html><body>502 Bad Gateway</body></html>", b"", None, b"[1, 2]", b'{"error": 5}', b"\xff\xfe"],
)
def test_non_envelope_bodies_still_map_by_status(body: bytes | None) -> None:
    exc = error_from_response(502, body, {})
    assert type(exc) is ServerError
    assert exc.code is None
    assert exc.message


def test_long_html_is_shortened() -> None:
    exc = error_from_response(503, b"<p>" + b"x" * 5000 + b"</p>", {})
    assert len(exc.message) <= 300


def test_rate_limit_carries_retry_after_seconds_or_date() -> None:
    assert error_from_response(429, envelope(42901), {"Retry-After": "12"}).retry_after == 12.0
    dated = error_from_response(429, b"", {"Retry-After": "Thu, 01 Jan 2026 00:00:30 GMT"}, now=1767225600.0)
    assert dated.retry_after == pytest.approx(30.0)
    assert error_from_response(429, b"", {}).retry_after is None


def test_string_code_and_top_level_message_are_understood() -> None:
    assert error_from_response(400, b'{"error": {"code": "20002", "message": "m"}}', {}).code == 20002
    assert error_from_response(400, b'{"message": "flat"}', {}).message == "flat"


def test_task_failure_80006_is_content_policy() -> None:
    exc = TaskFailed.from_error(TaskError(code=80006, message="blocked", request_id="req_9"))
    assert type(exc) is ContentPolicy
    assert (exc.code, exc.message, exc.request_id) == (80006, "blocked", "req_9")


def test_other_task_failures_are_plain() -> None:
    exc = TaskFailed.from_error(TaskError(code=50001, message="upstream"))
    assert type(exc) is TaskFailed
    assert exc.code == 50001
    assert type(TaskFailed.from_error(None)) is TaskFailed


def test_connect_phase_failures_are_not_sent() -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None), OSError(111, "refused")
    )
    assert isinstance(_transport_error(refused, "submit"), NotSent)
    assert isinstance(_transport_error(aiohttp.ConnectionTimeoutError(), "submit"), NotSent)


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.SocketTimeoutError(),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "reset"),
        aiohttp.ClientPayloadError("cut"),
        TimeoutError(),
    ],
)
def test_failures_after_sending_are_outcome_unknown(exc: BaseException) -> None:
    assert isinstance(_transport_error(exc, "submit"), OutcomeUnknown)
