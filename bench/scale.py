"""scale: 10,000 /imagine offered at 100/s, 130 s images, all in flight at once in one bot process.

The fake Discord and the simulator run in a child process (``bench.remote``), so this process is the bot alone:
its event-loop lag, its RSS and its full garbage collections are measured while it holds every job. The run ends
once 300 images have been delivered (deliveries have begun under the full load; with the poll pace at its default
100/s each of 10,000 jobs is polled every ~100 s, so the first ones come some 30 s after the first completions);
the rest are handed back on shutdown, as a restart would. Targets (issue 12): lag p99 ≤ 20 ms and max ≤ 100 ms,
peak RSS ≤ 200 MB, probe ACK (/credits while loaded) ≤ 25 ms, and ≤ 40 Discord REST calls/s from the jobs in
flight when none arrives or ends. The floor: a discord.py bot that defers, sleeps and posts, on a shorter load at
the same rate.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.harness import Check, LoadSampler, Result, mean, percentile
from bench.remote import RemoteWorld

if TYPE_CHECKING:
    from bench.remote import Timeline

__all__ = ["run"]

LAG_P99 = 0.020
LAG_MAX = 0.100
PEAK_RSS = 200 * 1024 * 1024
PROBE_ACK = 0.025
QUIET_CALLS_PER_SECOND = 40.0
_PROBE_GIVE_UP = 10.0


@dataclass(frozen=True)
class _Size:
    count: int  # jobs offered
    rate: float  # offered per second
    task: float  # seconds each simulated image takes
    watch_deliveries: int  # the run ends after this many outcomes
    loaded: int  # "loaded": at least this many jobs in flight (probes, quiet seconds)
    floor_count: int
    floor_hold: float
    settle: int  # seconds after the last ACK before a second counts as quiet
    every: float  # seconds between status reads


_FULL = _Size(10_000, 100.0, 130.0, 300, 2_000, 1_000, 10.0, settle=5, every=1.0)
_SMOKE = _Size(60, 100.0, 5.0, 60, 20, 30, 0.5, settle=1, every=0.2)


async def _drive(world: RemoteWorld, size: _Size, count: int, deadline: float, notes: list[str]) -> list[float]:
    """Offer ``count`` jobs and wait for ``watch`` outcomes (or the deadline, noted), probing once a second while
    loaded; the probe ACKs."""
    loop = asyncio.get_running_loop()
    watch = min(count, size.watch_deliveries) if count == size.count else count
    probes: list[float] = []
    # The fakes' collector is held until the next reset (as ack holds it per burst): with every job's records in
    # its heap, the child's full collections took 90-430 ms, and an ACK arriving then was timed as that late.
    await world.offer(count, size.rate, hold_gc=True)
    for _ in range(100_000):
        status = await world.status()
        if status["done"] >= watch:
            break
        if loop.time() > deadline:
            notes.append(f"stopped at the deadline: {status['done']} of {watch} outcomes, {status['acked']} ACKed")
            break
        if status["acked"] - status["done"] >= min(size.loaded, count):
            latency = await world.probe()
            probes.append(latency if latency is not None else _PROBE_GIVE_UP)  # unanswered: the wait itself
        await asyncio.sleep(size.every)
    notes.append(f"reAPI tasks created by the end: {status['submits']} (all runs so far)")
    if not probes:  # a run too short (or a bot too slow) to be seen loaded: one probe still, after the load
        latency = await world.probe()
        probes.append(latency if latency is not None else _PROBE_GIVE_UP)
    return probes


def _quiet_calls(timeline: Timeline, size: _Size) -> list[int]:
    return [timeline.calls[s] for s in timeline.quiet_seconds(size.loaded, size.settle)]


def _ms(values: list[float], fraction: float) -> str:
    return f"{percentile(values, fraction) * 1000:.0f}"


async def run(*, smoke: bool) -> Result:
    """The floor first, then the bot, each against the child's fakes; figures from this process and the child."""
    size = _SMOKE if smoke else _FULL
    result = Result("scale")
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="imagine-scale-") as tmp:
        async with RemoteWorld(sim_delay=size.task) as world:
            async with world.floor_bot(size.floor_hold), LoadSampler() as floor_load:
                floor_deadline = loop.time() + 30 + size.floor_count / size.rate + size.floor_hold
                floor_probes = await _drive(world, size, size.floor_count, floor_deadline, result.notes)
            floor_timeline = await world.timeline()
            await world.reset()
            settings = world.settings(
                Path(tmp), "scale", max_concurrent=size.count, max_queued=size.count + 100, lease_seconds=60
            )
            async with world.imagine_bot(settings), LoadSampler() as load:
                limit = loop.time() + size.count / size.rate + size.task + 40
                probes = await _drive(world, size, size.count, limit, result.notes)
            timeline = await world.timeline()
    lags, floor_lags = load.lags(), floor_load.lags()
    quiet = _quiet_calls(timeline, size)
    flight = timeline.in_flight()
    result.figures = {
        "load": f"{size.count} /imagine offered at {size.rate:.0f}/s, {size.task:.0f} s per image, max_concurrent "
        f"{size.count}; measured until {min(size.count, size.watch_deliveries)} outcomes",
        "most jobs in flight at once": str(max(flight, default=0)),
        "bot event-loop lag p50 / p99 / max": f"{_ms(lags, 0.5)} / {_ms(lags, 0.99)} / {_ms(lags, 1.0)} ms",
        "bot peak RSS": f"{load.peak_rss / 2**20:.0f} MB",
        "bot full GCs": f"{len(load.full_gc_seconds)}, {sum(load.full_gc_seconds):.1f} s in all, "
        f"longest {max(load.full_gc_seconds, default=0) * 1000:.0f} ms",
        "bot young GCs": load.describe_young_gcs(),
        "bot ACK p50 / p99 (the load's /imagine)": f"{_ms(timeline.ack_latencies, 0.5)} / "
        f"{_ms(timeline.ack_latencies, 0.99)} ms",
        "probe ACK while loaded p50 / p99 / max": f"{_ms(probes, 0.5)} / {_ms(probes, 0.99)} / "
        f"{_ms(probes, 1.0)} ms ({len(probes)} probes)",
        "REST calls/s in quiet loaded seconds (mean / max)": f"{mean(quiet):.1f} / {max(quiet, default=0)} "
        f"over {len(quiet)} s",
        "REST calls/s over the run (mean / max)": f"{mean(timeline.calls):.0f} / {max(timeline.calls, default=0)}",
        "429 answers": str(timeline.throttled),
        "floor": f"{size.floor_count} offered at {size.rate:.0f}/s, held {size.floor_hold:g} s; most in flight "
        f"{max(floor_timeline.in_flight(), default=0)}",
        "floor event-loop lag p50 / p99 / max": f"{_ms(floor_lags, 0.5)} / {_ms(floor_lags, 0.99)} / "
        f"{_ms(floor_lags, 1.0)} ms",
        "floor peak RSS / ACK p99 / probe ACK p99": f"{floor_load.peak_rss / 2**20:.0f} MB / "
        f"{_ms(floor_timeline.ack_latencies, 0.99)} ms / {_ms(floor_probes, 0.99)} ms",
        "CPU seconds, bot / floor": f"{load.cpu_seconds:.0f} / {floor_load.cpu_seconds:.0f}",
    }
    floor_p99 = percentile(floor_lags, 0.99)
    result.floor_ratio = percentile(lags, 0.99) / floor_p99 if floor_p99 > 0 else float("nan")
    result.floor_ratio_of = "event-loop lag p99"
    result.checks += [
        Check("event-loop lag p99 (s)", percentile(lags, 0.99), LAG_P99),
        Check("event-loop lag max (s)", percentile(lags, 1.0), LAG_MAX),
        Check("peak RSS (MB)", load.peak_rss / 2**20, PEAK_RSS / 2**20),
        Check("probe ACK while loaded, p99 (s)", percentile(probes, 0.99), PROBE_ACK),
        Check(
            "REST calls/s while loaded and quiet (max)",
            float(max(quiet)) if quiet else float("nan"),
            QUIET_CALLS_PER_SECOND,
        ),
        Check("jobs in flight at once", float(max(flight, default=0)), float(size.count), higher_is_better=True),
    ]
    result.notes.append(
        "the floor only sleeps where the bot polls, stores and edits; its figures are the cost of discord.py and"
        " the gateway at the same offer rate"
    )
    return result
