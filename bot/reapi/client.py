"""The reAPI client: one aiohttp session, typed answers, one error tree, retries per operation policy."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import aiohttp
import pydantic
from yarl import URL

from bot.reapi.errors import (
    DownloadError,
    InvalidResponse,
    NotSent,
    OutcomeUnknown,
    ReapiConnectionError,
    ReapiError,
    ReapiStatusError,
    error_from_response,
)
from bot.reapi.models import MODEL, DownloadedImage, SubmittedTask, Task, detect_content_type
from bot.reapi.retry import DOWNLOAD_POLICY, POLL_POLICY, SUBMIT_POLICY, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from types import TracebackType

    from bot.reapi.models import GenerationRequest

__all__ = ["DEFAULT_TIMEOUT", "ReapiClient"]

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=pydantic.BaseModel)

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)
"""Connect within 10 s (a connect timeout proves nothing was sent); each read within 30 s."""

_CHUNK = 64 * 1024
_EXPIRED = frozenset({403, 404, 410})
_REDACTED = "rk_***"


def _transport_error(exc: BaseException, what: str) -> ReapiConnectionError:
    """Classify a transport failure: NotSent only when the request provably never left (connect phase)."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return NotSent(f"{what}: could not connect to reAPI ({name}); nothing was sent")
    return OutcomeUnknown(f"{what}: no answer from reAPI after sending ({name}); the outcome is unknown")


