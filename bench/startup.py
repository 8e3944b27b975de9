"""startup: process start → commands usable, with 1,000 unfinished jobs to resume.

A first bot (in this process) takes 1,000 /imagine whose images take minutes and is closed once every job runs on
reAPI: its jobs are handed back, as a restart leaves them. Then ``python -m bot run`` starts on that database and
the fake Discord sends a /credits as soon as the new process has identified; the figure is the time from spawning
the process to the fake receiving that command's ACK. Target (issue 12): ≤ 1.5 s. The floor: the same measure for a
bare discord.py bot process (``python -m bench.floorbot``), which imports discord.py and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from bench.harness import DISCORD_TOKEN, REAPI_KEY, Check, Result, World, percentile
from bot.store import JobState, open_store

if TYPE_CHECKING:
    from bot.config import Settings
    from tests.fakes.fake_discord import FakeInteraction

__all__ = ["cpu_seconds", "run"]

TARGET = 1.5
_PROBES = 5  # after the first: one every 0.2 s, while the resumed jobs start
_BATCH = 50


def _config(settings: Settings) -> str:
    """The TOML ``bot run --config`` reads (the token and the key go by environment)."""
    sections: dict[str, dict[str, object]] = {
        "discord": {
            "api_base_url": settings.discord.api_base_url,
            "gateway_url": settings.discord.gateway_url,
        },
        "reapi": {"base_url": settings.reapi.base_url, "simulate": False},
        "database": {"url": settings.database.url},
        "jobs": {"max_concurrent": settings.jobs.max_concurrent, "max_queued": settings.jobs.max_queued},
        "log": {"level": "WARNING"},
    }
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


async def _spawn(world: World, log: Path, *args: str) -> tuple[asyncio.subprocess.Process, float]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_")},
        "IMAGINEBOT_DISCORD__TOKEN": DISCORD_TOKEN,
        "IMAGINEBOT_REAPI__API_KEY": REAPI_KEY,
    }
    started = asyncio.get_running_loop().time()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=world.tmp, env=env, stdout=out, stderr=out
        )
    return process, started


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a live process has used so far, from ``/proc/<pid>/stat``; NaN if unreadable.

    On a shared machine the wall time to a usable command depends on the neighbours; this does not.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return math.nan
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces; the fields after it do not
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _usable(
    world: World, process: asyncio.subprocess.Process, started: float, log: Path
) -> tuple[list[float], float]:
    """Seconds from spawn to the first probe's ACK (sent once the process identified), from spawn to IDENTIFY, and
    of each later probe's ACK; and the CPU seconds the process had used when the first ACK came."""
    ready = world.fake.ready_count
    cpu = math.nan
    try:
        await world.fake.wait_for(lambda: world.fake.ready_count > ready or None, timeout=60, what="IDENTIFY")
        identified = world.fake.now() - started
        probes: list[FakeInteraction] = []
        for n in range(_PROBES + 1):
            if n:
                await asyncio.sleep(0.2)
            probes.append(await world.fake.send_slash_command("credits", [], user=world.new_users(1)[0]))
            if n == 0:
                await world.callbacks(probes, timeout=30)
                cpu = cpu_seconds(process.pid)
        callbacks = await world.callbacks(probes, timeout=30)
    except AssertionError as exc:
        printed = await asyncio.to_thread(log.read_text, errors="replace")
        raise RuntimeError(f"{exc}; the process printed:\n{printed[-3000:]}") from None
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()
    first = callbacks[0].time - started
    later = [c.time - p.sent_at for c, p in zip(callbacks[1:], probes[1:], strict=True) if p.sent_at is not None]
    return [first, identified, *later], cpu


async def _leave_unfinished(world: World, settings: Settings, count: int) -> None:
    """A bot takes ``count`` jobs and is closed once all are stored and every slot runs one on reAPI."""
    running_wanted = min(count, settings.jobs.max_concurrent)
    async with world.imagine_bot(settings) as bot:
        for first in range(0, count, _BATCH):  # in batches: Discord's 3 s to ACK holds for each one
            interactions = await world.imagine(world.new_users(min(_BATCH, count - first)))
            await world.callbacks(interactions, timeout=60)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        for _ in range(100_000):
            jobs = await bot.services.store.active_jobs()
            running = sum(job.state is JobState.RUNNING for job in jobs)
            if len(jobs) == count and running >= running_wanted:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"{len(jobs)} jobs, {running} running, after 120 s")
            await asyncio.sleep(0.2)


def _p50_max(values: list[float]) -> str:
    return f"{percentile(values, 0.5) * 1000:.0f} / {percentile(values, 1.0) * 1000:.0f} ms"


async def run(*, smoke: bool) -> Result:
    """Leave ``count`` jobs unfinished, then time the floor's process and the bot's process to a usable command."""
    count = 50 if smoke else 1_000
    result = Result("startup")
    async with World(sim_delay=600) as world:
        settings = world.settings("startup", max_concurrent=count // 10, max_queued=count + 100)
        await _leave_unfinished(world, settings, count)
        left = await _active(settings)
        config = world.tmp / "bot.toml"
        config.write_text(_config(settings), encoding="utf-8")
        floor_log, bot_log = world.tmp / "floor.log", world.tmp / "bot.log"
        floor_args = ("-m", "bench.floorbot", world.fake.api_base_url, world.fake.gateway_url)
        floor, floor_cpu = await _usable(world, *await _spawn(world, floor_log, *floor_args), floor_log)
        polls_before = world.sim.poll_count
        process, started = await _spawn(world, bot_log, "-m", "bot", "run", "--config", str(config))
        bot, bot_cpu = await _usable(world, process, started, bot_log)
        polls = world.sim.poll_count - polls_before
    result.figures = {
        "unfinished jobs at start": ", ".join(f"{n} {state}" for state, n in sorted(left.items()))
        + f" (max_concurrent {count // 10}; leases handed back)",
        "bot: spawn → first command ACKed": f"{bot[0] * 1000:.0f} ms wall, {bot_cpu * 1000:.0f} ms CPU",
        "bot: spawn → IDENTIFY": f"{bot[1] * 1000:.0f} ms",
        "bot: ACK of the next probes, p50 / max": _p50_max(bot[2:]),
        "floor: spawn → first command ACKed": f"{floor[0] * 1000:.0f} ms wall, {floor_cpu * 1000:.0f} ms CPU",
        "floor: spawn → IDENTIFY": f"{floor[1] * 1000:.0f} ms",
        "floor: ACK of the next probes, p50 / max": _p50_max(floor[2:]),
        "reAPI polls by the new process before it was stopped": str(polls),
    }
    result.floor_ratio, result.floor_ratio_of = bot[0] / floor[0], "spawn → first command ACKed"
    result.checks += [
        Check("process start → commands usable (s)", bot[0], TARGET),
    ]
    return result


async def _active(settings: Settings) -> Counter[str]:
    """The unfinished jobs in the database, by state."""
    store = await open_store(settings.database.url)
    try:
        return Counter(job.state.value for job in await store.active_jobs())
    finally:
        await store.close()
