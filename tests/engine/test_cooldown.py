"""The optional per-member cooldown: a sliding window over accepted jobs, with an injected clock."""

from __future__ import annotations

import pytest

from bot.engine import cooldown as cooldown_module
from bot.engine.cooldown import Cooldown
from bot.engine.errors import CooldownActive, Refusal
from bot.surface import ui


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_only_recorded_jobs_count_and_the_window_slides() -> None:
    clock = FakeClock()
    limit = Cooldown(2, 10.0, clock)
    for _ in range(5):
        limit.check(1)  # checks alone (refused input) never count
    limit.record(1)
    clock.now += 4
    limit.record(1)
    with pytest.raises(CooldownActive) as refused:
        limit.check(1)
    assert refused.value.retry_at == 1_000_010.0  # when the first job leaves the window
    limit.check(2)  # other members are not affected
    clock.now += 6  # the first job is now exactly 10 s old
    limit.check(1)
    limit.record(1)
    with pytest.raises(CooldownActive) as again:
        limit.check(1)
    assert again.value.retry_at == 1_000_014.0


def test_the_refusal_says_when_to_try_again_as_a_discord_timestamp() -> None:
    error = CooldownActive(1_700_000_000.4)
    assert isinstance(error, Refusal)
    assert "<t:1700000001:R>" in ui.refusal_text(error)


@pytest.mark.parametrize(("jobs", "seconds"), [(0, 60.0), (3, 0.0), (0, 0.0)])
def test_zero_turns_it_off(jobs: int, seconds: float) -> None:
    limit = Cooldown(jobs, seconds, FakeClock())
    for _ in range(50):
        limit.check(1)
        limit.record(1)
    assert len(limit) == 0


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cooldown_module, "_MAX_MEMBERS", 100)
    clock = FakeClock()
    limit = Cooldown(1, 60.0, clock)
    for user_id in range(150):
        limit.record(user_id)
    assert len(limit) <= 100
    assert 149 in {u for u in range(150) if _blocked(limit, u)}  # the most recent are kept
    clock.now += 61
    limit.record(1000)
    for user_id in range(150):
        limit.check(user_id)  # every old window has passed
    assert len(limit) == 1


def _blocked(limit: Cooldown, user_id: int) -> bool:
    try:
        limit.check(user_id)
    except CooldownActive:
        return True
    return False
