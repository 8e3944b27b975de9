"""queue: 500 jobs waiting at max_concurrent 16; queue-place edits per job, and whether the drain keeps slots busy.

Targets (issue 12): ≤ 3 queue-place edits per job on average while draining; throughput ≥ 95 % of
max_concurrent / mean job duration (a job's duration: from entering 'submitting' to finishing, i.e. its slot time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.harness import Check, Result, World, mean, settled
from bot.store import JobState

if TYPE_CHECKING:
    from bot.store import Job, Store
    from tests.fakes.fake_discord import FakeInteraction

__all__ = ["run"]

MAX_PLACE_EDITS = 3.0
MIN_UTILISATION = 0.95
_BATCH = 50  # dispatched back to back, then their ACKs awaited: the fake enforces Discord's 3 s ACK deadline


async def _intake(world: World, count: int) -> list[FakeInteraction]:
    interactions: list[FakeInteraction] = []
    for first in range(0, count, _BATCH):
        batch = await world.imagine(world.new_users(min(_BATCH, count - first)))
        await world.callbacks(batch, timeout=60)
        interactions += batch
    return interactions


async def _jobs(store: Store, interactions: list[FakeInteraction]) -> list[Job]:
    jobs = []
    for inter in interactions:
        for entry in await store.history(int(inter.user["id"]), limit=5):
            job = await store.get_job(entry.job_id)
            if job is not None:
                jobs.append(job)
    return jobs


async def run(*, smoke: bool) -> Result:
    """Queue ``count`` jobs (one per member) in batches, then wait for the queue to drain."""
    count, slots, delay = (12, 4, 0.3) if smoke else (500, 16, 1.0)
    result = Result("queue")
    async with World(sim_delay=delay) as world:
        clock = world.fake.now
        async with world.floor_bot():
            started = clock()
            await world.floor_posts(await _intake(world, count), timeout=60)
            floor_intake = clock() - started
        settings = world.settings(
            "queue", max_concurrent=slots, max_queued=count + 10, poll_interval=0.2, max_poll_interval=0.2
        )
        async with world.imagine_bot(settings) as bot:
            started = clock()
            inters = await _intake(world, count)
            intake = clock() - started
            await world.outcomes(inters, timeout=60 + 3 * count * delay / slots)
            await settled(bot, timeout=30)
            jobs = await _jobs(bot.services.store, inters)
        by_token = world.requests_by_token()
    place_edits = [
        sum(
            1
            for r in by_token.get(i.token, [])
            if r.method == "PATCH" and isinstance(r.json, dict) and str(r.json.get("content")).startswith("⏳")
        )
        for i in inters
    ]
    delivered = [j for j in jobs if j.state is JobState.DELIVERED]
    spans = [(j.submit_started_at, j.finished_at) for j in delivered]
    slot_times = [end - start for start, end in spans if start is not None and end is not None]
    starts = [s for s, _ in spans if s is not None]
    ends = [e for _, e in spans if e is not None]
    drain = max(ends) - min(starts) if starts and ends else float("nan")
    throughput = len(slot_times) / drain if drain > 0 else float("nan")
    ideal = slots / mean(slot_times) if slot_times else float("nan")
    result.figures = {
        "jobs": f"{count} (one per member), max_concurrent {slots}, simulator {delay} s per image",
        "delivered / other": f"{len(delivered)} / {len(jobs) - len(delivered)}",
        "queue-place edits per job (mean / max)": f"{mean(place_edits):.2f} / {max(place_edits)}",
        "mean slot time per job": f"{mean(slot_times):.2f} s",
        "drain": f"{drain:.1f} s, {throughput:.2f} jobs/s (ideal {ideal:.2f} jobs/s)",
        "intake of all jobs, bot / floor": f"{intake:.1f} s / {floor_intake:.1f} s",
    }
    result.floor_ratio, result.floor_ratio_of = intake / floor_intake, f"time to ACK {count} /imagine in batches"
    result.checks += [
        Check("queue-place edits per job (mean)", mean(place_edits), MAX_PLACE_EDITS),
        Check("drain throughput / (max_concurrent / mean duration)", throughput / ideal, MIN_UTILISATION, True),
        Check("jobs delivered (fraction)", len(delivered) / count, 1.0, True),
    ]
    return result
