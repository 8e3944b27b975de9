"""The benchmarks' shared world: the fake Discord and the reAPI simulator on loopback, the real bot and a floor bot.

Everything runs in one process and one event loop, as the end-to-end tests do (``tests/e2e/conftest.py``): the
fake, the simulator and the bot share the CPU. Absolute times are therefore noisy; each benchmark also runs the
*floor*, a bare discord.py bot on the same fake that only defers and posts, and reports the ratio.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import re
import resource
import tempfile
import time
from collections import defaultdict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.config import Settings
from bot.reapi.simulator import ReapiSimulator
from bot.surface.app import ImagineBot
from tests.fakes.fake_discord import FakeDiscord, redirect_discord_py

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from types import TracebackType

    from tests.fakes.fake_discord import FakeInteraction, RecordedRequest

__all__ = [
    "Check",
    "Collections",
    "FloorBot",
    "LoadSampler",
    "Result",
    "World",
    "mean",
    "parse_rss",
    "percentile",
    "quiet_logs",
    "read_rss",
    "settled",
]

REAPI_KEY = "rk_bench_key"
DISCORD_TOKEN = "fake-token.bench"
# The interaction token inside a REST path: the callback route and every interaction webhook route carry it.
_TOKEN_IN_PATH = re.compile(r"/(?:interactions/\d+|webhooks/\d+)/(fake-interaction-[0-9a-f]+)(?:/|$)")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` 0.99 = p99); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; NaN for no values."""
    return sum(values) / len(values) if values else math.nan


def parse_rss(status: str) -> tuple[int, int]:
    """(current, peak) resident set size in bytes from a ``/proc/<pid>/status`` text (``VmRSS``, ``VmHWM``).

    Raises ValueError when either line is missing.
    """
    found: dict[str, int] = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            number, _, unit = rest.strip().partition(" ")
            if unit.strip().lower() != "kb":
                raise ValueError(f"{key}: unexpected unit {unit!r}")
            found[key] = int(number) * 1024
    if len(found) != 2:
        raise ValueError("no VmRSS/VmHWM lines in the status text")
    return found["VmRSS"], found["VmHWM"]


