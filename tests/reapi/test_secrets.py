"""The API key never shows up in an error's str/repr/traceback, the client's repr, or any log line."""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

import pytest

from bot.reapi import GenerationRequest, ReapiClient, ReapiError
from bot.reapi.simulator import Fault
from tests.reapi.conftest import FAST_TIMEOUT, KEY

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.reapi.simulator import ReapiSimulator
    from tests.reapi.conftest import RecordingSleep

REQUEST = GenerationRequest(prompt="secret test")


def assert_no_key(exc: BaseException) -> None:
    rendered = "".join(traceback.format_exception(exc))
    chain: BaseException | None = exc
    while chain is not None:
        assert KEY not in str(chain)
        assert KEY not in repr(chain)
        chain = chain.__cause__ or chain.__context__
    assert KEY not in rendered


async def test_key_never_leaks_through_errors_or_logs(
    base_url: str,
    sim: ReapiSimulator,
    sleeps: RecordingSleep,
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with ReapiClient(base_url=base_url, api_key=KEY, sleep=sleeps, timeout=FAST_TIMEOUT) as client:
        assert KEY not in repr(client)
        task_id = (await client.submit(REQUEST)).id
        scenarios: list[tuple[str, Fault | None, Callable[[], Awaitable[object]]]] = [
            ("submit", Fault.error(401, 10004, f"Key {KEY} was revoked."), lambda: client.submit(REQUEST)),
            ("submit", Fault.error(400, 20003, "bad", retry_after=None), lambda: client.submit(REQUEST)),
            ("submit", Fault.raw(502, f"<html>upstream saw Bearer {KEY}</html>"), lambda: client.submit(REQUEST)),
            ("submit", Fault.drop_after(), lambda: client.submit(REQUEST)),
            ("submit", Fault.slow(0.4), lambda: client.submit(REQUEST)),
            ("poll", None, lambda: client.get_task("task_missing")),
            ("download", Fault.error(404), lambda: client.download(base_url + "/../../files/x.png", max_bytes=10)),
        ]
        raised: list[BaseException] = []
        for endpoint, fault, call in scenarios:
            if fault is not None:
                sim.inject(endpoint, fault)  # type: ignore[arg-type]
            with pytest.raises(ReapiError) as caught:
                await call()
            raised.append(caught.value)
        sim.inject("poll", *[Fault.error(429, 42901, f"slow down {KEY}", retry_after=1)] * 4)
        with pytest.raises(ReapiError) as caught:
            await client.get_task(task_id)
        raised.append(caught.value)
    async with ReapiClient(base_url=f"http://127.0.0.1:{closed_port}/api/v1", api_key=KEY, sleep=sleeps) as refused:
        with pytest.raises(ReapiError) as caught:
            await refused.submit(REQUEST)
        raised.append(caught.value)

    assert {type(exc).__name__ for exc in raised} >= {
        "Unauthorized",
        "BadRequest",
        "ServerError",
        "OutcomeUnknown",
        "TaskNotFound",
        "DownloadError",
        "RateLimited",
        "NotSent",
    }
    for exc in raised:
        assert_no_key(exc)
    assert "rk_***" in str(raised[0])  # an echoed key is redacted, the rest of the message kept
    assert caplog.records
    assert KEY not in caplog.text
    for record in caplog.records:
        assert KEY not in record.getMessage()


def test_key_with_a_line_break_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="control character") as caught:
        ReapiClient(base_url="https://reapi.ai/api/v1", api_key="rk_live_a\nb")
    assert "rk_live_a" not in str(caught.value)
