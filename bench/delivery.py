"""delivery: task completed → image posted, and polls per job: the adaptive poll schedule beside fixed intervals.

Tasks take lognormal times (median 8 s, σ 0.3, seeded) in the simulator. Both arms run in the same world, one
after the other, each on its own bot and database, with /imagine arriving at a steady rate (one job per member):

- *fixed*: ``jobs.adaptive_polling = false``, the intervals the bot used before (2.5 s early, 1.5 s near the
  usual duration): the floor this benchmark compares against;
- *adaptive*: the default; a warm-up batch first (not measured) gives the schedule its history, as a running bot
  has; then the measured batch (the schedule keeps learning through it).

Per job: delay = the simulator's completion time of its task → the fake Discord receiving the upload of its image
(both on the loop's monotonic clock); polls/s = polls of its task / (upload received − task created). Targets
(issue 12): median delay ≤ 0.4 s, p95 ≤ 1.0 s, polls/s per job (mean over jobs) ≤ 0.6.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.harness import Check, Result, World, mean, percentile, settled
from bot.reapi.simulator import ReapiSimulator

if TYPE_CHECKING:
    from aiohttp import web

    from tests.fakes.fake_discord import FakeInteraction

__all__ = ["run"]

MAX_MEDIAN_DELAY = 0.4
MAX_P95_DELAY = 1.0
MAX_POLLS_PER_SECOND = 0.6
MEDIAN_SECONDS, SIGMA, SEED = 8.0, 0.3, 12


class _CountingSimulator(ReapiSimulator):
    """The simulator, counting polls per task (its own counters do not say which task was polled)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.polls_of: Counter[str] = Counter()

    async def _poll(self, request: web.Request) -> web.Response:
        self.polls_of[request.match_info["task_id"]] += 1
        return await super()._poll(request)


@dataclass(frozen=True)
class _Arm:
    delays: list[float]
    rates: list[float]
    polls: list[int]
    missing: int

    def describe(self) -> str:
        return (
            f"delay median {percentile(self.delays, 0.5):.2f} s, p95 {percentile(self.delays, 0.95):.2f} s, "
            f"max {max(self.delays, default=float('nan')):.2f} s; {mean(self.rates):.2f} polls/s per job "
            f"({mean([float(p) for p in self.polls]):.1f} polls per job)"
        )


async def _dispatch(world: World, label: str, count: int, rate: float) -> list[FakeInteraction]:
    """``count`` /imagine from fresh members, ``1 / rate`` seconds apart; their ACKs awaited."""
    interactions = []
    for n, user in enumerate(world.new_users(count)):
        prompt = [{"name": "prompt", "value": f"delivery {label} {n}"}]
        interactions.append(await world.fake.send_slash_command("imagine", prompt, user=user))
        await asyncio.sleep(1 / rate)
    await world.callbacks(interactions, timeout=60)
    return interactions


def _measure(world: World, sim: _CountingSimulator, label: str, interactions: list[FakeInteraction]) -> _Arm:
    task_of = {entry["body"]["prompt"]: entry["task_id"] for entry in sim.submissions}
    by_token = world.requests_by_token()
    delays: list[float] = []
    rates: list[float] = []
    polls: list[int] = []
    missing = 0
    for n, inter in enumerate(interactions):
        task = sim.tasks.get(task_of.get(f"delivery {label} {n}", ""))
        upload = next((r for r in by_token.get(inter.token, []) if r.files), None)
        if task is None or task.ready_at is None or upload is None:
            missing += 1
            continue
        delays.append(upload.time - task.ready_at)
        polls.append(sim.polls_of[task.id])
        rates.append(sim.polls_of[task.id] / (upload.time - task.started))
    return _Arm(delays, rates, polls, missing)


async def _arm(
    world: World, sim: _CountingSimulator, name: str, *, count: int, warmup: int, rate: float, **jobs: Any
) -> _Arm:
    settings = world.settings(name, max_concurrent=200, max_queued=1000, **jobs)
    timeout = 60 + 3 * MEDIAN_SECONDS + (warmup + count) / rate
    async with world.imagine_bot(settings) as bot:
        if warmup:
            # Only the durations matter here (what the schedule learns), not the pace: offered four times faster.
            await world.outcomes(await _dispatch(world, f"{name}-warmup", warmup, rate * 4), timeout=timeout)
        inters = await _dispatch(world, name, count, rate)
        await world.outcomes(inters, timeout=timeout)
        await settled(bot, timeout=30)
    return _measure(world, sim, name, inters)


async def run(*, smoke: bool) -> Result:
    """The fixed arm, then the adaptive arm (warm-up, then measured), in one world."""
    median = 0.5 if smoke else MEDIAN_SECONDS
    count, warmup, rate = (4, 10, 20.0) if smoke else (120, 100, 10.0)
    result = Result("delivery")
    world = World(sim_delay=median)
    sim = world.sim = _CountingSimulator(
        api_key=world.sim.api_key, delay=median, delay_sigma=SIGMA, seed=SEED, distinct_images=False
    )
    async with world:
        fixed = await _arm(world, sim, "fixed", count=count, warmup=0, rate=rate, adaptive_polling=False)
        adaptive = await _arm(world, sim, "adaptive", count=count, warmup=warmup, rate=rate)
    result.figures = {
        "jobs": f"{count} per arm at {rate:.0f}/s (adaptive after {warmup} warm-up jobs); tasks lognormal, "
        f"median {median:g} s, σ {SIGMA} (seed {SEED})",
        "adaptive": adaptive.describe(),
        "fixed (poll_interval 1.5 / max_poll_interval 2.5)": fixed.describe(),
        "jobs without a measured upload (adaptive / fixed)": f"{adaptive.missing} / {fixed.missing}",
    }
    fixed_median = percentile(fixed.delays, 0.5)
    result.floor_ratio = percentile(adaptive.delays, 0.5) / fixed_median if fixed_median > 0 else float("nan")
    result.floor_ratio_of = "median delay, adaptive / fixed"
    result.checks += [
        Check("median delay (s)", percentile(adaptive.delays, 0.5), MAX_MEDIAN_DELAY),
        Check("p95 delay (s)", percentile(adaptive.delays, 0.95), MAX_P95_DELAY),
        Check("polls/s per job", mean(adaptive.rates), MAX_POLLS_PER_SECOND),
        Check("jobs without a measured upload", float(adaptive.missing + fixed.missing), 0),
    ]
    if smoke:
        result.notes.append("smoke: 0.5 s tasks; the targets are for 8 s tasks")
    return result
