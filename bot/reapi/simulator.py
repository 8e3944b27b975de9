"""A local reAPI stand-in (aiohttp.web) that follows reapi.md, for tests and the zero-cost trial mode.

Error codes it uses beyond reAPI's documented ones (10001-10004, 20002, 80006) are its own choice:

====== ====== ===============================================================================
status code   meaning
====== ====== ===============================================================================
400    20001  body is not JSON or not a JSON object
400    20002  missing required parameter (``model`` or ``prompt``)
400    20003  parameter has the wrong type, or an unknown parameter was sent (the simulator is strict)
400    20004  unsupported ``model``
400    20005  ``prompt`` empty or longer than 20,000 characters
400    20006  ``aspect_ratio`` not one of the 15 values
400    20007  ``image_urls`` more than 10, or not all public http(s) URLs (``data:`` is rejected)
401    10001  no Authorization header / 10002 not ``Bearer`` / 10003 invalid key
402    40201  insufficient credits (only through ``Fault.error(402)``; reAPI documents no code)
404    40401  task not found or not owned by the key
429    42901  rate limited (through ``Fault.error(429, retry_after=...)``)
5xx    5000x  server side (``Fault.error(500)``); 50001 is also the generic task failure code
====== ====== ===============================================================================
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import math
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from PIL import Image, ImageDraw

from bot.reapi.models import MAX_IMAGE_URLS, MAX_PROMPT_CHARS, MODEL, AspectRatio, GenerationRequest

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_CODES", "Endpoint", "Fault", "FaultKind", "Outcome", "ReapiSimulator", "SimTask", "serve"]

log = logging.getLogger(__name__)

Endpoint = Literal["submit", "poll", "download"]
"""Where a fault applies: ``POST /images/generations``, ``GET /tasks/{id}`` or ``GET /files/{id}.png``."""

DEFAULT_CODES = {400: 20001, 401: 10003, 402: 40201, 404: 40401, 429: 42901, 500: 50000, 502: 50002, 503: 50003}
"""Error code a ``Fault.error(status)`` sends when no code is given."""

_FIELDS = frozenset(GenerationRequest.model_fields)
_RATIOS = frozenset(AspectRatio)


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


@dataclass(frozen=True)
class Outcome:
    """How a newly created task ends; queue them in ``ReapiSimulator.next_outcomes``."""

    kind: Literal["complete", "fail", "never"]
    code: int = 0
    message: str = ""
    delay: float | None = None
    status: str = "processing"

    @classmethod
    def complete(cls, *, delay: float | None = None) -> Outcome:
        """Complete with a PNG after ``delay`` seconds (default: the simulator's delay)."""
        return cls("complete", delay=delay)

    @classmethod
    def fail(cls, code: int = 50001, message: str = "Generation failed.", *, delay: float | None = None) -> Outcome:
        """Fail with ``error={code, message, request_id}`` (80006 = content policy)."""
        return cls("fail", code=code, message=message, delay=delay)

    @classmethod
    def never(cls, status: str = "processing") -> Outcome:
        """Never finish, reporting ``status`` forever (an undocumented one tests "unknown = running")."""
        return cls("never", status=status)


_MARKERS = {
    "[sim:policy]": Outcome.fail(80006, "The request was blocked by the content policy."),
    "[sim:fail]": Outcome.fail(50001, "Generation failed upstream."),
}


@dataclass
class SimTask:
    """A task the simulator created: its submit body, outcome and timing."""

    id: str
    body: dict[str, Any]
    owner: str
    created_at: int
    outcome: Outcome
    ready_at: float | None
    started: float = 0.0  # simulator clock when the task was created
    request_id: str = field(default_factory=lambda: f"req_{uuid.uuid4()}")
    png: bytes | None = field(default=None, repr=False)

    def status(self, now: float) -> str:
        """The task's status at simulator clock time ``now``."""
        if self.ready_at is None or now < self.ready_at:
            return self.outcome.status if self.outcome.kind == "never" else "processing"
        return "completed" if self.outcome.kind == "complete" else "failed"


def render_png(prompt: str, ratio: AspectRatio, longest: int) -> bytes:
    """A PNG with exactly the requested aspect ratio and a gradient whose colours derive from the prompt."""
    width_units, height_units = ratio.ratio or (1, 1)
    scale = max(1, longest // max(width_units, height_units))
    size = (width_units * scale, height_units * scale)
    digest = hashlib.sha256(prompt.encode()).digest()
    start = Image.new("RGB", size, (digest[0], digest[1], digest[2]))
    end = Image.new("RGB", size, (digest[3], digest[4], digest[5]))
    mask = Image.linear_gradient("L").resize(size)
    image = Image.composite(end, start, mask)
    # Stamp it, so nobody mistakes a simulated result for a real one.
    draw = ImageDraw.Draw(image)
    draw.text((6, 4), "SIMULATED", fill="white", stroke_width=2, stroke_fill="black")
    draw.text((6, 18), prompt[:40], fill="white", stroke_width=2, stroke_fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "request_id": f"req_{uuid.uuid4()}"}}
    return web.json_response(body, status=status, headers=headers)


def _drop(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)  # never written: the transport is gone


class ReapiSimulator:
    """reAPI's async image API on aiohttp.web: auth, validation, tasks that finish lazily, outputs and faults."""

    def __init__(
        self,
        api_key: str | None = None,
        delay: float = 2.0,
        *,
        delay_sigma: float = 0.0,
        seed: int | None = None,
        image_size: int = 256,
        output_ttl: float | None = None,
        expired_status: int = 404,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_key = api_key
        self.delay = delay
        # With delay_sigma > 0 each task takes a lognormal time: median `delay`, log-spread `delay_sigma`,
        # drawn from a generator seeded with `seed` (the same seed, the same durations in the same order).
        self.delay_sigma = delay_sigma
        self._durations = random.Random(seed)
        self.image_size = max(21, image_size)
        self.output_ttl = output_ttl
        self.expired_status = expired_status
        self.clock = clock
        self.next_outcomes: deque[Outcome] = deque()
        self.faults: dict[Endpoint, deque[Fault]] = {"submit": deque(), "poll": deque(), "download": deque()}
        self.submissions: list[dict[str, Any]] = []
        self.tasks: dict[str, SimTask] = {}
        self.requests: list[tuple[Endpoint, bool]] = []  # (endpoint, whether an Authorization header came)
        self._app = web.Application()
        self._app.router.add_post("/api/v1/images/generations", self._submit)
        self._app.router.add_get("/api/v1/tasks/{task_id}", self._poll)
        self._app.router.add_get("/files/{task_id}.png", self._file)
        self._runner: web.AppRunner | None = None

    @property
    def app(self) -> web.Application:
        """The aiohttp application, e.g. for pytest-aiohttp's ``aiohttp_server``."""
        return self._app

    def inject(self, endpoint: Endpoint, *faults: Fault) -> None:
        """Queue faults for the next requests to ``endpoint``, one per request."""
        self.faults[endpoint].extend(faults)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = a free port) and return the API base URL, e.g. ``http://127.0.0.1:PORT/api/v1``."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        # A short shutdown: a deliberately slow handler (Fault.slow) must not hold up close().
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, host, port).start()
        bound_port = runner.addresses[0][1]
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else host
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        return f"http://{shown}:{bound_port}/api/v1"

    async def close(self) -> None:
        """Stop serving (when started with :meth:`start`)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- handlers ----------------------------------------------------------------------------------

    @property
    def submit_count(self) -> int:
        """Submit requests received, accepted or not (faulted ones included)."""
        return [endpoint for endpoint, _ in self.requests].count("submit")

    @property
    def poll_count(self) -> int:
        """Poll requests received, answered or not."""
        return [endpoint for endpoint, _ in self.requests].count("poll")

    @property
    def download_count(self) -> int:
        """Output file requests received."""
        return [endpoint for endpoint, _ in self.requests].count("download")

    def _arrive(self, endpoint: Endpoint, request: web.Request) -> Fault | None:
        """Record a request and take the next fault queued for its endpoint."""
        self.requests.append((endpoint, "Authorization" in request.headers))
        queue = self.faults[endpoint]
        return queue.popleft() if queue else None

    def _owner(self, request: web.Request) -> str | web.Response:
        """A digest of the caller's key (tasks belong to keys), or the 401 answer."""
        header = request.headers.get("Authorization")
        if header is None:
            return _error(401, 10001, "Missing Authorization header.")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return _error(401, 10002, "Authorization header must be 'Bearer <key>'.")
        valid = key.startswith("rk_")
        if self.api_key is not None:
            valid = hmac.compare_digest(key.encode(), self.api_key.encode())
        if not valid:
            return _error(401, 10003, "Invalid API key.")
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    async def _finish(self, request: web.Request, fault: Fault | None, response: web.Response) -> web.Response:
        if fault is not None and fault.kind is FaultKind.DROP_AFTER:
            return _drop(request)
        if fault is not None and fault.kind is FaultKind.DELAY:
            await asyncio.sleep(fault.seconds)
        return response

    @staticmethod
    def _early(request: web.Request, fault: Fault | None) -> web.Response | None:
        """The answer of a fault that acts before the request is handled, if any."""
        if fault is None or fault.kind in (FaultKind.DELAY, FaultKind.DROP_AFTER):
            return None
        if fault.kind is FaultKind.DROP_BEFORE:
            return _drop(request)
        if fault.kind is FaultKind.RAW:
            return web.Response(status=fault.status, body=fault.body.encode(), content_type=fault.content_type)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        code = fault.code if fault.code is not None else DEFAULT_CODES.get(fault.status, fault.status * 100)
        return _error(fault.status, code, fault.message or f"Simulated HTTP {fault.status}.", headers)

    async def _submit(self, request: web.Request) -> web.Response:
        fault = self._arrive("submit", request)
        if (early := self._early(request, fault)) is not None:
            return early
        owner = self._owner(request)
        if isinstance(owner, web.Response):
            return await self._finish(request, fault, owner)
        try:
            body: Any = json.loads(await request.text())
        except ValueError:
            return await self._finish(request, fault, _error(400, 20001, "Request body is not valid JSON."))
        problem = _validate(body)
        if problem is not None:
            return await self._finish(request, fault, _error(400, *problem))
        task = self._create(body, owner)
        self.submissions.append({"task_id": task.id, "body": body})
        answer = {"id": task.id, "model": MODEL, "status": "processing", "created_at": task.created_at}
        return await self._finish(request, fault, web.json_response(answer))

    def _create(self, body: dict[str, Any], owner: str) -> SimTask:
        prompt: str = body["prompt"]
        outcome = self.next_outcomes.popleft() if self.next_outcomes else None
        if outcome is None:
            outcome = next((o for marker, o in _MARKERS.items() if marker in prompt), Outcome.complete())
        delay = outcome.delay if outcome.delay is not None else self.task_delay()
        if "[sim:slow]" in prompt and outcome.delay is None:
            delay *= 3
        now = self.clock()
        ready_at = None if outcome.kind == "never" else now + delay
        task = SimTask(f"task_{uuid.uuid4().hex}", body, owner, int(time.time()), outcome, ready_at, started=now)
        self.tasks[task.id] = task
        return task

    def task_delay(self) -> float:
        """Seconds the next task takes: ``delay``, or a lognormal draw around it when ``delay_sigma`` is set."""
        if self.delay_sigma <= 0:
            return self.delay
        return self.delay * math.exp(self.delay_sigma * self._durations.gauss())

    async def _poll(self, request: web.Request) -> web.Response:
        fault = self._arrive("poll", request)
        if (early := self._early(request, fault)) is not None:
            return early
        owner = self._owner(request)
        if isinstance(owner, web.Response):
            return await self._finish(request, fault, owner)
        task = self.tasks.get(request.match_info["task_id"])
        if task is None or task.owner != owner:
            return await self._finish(request, fault, _error(404, 40401, "Task not found."))
        status = task.status(self.clock())
        output = error = None
        if status == "completed":
            output = {"image_urls": [f"{request.url.origin()}/files/{task.id}.png"]}
        elif status == "failed":
            error = {"code": task.outcome.code, "message": task.outcome.message, "request_id": task.request_id}
        answer = {
            "id": task.id,
            "model": MODEL,
            "status": status,
            "created_at": task.created_at,
            "output": output,
            "error": error,
        }
        return await self._finish(request, fault, web.json_response(answer))

    async def _file(self, request: web.Request) -> web.Response:
        fault = self._arrive("download", request)
        if (early := self._early(request, fault)) is not None:
            return early
        task = self.tasks.get(request.match_info["task_id"])
        now = self.clock()
        if task is None or task.ready_at is None or task.status(now) != "completed":
            return await self._finish(request, fault, web.Response(status=404, text="Not Found"))
        if self.output_ttl is not None and now >= task.ready_at + self.output_ttl:
            return await self._finish(request, fault, web.Response(status=self.expired_status, text="Expired"))
        if task.png is None:
            ratio = AspectRatio(task.body.get("aspect_ratio", AspectRatio.AUTO))
            seed = task.body["prompt"] + "\n" + "\n".join(task.body.get("image_urls", []))
            task.png = render_png(seed, ratio, self.image_size)
        return await self._finish(request, fault, web.Response(body=task.png, content_type="image/png"))


