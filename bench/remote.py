"""The fake Discord and the reAPI simulator in a child process, so the bot's own loop, RSS and lag are measured alone.

``RemoteWorld`` (the benchmark's side) starts ``python -m bench.remote``, which serves the fake Discord and the
simulator on 127.0.0.1 and prints their addresses as one JSON line; then the two talk in JSON lines over the
child's stdin/stdout. The child offers interactions at a set rate, watches what the bot does with each one (scanning
the fake's recorded requests, never asking the bot) and reports per-second counts: REST calls, ACKs, outcomes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import re
import sys
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import yarl

from bench.floorbot import HoldingFloorBot
from bench.harness import DISCORD_TOKEN, REAPI_KEY
from bot.config import Settings
from bot.surface.app import ImagineBot

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path
    from types import TracebackType

    from bot.reapi.simulator import ReapiSimulator
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

__all__ = ["RemoteWorld", "Timeline", "serve"]

_TOKEN_IN_PATH = re.compile(r"/(?:interactions/\d+|webhooks/\d+)/(fake-interaction-[0-9a-f]+)(?:/|$)")
_CALL_TIMEOUT = 60.0


@dataclass
class Timeline:
    """Per-second counts since the last ``reset``, as the child reported them (index = whole seconds)."""

    calls: list[int]
    acks: list[int]
    finished: list[int]
    ack_latencies: list[float]
    probe_latencies: list[float]
    throttled: int

    def in_flight(self) -> list[int]:
        """Jobs acknowledged and not finished at the end of each second."""
        out, running = [], 0
        for acked, done in zip(self.acks, self.finished, strict=True):
            running += acked - done
            out.append(running)
        return out

    def quiet_seconds(self, at_least: int, settle: int = 5) -> list[int]:
        """Seconds with no outcome and no ACK in the ``settle`` seconds before, while ``at_least`` jobs were in flight.

        Their REST calls are what the jobs in flight cost by themselves: the steady traffic of waiting jobs (the
        settle time lets each new job's own first edits pass).
        """
        flight = self.in_flight()
        return [
            s
            for s in range(settle, len(flight))
            if flight[s] >= at_least and not self.finished[s] and not any(self.acks[s - settle : s + 1])
        ]


# -- the bot's side --------------------------------------------------------------------------------------------


class RemoteWorld:
    """The benchmark's handle on a ``python -m bench.remote`` child: addresses, commands, and the bots to run."""

    def __init__(self, *, sim_delay: float) -> None:
        self.sim_delay = sim_delay
        self.addresses: dict[str, str] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        # Interaction token -> when the running bot wrote its ACK (the callback's body) to the socket, on the
        # clock the child stamps its dispatches with (both are time.monotonic()). Recorded from a burst() to the
        # next reset() only: a record of every ACK is memory in the bot's process per job, which soak would count
        # as the bot's (it did: two blocks per job).
        self.acks_written: dict[str, float] = {}
        self._timing_acks = False

    async def __aenter__(self) -> RemoteWorld:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.remote",
            "--sim-delay",
            str(self.sim_delay),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # a full report is one long line
        )
        self.addresses = await self._read()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.call("quit"), timeout=10)
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
        self._process = None

    async def _read(self) -> dict[str, Any]:
        assert self._process is not None
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout=_CALL_TIMEOUT)
        if not line:
            raise RuntimeError("the bench.remote child exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one command to the child and return its answer (one at a time)."""
        async with self._lock:
            assert self._process is not None
            assert self._process.stdin is not None
            self._process.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
            await self._process.stdin.drain()
            return await self._read()

    async def offer(
        self, count: int, rate: float, *, command: str = "imagine", pool: int = 0, hold_gc: bool = False
    ) -> None:
        """Start dispatching ``count`` commands at ``rate`` per second (returns at once).

        Each from a fresh member, or with ``pool`` from the same ``pool`` members in turn. ``hold_gc``: the child's
        garbage collector stays off until the next :meth:`reset`, so none of the fakes' collections falls inside
        what is measured (Discord's servers do not stop for our process's heap).
        """
        await self.call("offer", count=count, rate=rate, command=command, pool=pool, hold_gc=hold_gc)

    async def burst(self, count: int, *, hold_gc: bool = False) -> dict[str, float]:
        """Dispatch ``count`` /imagine from fresh members as one burst: built first, then written back to back
        (``FakeDiscord.send_at_once``), so that they reach the bot together in every run. Returns once all are
        sent, with when each was (interaction token -> the child's ``time.monotonic()``). ``hold_gc`` as for
        :meth:`offer`."""
        self._timing_acks = True  # before the call: the bot may ACK the first ones before it returns
        answer = await self.call("burst", count=count, hold_gc=hold_gc)
        sent: dict[str, float] = answer["sent"]
        return sent

    async def probe(self) -> float | None:
        """Dispatch one /credits and return the seconds until its ACK (None: none within 10 s)."""
        answer = await self.call("probe")
        latency = answer.get("ack")
        return float(latency) if latency is not None else None

    async def status(self) -> dict[str, Any]:
        """Counts so far: ``dispatched``, ``acked`` (in time), ``answered`` (a callback came, in time or not),
        ``done`` (an outcome shown), ``offering`` (still dispatching), ``submits`` (reAPI tasks created, ever)."""
        return await self.call("status")

    async def timeline(self) -> Timeline:
        """Everything counted since the last reset."""
        answer = await self.call("report")
        return Timeline(**answer["timeline"])

    async def reset(self) -> None:
        """Start counting afresh (between the floor and the bot), with the child's collector on and its heap so
        far frozen (collected once, then never scanned again: the fakes' records of earlier measurements made
        its full collections grow to 100-350 ms, and one falling inside a burst delayed every ACK after it).
        ACKs written are no longer recorded until the next :meth:`burst`."""
        await self.call("reset")
        self._timing_acks = False
        self.acks_written.clear()

    def settings(self, tmp: Path, name: str, **jobs: Any) -> Settings:
        """Settings pointing at the child's fakes, on a fresh SQLite file; ``jobs`` overrides ``[jobs]`` keys."""
        sections: dict[str, Any] = {
            "discord": {
                "token": DISCORD_TOKEN,
                "api_base_url": self.addresses["api_base_url"],
                "gateway_url": self.addresses["gateway_url"],
            },
            "reapi": {"api_key": REAPI_KEY, "base_url": self.addresses["sim_url"], "simulate": False},
            "database": {"url": f"sqlite:///{tmp / (name + '.sqlite3')}"},
            "jobs": jobs,
        }
        return Settings(**sections)

    @asynccontextmanager
    async def imagine_bot(self, settings: Settings) -> AsyncIterator[ImagineBot]:
        """The real ImagineBot, connected to the child's fake Discord; closed on exit."""
        # own_process: this process is the bot's, as `imagine-bot run`'s is.
        bot = ImagineBot(settings, own_process=True, guild_ready_timeout=0.05, http_trace=self._ack_trace())
        async with self._running(bot):
            yield bot

    @asynccontextmanager
    async def floor_bot(self, hold: float) -> AsyncIterator[HoldingFloorBot]:
        """The holding floor bot on the child's fake; closed on exit."""
        async with self._running(HoldingFloorBot(hold, http_trace=self._ack_trace())) as bot:
            yield bot

    def _ack_trace(self) -> aiohttp.TraceConfig:
        """When the bot's ACK leaves: its callback body written to the socket (aiohttp's chunk-sent signal). The
        fake's receipt of it also counts the fake's own queue, which a burst of 200 fills (bench ack)."""
        trace = aiohttp.TraceConfig()
        trace.on_request_chunk_sent.append(self._ack_written)
        return trace

    @asynccontextmanager
    async def _running(self, bot: discord.Client) -> AsyncIterator[Any]:
        old_base, old_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.addresses["api_base_url"]
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.addresses["gateway_url"])
        task = asyncio.create_task(bot.start(DISCORD_TOKEN))
        try:
            await asyncio.wait_for(bot.wait_until_ready(), timeout=60)
            yield bot
        finally:
            if not bot.is_closed():
                await bot.close()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=30)
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway

    async def _ack_written(
        self, session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestChunkSentParams
    ) -> None:
        if self._timing_acks and params.method == "POST" and params.url.path.endswith("/callback"):
            match = _TOKEN_IN_PATH.search(params.url.path)
            if match is not None:
                self.acks_written.setdefault(match.group(1), time.monotonic())


