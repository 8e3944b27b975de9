"""FakeDiscord's waits and faults: waiting for what the bot sent, holding or failing its next requests."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING, TypeVar, cast

from tests.fakes.discord_payloads import (
    JSON,
    error_body,
)
from tests.fakes.fake_records import Fault, GatewayFrame, HeldRequest, RecordedRequest, Reply, method_ok
from tests.fakes.fake_state import FakeState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

_T = TypeVar("_T")


class FakeControl(FakeState):
    """Waiting for requests and frames; injected faults and held requests (a part of FakeDiscord)."""

    # ------------------------------------------------------------------ waiting

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(
        self,
        predicate: Callable[[], _T | None],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - explicit per-wait timeouts are the point of this API
        what: str = "condition",
    ) -> _T:
        """Wait until ``predicate()`` is truthy (re-checked whenever the fake's state changes)."""
        async with self._cond:
            try:
                async with asyncio.timeout(timeout):
                    return cast("_T", await self._cond.wait_for(predicate))
            except TimeoutError:
                raise AssertionError(f"FakeDiscord: timed out after {timeout}s waiting for {what}") from None

    async def wait_until_ready(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """IDENTIFY received and READY + GUILD_CREATE(s) sent."""
        await self.wait_for(lambda: self.ready_count >= 1, timeout=timeout, what="IDENTIFY/READY")

    async def wait_for_shards(
        self,
        shard_ids: Iterable[int],
        shard_count: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """A session (IDENTIFY + READY) exists for each of ``shard_ids`` out of ``shard_count``."""
        wanted = [(shard_id, shard_count) for shard_id in shard_ids]
        await self.wait_for(
            lambda: all(key in self._sessions for key in wanted), timeout=timeout, what=f"sessions for {wanted}"
        )

    async def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """At least ``n`` gateway websocket connections were made in total."""
        await self.wait_for(lambda: len(self._connections) >= n, timeout=timeout, what=f"{n} gateway connections")

    async def wait_for_gateway_op(self, op: int, *, after: int = 0, timeout: float = 5.0) -> GatewayFrame:  # noqa: ASYNC109
        def find() -> GatewayFrame | None:
            return next((f for f in self.gateway_received[after:] if f.op == op), None)

        return await self.wait_for(find, timeout=timeout, what=f"gateway op {op}")

    def requests_matching(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Requests whose method matches (``"*"`` = any) and whose path ``re.fullmatch``-es ``path_regex``."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if method_ok(method, r.method) and pattern.fullmatch(r.path)]

    async def wait_for_request(
        self,
        method: str,
        path_regex: str,
        *,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        after: int = 0,
    ) -> RecordedRequest:
        """First request at index >= ``after`` matching method/path (fullmatch) and ``predicate``."""
        pattern = re.compile(path_regex)

        def find() -> RecordedRequest | None:
            for r in self.requests[after:]:
                if r.index in self._unsettled:
                    continue
                if method_ok(method, r.method) and pattern.fullmatch(r.path) and (predicate is None or predicate(r)):
                    return r
            return None

        try:
            return await self.wait_for(find, timeout=timeout, what=f"{method} {path_regex}")
        except AssertionError as exc:
            seen = "\n".join(f"  {r.method} {r.path} -> {r.status}" for r in self.requests[after:])
            raise AssertionError(f"{exc}; requests seen:\n{seen or '  (none)'}") from None

    @property
    def unknown_requests(self) -> list[RecordedRequest]:
        """Requests that hit no known route (answered 404 code 10000)."""
        return [
            r
            for r in self.requests
            if r.status == 404 and isinstance(r.response, dict) and r.response.get("code") == 10000
        ]

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        json: JSON | None = None,
        retry_after: float | None = None,
        count: int = 1,
    ) -> None:
        """The next ``count`` matching requests get ``status``. 429s carry everything discord.py needs
        to treat them as a normal (non-Cloudflare) rate limit and retry after ``retry_after`` s."""
        self._faults.append(Fault(method, re.compile(path_regex), status, json, retry_after, count))

    def clear_faults(self) -> None:
        """Forget every fault :meth:`fail_next` set that has not been used up (Discord recovered)."""
        self._faults.clear()

    def hold_next(self, method: str, path_regex: str) -> HeldRequest:
        """The next matching request waits, unapplied and unanswered, until the test releases it (at most 10 s).

        Models a request already on the wire: whatever the client does meanwhile, Discord applies it later.
        """
        held = HeldRequest(method, re.compile(path_regex))
        self._holds.append(held)
        return held

    async def _wait_if_held(self, method: str, path: str) -> None:
        held = next((h for h in self._holds if method_ok(h.method, method) and h.pattern.fullmatch(path)), None)
        if held is None:
            return
        self._holds.remove(held)
        held.arrived.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await held.released.wait()

    def _take_fault(self, method: str, path: str) -> Reply | None:
        for fault in self._faults:
            if fault.remaining > 0 and method_ok(fault.method, method) and fault.pattern.fullmatch(path):
                fault.remaining -= 1
                if fault.status == 429:
                    retry = 0.05 if fault.retry_after is None else fault.retry_after
                    body = dict(fault.body or {"message": "You are being rate limited.", "global": False})
                    body.setdefault("retry_after", retry)
                    headers = {
                        "Via": "1.1 google",
                        "Retry-After": str(retry),
                        "X-RateLimit-Scope": "user",
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset-After": str(retry),
                        "X-RateLimit-Bucket": "fake-bucket",
                    }
                    return Reply(429, body, headers)
                return Reply(fault.status, fault.body or error_body(f"{fault.status}: injected fault", 0))
        return None
