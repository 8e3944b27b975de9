"""soak: waves of 1,000 jobs through one bot process; what each finished job leaves behind.

After every wave (all outcomes shown, no job unfinished) the bot's process is collected and measured: RSS, asyncio
tasks, and the entries of every container the bot's services hold (runner, steps, notifier, ...). The first waves
warm caches and pools; growth is counted from the end of ``_WARM`` waves to the last. Targets (issue 12): RSS growth
≤ 0.5 KB per finished job, no task and no container entry left per finished job. The fake Discord and the simulator
run in a child process (``bench.remote``). The floor: the same waves through a bot that defers, waits and posts.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness import Check, Result, read_rss, settled
from bench.remote import RemoteWorld

if TYPE_CHECKING:
    from bot.surface.app import ImagineBot

__all__ = ["held_entries", "run"]

RSS_PER_JOB = 512.0  # bytes
LEFT_PER_JOB = 0.01  # tasks or entries per finished job: one per job would be 1.0
_WARM = 2
_RATE = 200.0
_MEMBERS = 500  # jobs come from this many members in turn, as in a real guild
_BUDGET = 190.0  # seconds of bot waves: the suite's 10 minutes hold even when the bot is slow (noted)
_CONTAINERS = (dict, set, list, deque, frozenset)


def held_entries(roots: dict[str, object], depth: int = 2) -> dict[str, int]:
    """Entries in the containers ``roots`` hold as attributes, by ``root.attribute`` path, ``depth`` objects deep.

    Follows attributes that are objects of the bot's own modules (``bot.``) and counts every dict, set, list and
    deque it meets; a per-job leak in any of them grows its count with every job.
    """
    counts: dict[str, int] = {}
    seen: set[int] = set()

    def visit(obj: object, path: str, left: int) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        names: dict[str, Any] = dict(getattr(obj, "__dict__", {}))
        for slot in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, slot):
                names[slot] = getattr(obj, slot)
        for name, value in names.items():
            where = f"{path}.{name}"
            if isinstance(value, _CONTAINERS):
                counts[where] = len(value)
            elif left > 0 and type(value).__module__.startswith("bot."):
                visit(value, where, left - 1)

    for name, root in roots.items():
        visit(root, name, depth)
    return counts


def _measure(bot: ImagineBot) -> tuple[int, int, dict[str, int]]:
    """(RSS, asyncio tasks, container entries) after a full collection."""
    gc.collect()
    services = bot.services
    roots: dict[str, object] = {
        "runner": services.runner,
        "notifier": services.notifier,
        "accounts": services.accounts,
        "alerts": services.alerts,
        "store": services.store,
        "reapi": services.reapi,
    }
    return read_rss()[0], len(asyncio.all_tasks()), held_entries(roots)


async def _wave(world: RemoteWorld, size: int, timeout: float) -> tuple[float, int]:  # noqa: ASYNC109
    """Offer one wave and wait until every interaction was answered and every job it made shows its outcome;
    its seconds and how many interactions were acknowledged too late (they made no job)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    await world.offer(size, _RATE, pool=_MEMBERS)
    for _ in range(100_000):
        status = await world.status()
        answered = not status["offering"] and status["answered"] == status["dispatched"]
        if answered and status["done"] >= status["acked"]:
            return loop.time() - started, status["answered"] - status["acked"]
        if loop.time() - started > timeout:
            raise TimeoutError(f"wave: {status} after {timeout:.0f}s")
        await asyncio.sleep(0.1)
    raise TimeoutError("wave did not end")


async def run(*, smoke: bool) -> Result:
    """The floor's waves, then the bot's; measured after each of the bot's waves."""
    waves, size = (3, 20) if smoke else (10, 1_000)
    floor_waves = 2
    result = Result("soak")
    with tempfile.TemporaryDirectory(prefix="imagine-soak-") as tmp:
        async with RemoteWorld(sim_delay=0.2) as world:
            async with world.floor_bot(0.2):
                floor_times = [(await _wave(world, size, timeout=120))[0] for _ in range(floor_waves)]
            await world.reset()
            settings = world.settings(
                Path(tmp),
                "soak",
                max_concurrent=size,
                max_queued=size + 100,
                per_user_concurrent=size,
                per_user_queued=size,
                poll_interval=0.2,
                max_poll_interval=0.2,
                progress_interval=0.2,
                # 0.2 s images at 200/s want ~300 polls a second: the default pace (100/s) would make this a test of
                # the pace, and each wave twice as long; what is measured here is what a finished job leaves behind.
                max_polls_per_second=1_000,
            )
            after: list[tuple[int, int, dict[str, int]]] = []
            times: list[float] = []
            late_acks = 0
            loop = asyncio.get_running_loop()
            budget = loop.time() + (30 if smoke else _BUDGET)
            async with world.imagine_bot(settings) as bot:
                for _ in range(waves):
                    if loop.time() > budget and len(after) > _WARM:
                        result.notes.append(f"time budget spent after {len(after)} of {waves} waves")
                        break
                    seconds, late = await _wave(world, size, timeout=120)
                    times.append(seconds)
                    late_acks += late
                    await settled(bot, timeout=60)
                    after.append(_measure(bot))
            timeline = await world.timeline()
    jobs = size * (len(after) - _WARM)
    (rss0, tasks0, held0), (rss1, tasks1, held1) = after[_WARM - 1], after[-1]
    grown = {k: v - held0.get(k, 0) for k, v in held1.items() if v - held0.get(k, 0) > 0}
    entries = sum(grown.values())
    result.figures = {
        "waves": f"{waves} × {size} jobs offered at {_RATE:.0f}/s by {_MEMBERS} members in turn, 0.2 s images",
        "outcomes seen": f"{sum(timeline.finished)} of {waves * size} ({late_acks} acknowledged too late, no job)",
        "seconds per wave, bot (first / last)": f"{times[0]:.1f} / {times[-1]:.1f}",
        "seconds per wave, floor": ", ".join(f"{t:.1f}" for t in floor_times),
        "RSS after each wave (MB)": ", ".join(f"{rss / 2**20:.1f}" for rss, _, _ in after),
        f"RSS growth from wave {_WARM} to {len(after)}": f"{(rss1 - rss0) / 1024:.0f} KB over {jobs} jobs",
        "asyncio tasks after each wave": ", ".join(str(tasks) for _, tasks, _ in after),
        "container entries that grew": ", ".join(f"{k} +{v}" for k, v in sorted(grown.items())) or "none",
    }
    result.floor_ratio = (sum(times[-floor_waves:]) / floor_waves) / (sum(floor_times) / floor_waves)
    result.floor_ratio_of = "seconds per wave"
    result.checks += [
        Check("RSS growth per finished job (bytes)", max(0.0, (rss1 - rss0) / jobs), RSS_PER_JOB),
        Check("asyncio tasks left per finished job", max(0.0, (tasks1 - tasks0) / jobs), LEFT_PER_JOB),
        Check("container entries left per finished job", entries / jobs, LEFT_PER_JOB),
    ]
    return result