class ReapiClient:
    """Async client for reAPI's image API; owns one ``aiohttp.ClientSession`` (opened lazily or by ``start``).

    The API key is sent only to ``base_url`` (never to output hosts) and appears in no message, repr or log.
    ``trace_configs`` are attached to the session (metrics); each request names its operation ("submit", "poll",
    "download") as aiohttp's ``trace_request_ctx``.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str = MODEL,
        timeout: aiohttp.ClientTimeout | None = None,
        submit_policy: RetryPolicy = SUBMIT_POLICY,
        poll_policy: RetryPolicy = POLL_POLICY,
        download_policy: RetryPolicy = DOWNLOAD_POLICY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        user_agent: str = "imagine-bot/0.1",
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        base = URL(base_url.rstrip("/") + "/")
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError("base_url must be an absolute http(s) URL")
        api_key = api_key.strip()
        if any(c in api_key for c in "\r\n\0"):
            raise ValueError("api_key contains a control character")
        self._base_url = base
        self._api_key = api_key
        self._model = model
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._submit_policy = submit_policy
        self._poll_policy = poll_policy
        self._download_policy = download_policy
        self._sleep = sleep
        self._user_agent = user_agent
        self._trace_configs = list(trace_configs)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._unknown_statuses: set[str] = set()

    def __repr__(self) -> str:
        return f"ReapiClient(base_url={str(self._base_url)!r}, model={self._model!r})"

    @property
    def base_url(self) -> str:
        """The API base URL, always with a trailing slash."""
        return str(self._base_url)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session now rather than on the first request."""
        self._ensure_session()

    async def close(self) -> None:
        """Close the HTTP session; the client cannot be used afterwards."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> ReapiClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("ReapiClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                base_url=self._base_url,
                timeout=self._timeout,
                headers={"User-Agent": self._user_agent, "Accept": "application/json"},
                raise_for_status=False,
                trace_configs=self._trace_configs or None,
            )
        return self._session

    # -- operations --------------------------------------------------------------------------------

    async def submit(self, request: GenerationRequest) -> SubmittedTask:
        """Create a task (charged by reAPI); retried only on NotSent and 429, never after it may have arrived.

        Raises
        ------
        BadRequest, Unauthorized, InsufficientFunds, RateLimited, ReapiStatusError
            reAPI refused it; nothing was created.
        ServerError, OutcomeUnknown, InvalidResponse
            A task may exist and be charged: do not re-submit.
        NotSent
            reAPI was unreachable on every attempt.
        """
        if "model" not in request.model_fields_set and request.model != self._model:
            request = request.model_copy(update={"model": self._model})
        body = request.to_body()

        async def attempt() -> SubmittedTask:
            data = await self._api_call("POST", "images/generations", "submit", json_body=body)
            return self._parse(SubmittedTask, data, "submit")

        submitted = await self._retrying(self._submit_policy, "submit", attempt)
        log.debug("reAPI accepted task %s", submitted.id)
        return submitted

    async def get_task(self, task_id: str) -> Task:
        """One logical poll of a task, retried on 429, 5xx, timeouts and connection errors.

        Raises
        ------
        TaskNotFound
            The task does not exist or belongs to another key.
        """
        if task_id in ("", ".", ".."):
            raise ValueError("task_id must be a reAPI task id")
        path = "tasks/" + quote(task_id, safe="")

        async def attempt() -> Task:
            data = await self._api_call("GET", path, "poll")
            return self._parse(Task, data, "poll")

        task = await self._retrying(self._poll_policy, "poll", attempt)
        if task.known_status is None and task.status not in self._unknown_statuses and len(self._unknown_statuses) < 64:
            self._unknown_statuses.add(task.status)
            log.warning("reAPI reported an undocumented task status %.40r; treating it as running", task.status)
        return task

    async def download(self, url: str, *, max_bytes: int) -> DownloadedImage:
        """Download an output (absolute URL, no API key sent) with a byte cap, retrying transient failures.

        Raises
        ------
        DownloadError
            Too large, not a PNG/JPEG/WebP, expired (403/404/410), another status, or unreachable.
        """
        try:
            target = URL(url)
        except (TypeError, ValueError):
            raise DownloadError("bad_url", "output URL cannot be parsed") from None
        if target.scheme not in ("http", "https") or not target.host:
            raise DownloadError("bad_url", "output URL is not an absolute http(s) URL")
        shown = str(target.with_query(None).with_fragment(None))

        async def attempt() -> DownloadedImage:
            return await self._download_once(target, shown, max_bytes)

        try:
            return await self._retrying(self._download_policy, "download", attempt)
        except (ReapiStatusError, ReapiConnectionError) as exc:
            status = exc.status if isinstance(exc, ReapiStatusError) else None
            raise DownloadError("unavailable", f"could not download {shown}: {exc}", status=status) from exc

    # -- internals ---------------------------------------------------------------------------------

    async def _retrying(self, policy: RetryPolicy, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` under ``policy``: the one retry loop of the adapter."""
        number = 1
        while True:
            try:
                return await attempt()
            except ReapiError as exc:
                if not policy.should_retry(exc, number):
                    raise
                delay = policy.delay_for(number, policy.retry_after_of(exc))
                log.info(
                    "reAPI %s failed (%s), retrying in %.2fs (attempt %d of %d)",
                    what,
                    type(exc).__name__,
                    delay,
                    number + 1,
                    policy.max_attempts,
                )
                await self._sleep(delay)
                number += 1

    async def _api_call(self, method: str, path: str, what: str, *, json_body: Any = None) -> Any:
        """One HTTP exchange with reAPI: returns the decoded JSON of a 2xx answer or raises the mapped error."""
        session = self._ensure_session()
        headers = {"Authorization": f"Bearer {self._api_key}"}
        try:
            async with session.request(
                method, path, json=json_body, headers=headers, trace_request_ctx=what
            ) as response:
                status, body = response.status, await response.read()
                response_headers = response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._redacted(_transport_error(exc, what)) from exc
        log.debug("reAPI %s %s -> %d", method, path, status)
        if not 200 <= status < 300:
            raise self._redacted(error_from_response(status, body, response_headers))
        try:
            return json.loads(body)
        except ValueError:
            raise InvalidResponse(f"{what}: reAPI answered {status} with a body that is not JSON") from None

    def _parse(self, model: type[M], data: Any, what: str) -> M:
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in error["loc"]) or "body" for error in exc.errors()[:5])
            raise InvalidResponse(f"{what}: unexpected answer from reAPI (bad fields: {fields})") from None

    async def _download_once(self, target: URL, shown: str, max_bytes: int) -> DownloadedImage:
        session = self._ensure_session()
        try:
            accept = {"Accept": "image/png, image/jpeg, image/webp"}
            async with session.get(target, headers=accept, trace_request_ctx="download") as response:
                if response.status in _EXPIRED:
                    raise DownloadError(
                        "expired", f"output {shown} is gone (HTTP {response.status})", status=response.status
                    )
                if response.status == 429 or response.status >= 500:
                    raise error_from_response(response.status, await response.content.read(2048), response.headers)
                if not 200 <= response.status < 300:
                    raise DownloadError(
                        "status", f"output {shown} answered HTTP {response.status}", status=response.status
                    )
                if response.content_length is not None and response.content_length > max_bytes:
                    raise DownloadError("too_large", f"output {shown} is {response.content_length} bytes > {max_bytes}")
                data = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    data += chunk
                    if len(data) > max_bytes:
                        raise DownloadError("too_large", f"output {shown} exceeds {max_bytes} bytes")
                header_type = response.headers.get("Content-Type")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _transport_error(exc, "download") from exc
        content_type = detect_content_type(bytes(data), header_type)
        if content_type is None:
            raise DownloadError("bad_type", f"output {shown} is not a PNG, JPEG or WebP image")
        return DownloadedImage(bytes(data), content_type)

    def _redacted(self, exc: ReapiError) -> ReapiError:
        """Strip the API key from a message built from reAPI's answer, in case a server echoes it."""
        key = self._api_key
        if not key or key not in str(exc):
            return exc
        if isinstance(exc, ReapiStatusError):
            return type(exc)(
                exc.status,
                exc.code,
                exc.message.replace(key, _REDACTED),
                exc.request_id.replace(key, _REDACTED) if exc.request_id else exc.request_id,
                retry_after=exc.retry_after,
            )
        return type(exc)(str(exc).replace(key, _REDACTED))
