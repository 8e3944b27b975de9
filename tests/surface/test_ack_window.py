"""AckWindow.after_earlier_acks: work waits for the ACKs of the interactions received before it, and only those."""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING, Any, cast

import pytest

from bot.surface.ack_window import AckWindow

if TYPE_CHECKING:
    from collections.abc import Iterator

    import discord


class _Response:
    def __init__(self) -> None:
        self.done = False

    def is_done(self) -> bool:
        return self.done


class _Interaction:
    """What the window reads of an interaction: whether its response is done."""

    def __init__(self) -> None:
        self.response = _Response()


def _received(window: AckWindow) -> _Interaction:
    interaction = _Interaction()
    window.received(cast("discord.Interaction[Any]", interaction))
    return interaction


@pytest.fixture
def window() -> Iterator[AckWindow]:
    window = AckWindow(check_every=0.005)
    yield window
    window.close()
    gc.enable()


async def test_work_waits_for_the_earlier_acks_but_not_for_later_interactions(window: AckWindow) -> None:
    """Under a steady stream something is always pending: waiting for "nothing pending" gathered the intake into
    waves (soak: late ACKs); each command waits only for those that came before it."""
    first, second = _received(window), _received(window)
    work = asyncio.create_task(window.after_earlier_acks(limit=10.0))
    await asyncio.sleep(0.03)
    later = _received(window)  # arrives while the work waits, and is never acknowledged here
    await asyncio.sleep(0.03)
    assert not work.done()  # the earlier two are still unacknowledged
    first.response.done = True
    await asyncio.sleep(0.03)
    assert not work.done()  # one earlier ACK is still out
    second.response.done = True
    await asyncio.wait_for(work, timeout=1.0)  # well before the limit: `later` is not waited for
    assert not later.response.is_done()
    assert window.pending == 1


async def test_nothing_pending_means_no_wait(window: AckWindow) -> None:
    await asyncio.wait_for(window.after_earlier_acks(limit=10.0), timeout=0.5)


async def test_the_wait_is_bounded(window: AckWindow) -> None:
    """An interaction whose ACK never comes cannot hold the work of the others for long."""
    stuck = _received(window)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(window.after_earlier_acks(limit=0.05), timeout=2.0)
    assert 0.05 <= loop.time() - started < 1.0
    assert not stuck.response.is_done()


async def test_closing_the_window_releases_its_waiters(window: AckWindow) -> None:
    _received(window)
    work = asyncio.create_task(window.after_earlier_acks(limit=10.0))
    await asyncio.sleep(0.02)
    assert not work.done()
    window.close()
    await asyncio.wait_for(work, timeout=1.0)