def read_rss() -> tuple[int, int]:
    """This process's (current, peak) resident set size in bytes; Linux's ``/proc/self/status``, else getrusage."""
    try:
        return parse_rss(Path("/proc/self/status").read_text(encoding="ascii"))
    except (OSError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        return peak, peak


class Collections:
    """Times every run of the garbage collector while entered, per generation.

    A collection stops the event loop for as long as it runs: a full one in the middle of a burst of ACKs, or a
    young one over a large heap of surviving objects, is the loop's worst stall.
    """

    def __init__(self) -> None:
        self.seconds: tuple[list[float], list[float], list[float]] = ([], [], [])  # by generation
        self._started = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if self._started:
            self.seconds[info.get("generation", 0)].append(time.perf_counter() - self._started)
            self._started = 0.0

    def __enter__(self) -> Collections:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def describe(self) -> str:
        """Young and full runs, and the full ones' time, e.g. ``12 young, 1 full (60 ms)``."""
        young, full = len(self.seconds[0]) + len(self.seconds[1]), self.seconds[2]
        return f"{young} young, {len(full)} full ({sum(full) * 1000:.0f} ms)"


class LoadSampler:
    """Samples the running event loop's lag, this process's RSS and its garbage collections, while entered.

    Lag is how late a timer of ``interval`` fires: whatever ran on the loop (a callback, a parse, a collection)
    without yielding delays it by that much. Samples are ``(loop time, lag)`` pairs, so a benchmark can read the
    figures of any window of its run (``lags(since, until)``).
    """

    def __init__(self, *, interval: float = 0.01, rss_every: float = 0.25) -> None:
        self.interval = interval
        self.rss_every = rss_every
        self.samples: list[tuple[float, float]] = []
        self.peak_rss = 0
        self.collections = Collections()
        self.cpu_seconds = 0.0  # this process's CPU time (all threads) while entered
        self._task: asyncio.Task[None] | None = None

    @property
    def full_gc_seconds(self) -> list[float]:
        """Each full collection's duration."""
        return self.collections.seconds[2]

    @property
    def young_gc_seconds(self) -> tuple[list[float], list[float]]:
        """Each young collection's duration, generation 0 and generation 1."""
        return self.collections.seconds[0], self.collections.seconds[1]

    def describe_young_gcs(self) -> str:
        """Count and longest of each young generation's collections, e.g. for a benchmark's figures."""
        return ", ".join(
            f"gen{n} {len(runs)} (longest {max(runs, default=0) * 1000:.0f} ms)"
            for n, runs in enumerate(self.young_gc_seconds)
        )

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        next_rss = 0.0
        for _ in range(1_000_000_000):  # until __aexit__ cancels it
            before = loop.time()
            await asyncio.sleep(self.interval)
            now = loop.time()
            self.samples.append((now, max(0.0, now - before - self.interval)))
            if now >= next_rss:
                self.peak_rss = max(self.peak_rss, read_rss()[0])
                next_rss = now + self.rss_every

    def lags(self, since: float = -math.inf, until: float = math.inf) -> list[float]:
        """The lag samples taken between two loop times (all by default)."""
        return [lag for at, lag in self.samples if since <= at <= until]

    async def __aenter__(self) -> LoadSampler:
        self.peak_rss = read_rss()[0]
        self.cpu_seconds = -time.process_time()
        self.collections.__enter__()
        self._task = asyncio.create_task(self._sample(), name="load-sampler")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.collections.__exit__()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.peak_rss = max(self.peak_rss, read_rss()[0])
        self.cpu_seconds += time.process_time()


@dataclass(frozen=True)
class Check:
    """One target of the issue: a measured figure against its limit."""

    label: str
    value: float
    limit: float
    higher_is_better: bool = False

    @property
    def passed(self) -> bool:
        """Whether the figure meets the target (NaN never does)."""
        if math.isnan(self.value):
            return False
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def describe(self) -> str:
        """``label: value (target ≤ limit) PASS|MISS``."""
        sign = "≥" if self.higher_is_better else "≤"
        verdict = "PASS" if self.passed else "MISS"
        return f"{self.label}: {self.value:.3g} (target {sign} {self.limit:.3g}) {verdict}"


@dataclass
class Result:
    """What one benchmark measured: named figures, the floor ratio, the targets and any notes."""

    name: str
    figures: dict[str, str] = field(default_factory=dict)
    floor_ratio: float | None = None
    floor_ratio_of: str = ""
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Every target met."""
        return all(check.passed for check in self.checks)

    def sane(self) -> bool:
        """For ``--smoke``: it produced figures and none of its checked values is NaN or negative."""
        values = [c.value for c in self.checks]
        return bool(self.figures) and all(not math.isnan(v) and v >= 0 for v in values)

    def lines(self) -> list[str]:
        """The figures, the floor ratio and the verdicts, one per line."""
        out = [f"{key}: {value}" for key, value in self.figures.items()]
        if self.floor_ratio is not None:
            out.append(f"bot/floor ratio ({self.floor_ratio_of}): {self.floor_ratio:.2f}")
        out.extend(check.describe() for check in self.checks)
        out.extend(f"note: {note}" for note in self.notes)
        return out


class FloorBot(discord.Client):
    """The floor: a bare discord.py bot whose /imagine only defers and then posts one message."""

    def __init__(self) -> None:
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE (default 2 s).
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree: app_commands.CommandTree[FloorBot] = app_commands.CommandTree(self)

        @self.tree.command(name="imagine", description="The floor: defer, then post.")
        async def imagine(interaction: discord.Interaction[FloorBot], prompt: str) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send(f"done: {prompt}", allowed_mentions=discord.AllowedMentions.none())


class World:
    """A fake Discord and a reAPI simulator on 127.0.0.1 and a scratch directory, for one benchmark."""

    def __init__(self, *, sim_delay: float, ack_deadline: float = 3.0) -> None:
        self.fake = FakeDiscord(token=DISCORD_TOKEN, ack_deadline=ack_deadline)
        # One image per size, rendered once: in this process a PNG drawn per task would take CPU from the bot.
        self.sim = ReapiSimulator(api_key=REAPI_KEY, delay=sim_delay, distinct_images=False)
        self.sim_url = ""
        self._stack = contextlib.AsyncExitStack()
        self._users = 0
        self.tmp = Path()

    async def __aenter__(self) -> World:
        self.tmp = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="imagine-bench-")))
        await self._stack.enter_async_context(self.fake)
        self._stack.enter_context(redirect_discord_py(self.fake))
        self.sim_url = await self.sim.start()
        self._stack.push_async_callback(self.sim.close)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def settings(self, name: str, **jobs: Any) -> Settings:
        """Settings pointing at the fakes, on a fresh SQLite file; ``jobs`` overrides ``[jobs]`` keys."""
        sections: dict[str, Any] = {
            "discord": {
                "token": self.fake.token,
                "api_base_url": self.fake.api_base_url,
                "gateway_url": self.fake.gateway_url,
            },
            "reapi": {"api_key": REAPI_KEY, "base_url": self.sim_url, "simulate": False},
            "database": {"url": f"sqlite:///{self.tmp / (name + '.sqlite3')}"},
            "jobs": jobs,
        }
        return Settings(**sections)

    @asynccontextmanager
    async def imagine_bot(self, settings: Settings) -> AsyncIterator[ImagineBot]:
        """The real ImagineBot, started as ``tests/e2e/conftest.py``'s ``start_bot`` does; closed on exit."""
        bot = ImagineBot(settings, guild_ready_timeout=0.05)
        async with self.running(bot, settings.discord.token.get_secret_value()):
            yield bot

    @asynccontextmanager
    async def floor_bot(self) -> AsyncIterator[FloorBot]:
        """The floor bot on the same fake; closed on exit (start it after the real bot is closed, not with it)."""
        bot = FloorBot()
        async with self.running(bot, self.fake.token):
            yield bot

    @asynccontextmanager
    async def running(self, bot: discord.Client, token: str) -> AsyncIterator[None]:
        """Any discord.py client connected to the fake until ready; closed on exit."""
        ready = self.fake.ready_count
        task = asyncio.create_task(bot.start(token))
        try:
            await self.fake.wait_for(lambda: self.fake.ready_count > ready, timeout=20, what="IDENTIFY")
            await asyncio.wait_for(bot.wait_until_ready(), timeout=20)
            yield
        finally:
            if not bot.is_closed():
                await bot.close()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=20)

    def new_users(self, count: int) -> list[dict[str, Any]]:
        """``count`` fresh members (one job each keeps per-member limits out of the measurement)."""
        users = []
        for _ in range(count):
            self._users += 1
            users.append(self.fake.make_user(f"bench{self._users}"))
        return users

    async def imagine(self, users: Sequence[dict[str, Any]]) -> list[FakeInteraction]:
        """Dispatch one /imagine per user, back to back (as fast as the gateway takes them)."""
        return [
            await self.fake.send_slash_command("imagine", [{"name": "prompt", "value": f"bench {n}"}], user=user)
            for n, user in enumerate(users)
        ]

    async def callbacks(self, interactions: Sequence[FakeInteraction], timeout: float) -> list[RecordedRequest]:  # noqa: ASYNC109
        """Wait until every interaction got its callback; return them in the same order."""
        wanted = {inter.callback_path for inter in interactions}

        def all_in() -> dict[str, RecordedRequest] | None:
            found = {r.path: r for r in self.fake.requests if r.method == "POST" and r.path in wanted}
            return found if len(found) == len(wanted) else None

        found = await self.fake.wait_for(all_in, timeout=timeout, what=f"{len(wanted)} interaction callbacks")
        return [found[inter.callback_path] for inter in interactions]

    async def floor_posts(self, interactions: Sequence[FakeInteraction], timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the floor bot made both its calls (defer, post) for every interaction."""
        tokens = {inter.token for inter in interactions}

        def done() -> bool:
            counts = self.requests_by_token()
            return all(len(counts.get(token, [])) >= 2 for token in tokens)

        await self.fake.wait_for(done, timeout=timeout, what="the floor's posts")

    async def outcomes(self, interactions: Sequence[FakeInteraction], timeout: float) -> None:  # noqa: ASYNC109
        """Wait until every interaction's placeholder shows its outcome: the image (an upload) or a failure (❌).

        Watched on the fake's side, scanning each new request once, so the wait costs the bot no database reads.
        """
        waiting = {inter.token for inter in interactions}
        seen = 0

        def done() -> bool:
            nonlocal seen
            requests = self.fake.requests
            for request in requests[seen:]:
                match = _TOKEN_IN_PATH.search(request.path)
                if match is None or match.group(1) not in waiting or request.method not in ("PATCH", "POST"):
                    continue
                content = request.json.get("content") if isinstance(request.json, dict) else None
                if request.files or str(content or "").startswith("❌"):
                    waiting.discard(match.group(1))
            seen = len(requests)
            return not waiting

        await self.fake.wait_for(done, timeout=timeout, what=f"the outcome of {len(waiting)} jobs")

    def requests_by_token(self) -> dict[str, list[RecordedRequest]]:
        """Every recorded REST request that belongs to one interaction (callback and webhook routes), by token."""
        grouped: dict[str, list[RecordedRequest]] = defaultdict(list)
        for request in self.fake.requests:
            match = _TOKEN_IN_PATH.search(request.path)
            if match is not None:
                grouped[match.group(1)].append(request)
        return grouped

    def ack_latency(self, interaction: FakeInteraction, callback: RecordedRequest) -> float:
        """Seconds from dispatching INTERACTION_CREATE to the fake receiving the callback."""
        assert interaction.sent_at is not None
        return callback.time - interaction.sent_at  # both on the loop's clock (the fake's clock is not advanced)


async def settled(bot: ImagineBot, timeout: float) -> None:  # noqa: ASYNC109
    """Wait until the bot has no unfinished job (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(1_000_000):
        if not await bot.services.store.active_jobs():
            return
        if loop.time() > deadline:
            raise TimeoutError(f"jobs still running after {timeout:.0f}s")
        await asyncio.sleep(0.1)


def quiet_logs() -> None:
    """Warnings and errors only: per-job INFO lines would cost the bot time the floor does not spend."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord").setLevel(logging.ERROR)