def _validate(body: Any) -> tuple[int, str] | None:
    """(code, message) of the first problem with a submit body, or None when reAPI would accept it."""
    if not isinstance(body, dict):
        return 20001, "Request body must be a JSON object."
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        return 20003, f"Unknown parameter: {unknown[0]}."
    for name in ("model", "prompt"):
        if name not in body:
            return 20002, f"Missing required parameter: {name}."
        if not isinstance(body[name], str):
            return 20003, f"Parameter {name} must be a string."
    if body["model"] != MODEL:
        return 20004, f"Unsupported model: {body['model'][:100]}."
    if not 1 <= len(body["prompt"]) <= MAX_PROMPT_CHARS:
        return 20005, f"prompt must be 1 to {MAX_PROMPT_CHARS} characters."
    ratio = body.get("aspect_ratio", AspectRatio.AUTO)
    if not isinstance(ratio, str) or ratio not in _RATIOS:
        return 20006, "aspect_ratio must be one of: " + ", ".join(AspectRatio) + "."
    urls = body.get("image_urls", [])
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        return 20003, "image_urls must be a list of strings."
    if len(urls) > MAX_IMAGE_URLS:
        return 20007, f"image_urls accepts at most {MAX_IMAGE_URLS} URLs."
    if not all(url.lower().startswith(("http://", "https://")) for url in urls):
        return 20007, "image_urls must be public http(s) URLs; data: URIs are not accepted."
    return None


async def serve(host: str = "127.0.0.1", port: int = 8787, *, api_key: str | None = None, delay: float = 2.0) -> None:
    """Run a simulator until cancelled (``imagine-bot simulator``); any ``rk_`` key works unless ``api_key`` is set."""
    simulator = ReapiSimulator(api_key=api_key, delay=delay)
    base_url = await simulator.start(host, port)
    log.info("reAPI simulator serving at %s (tasks take %.1fs; no credits are spent)", base_url, delay)
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.close()
