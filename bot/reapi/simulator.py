"""A local reAPI stand-in (aiohttp.web) that follows reapi.md, for tests and the zero-cost trial mode.

Every model in :data:`bot.reapi.specs.MODELS` is served; bodies are checked by ``sim_validate`` and outputs
drawn by ``sim_render``. Error codes beyond reAPI's documented ones (10001-10004, 20002, 80006) are its own choice:

====== ====== ===============================================================================
status code   meaning
====== ====== ===============================================================================
400    20001  body is not JSON or not a JSON object
400    20002  missing required parameter (``model`` or ``prompt``)
400    20003  parameter has the wrong type, or an unknown parameter was sent (the simulator is strict)
400    20004  unsupported ``model``
400    20005  ``prompt`` empty or longer than the model's limit (20,000 for nano-banana-2-lite)
400    20006  the ratio field (``aspect_ratio`` or ``size``, per model) not one of the model's values
400    20007  ``image_urls`` more than the model allows (any for z-image), or not all public http(s) URLs
400    20008  ``resolution`` not one of the model's (lowercase, the schema's form)
400    20009  ``n`` outside the model's range (1-4 for the gemini models)
400    20010  ``resolution`` that needs another ratio (gpt-image-2's 4k)
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
import json
import logging
import math
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from bot.reapi.sim_faults import DEFAULT_CODES, Endpoint, Fault, FaultKind
from bot.reapi.sim_render import render_png
from bot.reapi.sim_validate import validate_body
from bot.reapi.specs import RESOLUTION_PIXELS, spec_for

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_CODES",
    "Endpoint",
    "Fault",
    "FaultKind",
    "Outcome",
    "ReapiSimulator",
    "SimTask",
    "render_png",
    "serve",
]

log = logging.getLogger(__name__)


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
    pngs: dict[int, bytes] = field(default_factory=dict, repr=False)  # rendered outputs by index, on first download

    @property
    def count(self) -> int:
        """How many images the task yields (the body's ``n``, else 1)."""
        count = self.body.get("n", 1)
        return count if isinstance(count, int) else 1

    def file_names(self) -> list[str]:
        """The output file names: ``<id>.png`` for the first image, ``<id>-2.png``... for the others."""
        return [self.id if index == 0 else f"{self.id}-{index + 1}" for index in range(self.count)]

    def status(self, now: float) -> str:
        """The task's status at simulator clock time ``now``."""
        if self.ready_at is None or now < self.ready_at:
            return self.outcome.status if self.outcome.kind == "never" else "processing"
        return "completed" if self.outcome.kind == "complete" else "failed"


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
        distinct_images: bool = True,
    ) -> None:
        self.api_key = api_key
        self.delay = delay
        # With delay_sigma > 0 each task takes a lognormal time: median `delay`, log-spread `delay_sigma`,
        # drawn from a generator seeded with `seed` (the same seed, the same durations in the same order).
        self.delay_sigma = delay_sigma
        self._durations = random.Random(seed)
        self.image_size = max(21, image_size)
        # False: every output of one size and position is the same image, rendered once. For load benchmarks, where
        # drawing and encoding a PNG per task was most of the fakes' CPU (55 % in soak) and made them, not the bot,
        # the bottleneck; the bot gets the same bytes to download, check and upload either way.
        self.distinct_images = distinct_images
        self._shared_pngs: dict[tuple[str, int, int], bytes] = {}
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
        problem = validate_body(body)
        if problem is not None:
            return await self._finish(request, fault, _error(400, *problem))
        task = self._create(body, owner)
        self.submissions.append({"task_id": task.id, "body": body})
        answer = {"id": task.id, "model": body["model"], "status": "processing", "created_at": task.created_at}
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
            output = {"image_urls": [f"{request.url.origin()}/files/{name}.png" for name in task.file_names()]}
        elif status == "failed":
            error = {"code": task.outcome.code, "message": task.outcome.message, "request_id": task.request_id}
        answer = {
            "id": task.id,
            "model": task.body["model"],
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
        name = request.match_info["task_id"]
        task_id, dash, number = name.rpartition("-")
        task = self.tasks.get(task_id if dash and number.isdigit() else name)
        index = int(number) - 1 if dash and number.isdigit() else 0
        now = self.clock()
        if task is None or task.ready_at is None or task.status(now) != "completed" or name not in task.file_names():
            return await self._finish(request, fault, web.Response(status=404, text="Not Found"))
        if self.output_ttl is not None and now >= task.ready_at + self.output_ttl:
            return await self._finish(request, fault, web.Response(status=self.expired_status, text="Expired"))
        png = task.pngs.get(index)
        if png is None:
            png = task.pngs[index] = self._render(task, index)
        return await self._finish(request, fault, web.Response(body=png, content_type="image/png"))

    def _render(self, task: SimTask, index: int) -> bytes:
        """Output ``index`` of ``task``: the body's ratio, at its resolution's size (``image_size`` without one)."""
        spec = spec_for(task.body["model"])
        ratio = task.body.get(spec.ratio_field.value, spec.default_ratio)
        longest = self.image_size
        if spec.sends_resolution:
            longest = RESOLUTION_PIXELS[task.body.get("resolution", spec.default_resolution)]
        if not self.distinct_images:
            key = (ratio, longest, index)
            if key not in self._shared_pngs:
                self._shared_pngs[key] = render_png(f"simulated output #{index + 1}", ratio, longest)
            return self._shared_pngs[key]
        seed = task.body["prompt"] + "\n" + "\n".join(task.body.get("image_urls", []))
        return render_png(seed + (f"\n#{index + 1}" if index else ""), ratio, longest)


async def serve(host: str = "127.0.0.1", port: int = 8787, *, api_key: str | None = None, delay: float = 2.0) -> None:
    """Run a simulator until cancelled (``imagine-bot simulator``); any ``rk_`` key works unless ``api_key`` is set."""
    simulator = ReapiSimulator(api_key=api_key, delay=delay)
    base_url = await simulator.start(host, port)
    log.info("reAPI simulator serving at %s (tasks take %.1fs; no credits are spent)", base_url, delay)
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.close()
