"""ACK first: no garbage collection while interactions wait for their acknowledgement (bounded), through the real
bot on the fake Discord."""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import settled, stop_bot

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord, FakeInteraction

CALLBACK = r"/interactions/\d+/[^/]+/callback"


@pytest.fixture(autouse=True)
def _collector_on_after() -> Iterator[None]:
    """Whatever a test does, the process's collector is on for the next one."""
    assert gc.isenabled()
    yield
    gc.enable()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition()`` holds (bounded in count and time: at most 500 checks 10 ms apart)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def imagine(fake: FakeDiscord, prompt: str) -> FakeInteraction:
    return await fake.send_slash_command("imagine", [{"name": "prompt", "value": prompt}])


def acked(fake: FakeDiscord, inter: FakeInteraction) -> bool:
    return any(r.method == "POST" and r.path == inter.callback_path and r.status == 200 for r in fake.requests)


async def test_the_collector_waits_while_an_imagine_waits_for_its_ack_and_runs_again_once_it_is_acked(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]]
) -> None:
    """A full collection in the middle of a burst of ACKs stopped the loop for 60-350 ms (bench ack)."""
    bot = await start_bot()
    held = fake.hold_next("POST", CALLBACK)
    inter = await imagine(fake, "a lighthouse")
    await asyncio.wait_for(held.arrived.wait(), timeout=10)
    # The defer is on the wire and unanswered: no collection may stop the loop now.
    assert not gc.isenabled()
    assert bot.ack_window.paused
    held.release()
    await until(gc.isenabled, "the collector back on after the ACK")
    assert acked(fake, inter)
    assert bot.ack_window.pauses == 1
    # The job itself goes on as usual, collector on.
    await settled(bot)
    assert gc.isenabled()


async def test_a_pause_ends_on_its_bound_and_none_follows_until_no_interaction_is_pending(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]]
) -> None:
    """An interaction whose ACK never comes (or a steady stream of them) cannot keep the collector off."""
    bot = await start_bot()
    bot.ack_window.max_pause = 0.05
    held = fake.hold_next("POST", CALLBACK)
    stuck = await imagine(fake, "first")
    await asyncio.wait_for(held.arrived.wait(), timeout=10)
    await until(gc.isenabled, "the bound to end the pause")
    assert not acked(fake, stuck)  # still unacknowledged: the bound ended it, not the ACK
    assert bot.ack_window.pending == 1
    # Another interaction while that one is still pending: acknowledged with the collector on, no new pause.
    second = await imagine(fake, "second")
    await fake.wait_for(lambda: acked(fake, second), timeout=10, what="the second ACK")
    assert gc.isenabled()
    assert bot.ack_window.pauses == 1
    held.release()
    await fake.wait_for(lambda: acked(fake, stuck), timeout=10, what="the first ACK")
    await until(lambda: bot.ack_window.pending == 0, "nothing pending")
    # Once nothing is pending, the next burst is protected again.
    held = fake.hold_next("POST", CALLBACK)
    await imagine(fake, "third")
    await asyncio.wait_for(held.arrived.wait(), timeout=10)
    assert bot.ack_window.pauses == 2
    held.release()
    await until(gc.isenabled, "the collector back on after the third ACK")
    await settled(bot)


async def test_a_collector_turned_off_by_someone_else_stays_off(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]]
) -> None:
    bot = await start_bot()
    gc.disable()
    inter = await imagine(fake, "a lighthouse")
    await fake.wait_for(lambda: acked(fake, inter), timeout=10, what="the ACK")
    await until(lambda: bot.ack_window.pending == 0, "nothing pending")
    assert not gc.isenabled()
    assert bot.ack_window.pauses == 0
    gc.enable()
    await settled(bot)


async def test_closing_the_bot_ends_its_pause(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]]
) -> None:
    bot = await start_bot()
    held = fake.hold_next("POST", CALLBACK)
    await imagine(fake, "a lighthouse")
    await asyncio.wait_for(held.arrived.wait(), timeout=10)
    assert not gc.isenabled()
    await stop_bot(bot)
    assert gc.isenabled()
    held.release()


async def test_a_pause_ends_once_the_collection_it_puts_off_would_grow_too_large(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]]
) -> None:
    """The young collection a pause puts off scans everything allocated meanwhile: it may not grow unbounded."""
    bot = await start_bot()
    bot.ack_window.max_pause = 60.0  # only the allocation bound can end this pause
    bot.ack_window.max_young = 5_000
    held = fake.hold_next("POST", CALLBACK)
    stuck = await imagine(fake, "a lighthouse")
    await asyncio.wait_for(held.arrived.wait(), timeout=10)
    assert bot.ack_window.paused
    garbage = [(n, str(n)) for n in range(10_000)]  # young objects the paused collector has not seen
    await until(gc.isenabled, "the allocation bound to end the pause")
    assert not acked(fake, stuck)  # still unacknowledged: the bound ended it
    assert len(garbage) == 10_000
    held.release()
    await fake.wait_for(lambda: acked(fake, stuck), timeout=10, what="the ACK")
    await settled(bot)


async def test_an_imagine_starts_its_work_after_the_acks_of_the_interactions_before_it(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[ImagineBot]], sim: ReapiSimulator
) -> None:
    """Run at once, each command's work after its own ACK (a store read and write, the job's start) delayed the
    defers still to go out: bench ack's median ACK doubled against the floor's."""
    bot = await start_bot()
    held = fake.hold_next("POST", CALLBACK)
    first = await imagine(fake, "first")
    await asyncio.wait_for(held.arrived.wait(), timeout=10)
    second = await fake.send_slash_command(
        "imagine", [{"name": "prompt", "value": "second"}], user=fake.make_user("second")
    )
    await fake.wait_for(lambda: acked(fake, second), timeout=10, what="the second ACK")
    await asyncio.sleep(0.2)  # within the wait's bound (0.5 s)
    assert sim.submissions == []  # the second job waits behind the first ACK
    held.release()
    await fake.wait_for(lambda: acked(fake, first), timeout=10, what="the first ACK")
    await fake.wait_for(lambda: len(sim.submissions) == 2, timeout=10, what="both jobs submitted")
    await settled(bot)
