"""The benchmarks' measuring tools compute what they claim: RSS, loop lag, full collections, CPU, counts."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections import deque

import pytest

from bench.harness import LoadSampler, parse_rss, read_rss
from bench.remote import RemoteWorld, Timeline
from bench.soak import held_entries
from bench.startup import cpu_seconds

STATUS = """Name:\tpython
VmPeak:\t  500000 kB
VmHWM:\t  204800 kB
VmRSS:\t  102400 kB
Threads:\t3
"""


def test_parse_rss_reads_current_and_peak_in_bytes() -> None:
    assert parse_rss(STATUS) == (100 * 1024 * 1024, 200 * 1024 * 1024)


@pytest.mark.parametrize("text", ["Name:\tpython\n", "VmRSS:\t 10 kB\n", "VmRSS:\t 10 MB\nVmHWM:\t 10 MB\n"])
def test_parse_rss_refuses_a_status_without_both_lines_in_kb(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each has its own message
        parse_rss(text)


def test_read_rss_sees_memory_this_process_touches() -> None:
    before, _ = read_rss()
    block = b"\x01" * (64 * 1024 * 1024)  # written, so resident
    after, peak = read_rss()
    assert after - before >= 48 * 1024 * 1024
    assert peak >= after
    del block


async def test_load_sampler_records_a_blocked_loop_and_full_collections() -> None:
    async with LoadSampler(interval=0.01) as load:
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # noqa: ASYNC251 - the loop is blocked: the next timer fires at least this late
        gc.collect()
        spin_until = time.process_time() + 0.2
        while time.process_time() < spin_until:  # CPU this process uses while sampled
            pass
        await asyncio.sleep(0.05)
    assert max(load.lags()) >= 0.15
    assert load.full_gc_seconds
    assert load.cpu_seconds >= 0.2
    assert load.peak_rss > 0


async def test_load_sampler_records_young_collections_apart_from_full_ones() -> None:
    async with LoadSampler(interval=0.01) as load:
        full_before = len(load.full_gc_seconds)
        gc.collect(0)
        gc.collect(1)
    assert len(load.young_gc_seconds[0]) >= 1
    assert len(load.young_gc_seconds[1]) >= 1
    assert len(load.full_gc_seconds) == full_before
    assert load.describe_young_gcs().startswith(f"gen0 {len(load.young_gc_seconds[0])} (longest ")


async def test_load_sampler_windows_its_samples_by_loop_time() -> None:
    loop = asyncio.get_running_loop()
    async with LoadSampler(interval=0.01) as load:
        await asyncio.sleep(0.05)
        blocked_at = loop.time()
        time.sleep(0.2)  # noqa: ASYNC251 - blocking the loop is the point
        await asyncio.sleep(0.05)
    before, after = load.lags(until=blocked_at), load.lags(since=blocked_at)
    assert before
    assert len(before) + len(after) == len(load.lags())
    assert max(after) >= 0.15


def test_timeline_counts_jobs_in_flight_and_quiet_seconds() -> None:
    timeline = Timeline(
        calls=[5, 5, 3, 1, 1, 2, 9],
        acks=[3, 2, 0, 0, 0, 0, 0],
        finished=[0, 0, 0, 0, 0, 0, 4],
        ack_latencies=[],
        probe_latencies=[],
        throttled=0,
    )
    assert timeline.in_flight() == [3, 5, 5, 5, 5, 5, 1]
    # seconds 2 and 3 have an ACK within the settle time before them; 6 has an outcome
    assert timeline.quiet_seconds(at_least=5, settle=2) == [4, 5]
    assert timeline.quiet_seconds(at_least=6, settle=2) == []


class _Inner:
    def __init__(self) -> None:
        self.cache: dict[str, int] = {"a": 1, "b": 2}


_Inner.__module__ = "bot.fake_for_test"  # followed like the bot's own objects


class _Root:
    __slots__ = ("inner", "items", "name", "seen")

    def __init__(self) -> None:
        self.inner = _Inner()
        self.items: list[int] = [1, 2, 3]
        self.seen: deque[int] = deque([1])
        self.name = "not a container"


def test_held_entries_counts_containers_through_the_bots_own_objects() -> None:
    assert held_entries({"root": _Root()}) == {"root.inner.cache": 2, "root.items": 3, "root.seen": 1}
    assert held_entries({"root": _Root()}, depth=0) == {"root.items": 3, "root.seen": 1}


def test_cpu_seconds_counts_the_cpu_a_process_used() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert cpu_seconds(os.getpid()) - before >= 0.2
    assert cpu_seconds(2**22 + 12345) != cpu_seconds(2**22 + 12345)  # no such process: NaN


async def test_remote_world_times_the_acks_of_a_burst_and_of_nothing_else() -> None:
    # soak runs for minutes through the same RemoteWorld: a record of every ACK written would be memory its
    # process keeps per job (it did: soak counted two blocks per job of the bench's own as the bot's).
    async with RemoteWorld(sim_delay=0.05) as world, world.floor_bot(0.0):
        await world.reset()
        await world.offer(5, 1_000.0)
        for _ in range(100):  # 5 s
            if (await world.status())["answered"] >= 5:
                break
            await asyncio.sleep(0.05)
        assert (await world.status())["answered"] == 5
        assert world.acks_written == {}
        sent = await world.burst(5)
        for _ in range(100):  # 5 s
            if len(world.acks_written) >= 5:
                break
            await asyncio.sleep(0.05)
        assert set(world.acks_written) == set(sent)
        assert all(0 < world.acks_written[token] - at < 5 for token, at in sent.items())
        await world.reset()
        assert world.acks_written == {}