# -- the child's side ------------------------------------------------------------------------------------------


@dataclass
class _Watch:
    """What the child counts since the last reset."""

    started: float
    sent: dict[str, float] = field(default_factory=dict)  # token -> dispatch time (jobs)
    probes: dict[str, float] = field(default_factory=dict)  # token -> dispatch time (probes)
    acked: dict[str, float] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)  # jobs whose callback came, in time or not
    done: set[str] = field(default_factory=set)
    calls: Counter[int] = field(default_factory=Counter)
    acks: Counter[int] = field(default_factory=Counter)
    finished: Counter[int] = field(default_factory=Counter)
    throttled: int = 0
    seen: int = 0


class _Driver:
    """The child's commands: offer, probe, status, report, reset."""

    def __init__(self, fake: FakeDiscord, simulator: ReapiSimulator) -> None:
        self.fake = fake
        self.simulator = simulator
        self.watch = _Watch(started=fake.now())
        self.dispatched = 0
        self.pool: dict[int, dict[str, Any]] = {}
        self.offering: asyncio.Task[None] | None = None

    def scan(self) -> None:
        """Count the requests recorded since the last scan (and drop their file bytes: nobody reads them)."""
        watch, requests = self.watch, self.fake.requests
        for request in requests[watch.seen :]:
            second = max(0, int(request.time - watch.started))
            watch.calls[second] += 1
            watch.throttled += request.status == 429
            match = _TOKEN_IN_PATH.search(request.path)
            token = match.group(1) if match is not None else None
            if token is None or (token not in watch.sent and token not in watch.probes):
                request.files.clear()
                continue
            if request.path.endswith("/callback"):
                if token in watch.sent:
                    watch.answered.add(token)
                if request.status < 300 and token not in watch.acked:
                    watch.acked[token] = request.time
                    if token in watch.sent:
                        watch.acks[second] += 1
            elif token in watch.sent and token not in watch.done and request.method in ("PATCH", "POST"):
                content = str((request.json or {}).get("content") or "") if isinstance(request.json, dict) else ""
                if request.files or content.startswith(("❌", "done:")):
                    watch.done.add(token)
                    watch.finished[second] += 1
            request.files.clear()
        watch.seen = len(requests)

    def _user(self, pool: int) -> dict[str, Any]:
        """A fresh member each time, or with ``pool`` the members of a fixed pool in turn."""
        self.dispatched += 1
        if not pool:
            return self.fake.make_user(f"load{self.dispatched}")
        slot = self.dispatched % pool
        if slot not in self.pool:
            self.pool[slot] = self.fake.make_user(f"member{slot}")
        return self.pool[slot]

    def _make(self, command: str, pool: int) -> FakeInteraction:
        """A ``command`` interaction from the next member, built and not sent."""
        user = self._user(pool)
        options = [{"name": "prompt", "value": f"load {self.dispatched}"}] if command == "imagine" else []
        return self.fake.make_slash_command(command, options, user=user)

    async def _dispatch(self, command: str, *, probe: bool = False, pool: int = 0) -> str:
        interaction = self._make(command, pool)
        await self.fake.send_at_once([interaction])
        return self._sent(interaction, probe=probe)

    def _sent(self, interaction: FakeInteraction, *, probe: bool = False) -> str:
        assert interaction.sent_at is not None
        (self.watch.probes if probe else self.watch.sent)[interaction.token] = interaction.sent_at
        return interaction.token

    async def _offer(self, count: int, rate: float, command: str, pool: int) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n in range(count):
            await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
            await self._dispatch(command, pool=pool)

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        self.scan()
        watch = self.watch
        if op == "offer":
            if command.get("hold_gc"):
                gc.disable()
            self.offering = asyncio.create_task(
                self._offer(command["count"], command["rate"], command["command"], command.get("pool", 0))
            )
            return {"ok": True}
        if op == "burst":
            if command.get("hold_gc"):
                gc.disable()
            burst = [self._make("imagine", 0) for _ in range(command["count"])]
            await self.fake.send_at_once(burst)
            return {"sent": {self._sent(interaction): interaction.sent_at for interaction in burst}}
        if op == "probe":
            token = await self._dispatch("credits", probe=True)
            for _ in range(200):  # 10 s
                self.scan()
                if token in watch.acked:
                    return {"ack": watch.acked[token] - watch.probes[token]}
                await asyncio.sleep(0.05)
            return {"ack": None}
        if op == "status":
            offering = self.offering is not None and not self.offering.done()
            return {
                "dispatched": len(watch.sent),
                "acked": len(watch.acked),
                "answered": len(watch.answered),
                "done": len(watch.done),
                "offering": offering,
                "submits": len(self.simulator.submissions),  # accepted by reAPI, ever
            }
        if op == "report":
            return {"timeline": self._timeline()}
        if op == "reset":
            if self.offering is not None:
                self.offering.cancel()
            gc.enable()
            gc.collect()
            gc.freeze()
            self.watch = _Watch(started=self.fake.now(), seen=len(self.fake.requests))
            return {"ok": True}
        return {"ok": op == "quit"}

    def _timeline(self) -> dict[str, Any]:
        watch = self.watch
        seconds = 1 + max([*watch.calls, *watch.acks, *watch.finished, 0])
        return {
            "calls": [watch.calls[s] for s in range(seconds)],
            "acks": [watch.acks[s] for s in range(seconds)],
            "finished": [watch.finished[s] for s in range(seconds)],
            "ack_latencies": [watch.acked[t] - sent for t, sent in watch.sent.items() if t in watch.acked],
            "probe_latencies": [watch.acked[t] - sent for t, sent in watch.probes.items() if t in watch.acked],
            "throttled": watch.throttled,
        }


async def serve(sim_delay: float) -> None:
    """The child: serve both fakes, print their addresses, then answer commands from stdin until "quit" or EOF."""
    from bot.reapi.simulator import ReapiSimulator
    from tests.fakes.fake_discord import FakeDiscord

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    # One image per size, rendered once: drawing a PNG per task made the fakes the bottleneck of soak and scale.
    simulator = ReapiSimulator(api_key=REAPI_KEY, delay=sim_delay, distinct_images=False)
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        sim_url = await simulator.start()
        try:
            _write({"api_base_url": fake.api_base_url, "gateway_url": fake.gateway_url, "sim_url": sim_url})
            driver = _Driver(fake, simulator)
            for _ in range(1_000_000):
                line = await reader.readline()
                if not line:
                    return
                command = json.loads(line)
                _write(await driver.handle(command))
                if command["op"] == "quit":
                    return
        finally:
            await simulator.close()


def _write(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.remote", description=__doc__)
    parser.add_argument("--sim-delay", type=float, required=True, help="seconds each simulated image takes")
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    asyncio.run(serve(parser.parse_args().sim_delay))
