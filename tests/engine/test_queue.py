"""The fair queue: turns, limits and positions."""

from __future__ import annotations

from bot.engine.queue import FairQueue


def test_members_take_turns_instead_of_first_come_first_served() -> None:
    q = FairQueue(max_running=10, per_user=1)
    for i in range(3):
        q.push(f"a{i}", 1)
    q.push("b0", 2)
    q.push("c0", 3)
    assert q.pop_ready() == ["a0", "b0", "c0"]
    q.done("a0")
    assert q.pop_ready() == ["a1"]


def test_global_limit_caps_running_jobs() -> None:
    q = FairQueue(max_running=2, per_user=5)
    for i in range(5):
        q.push(f"j{i}", i)
    assert q.pop_ready() == ["j0", "j1"]
    assert q.running == 2
    assert len(q) == 3
    assert q.pop_ready() == []
    q.done("j1")
    assert q.pop_ready() == ["j2"]


def test_per_user_limit_lets_others_pass() -> None:
    q = FairQueue(max_running=10, per_user=2)
    for i in range(4):
        q.push(f"a{i}", 1)
    q.push("b0", 2)
    assert sorted(q.pop_ready()) == ["a0", "a1", "b0"]
    assert q.position("a2") == 1
    assert q.position("a3") == 2


def test_positions_interleave_members() -> None:
    q = FairQueue(max_running=1, per_user=1)
    q.push("x", 9)
    assert q.pop_ready() == ["x"]
    for job, user in [("a0", 1), ("a1", 1), ("a2", 1), ("b0", 2)]:
        q.push(job, user)
    assert q.positions() == {"a0": 1, "b0": 2, "a1": 3, "a2": 4}
    assert q.position("missing") is None


def test_done_on_unknown_job_and_discard_are_harmless() -> None:
    q = FairQueue(max_running=1, per_user=1)
    q.done("nope")
    q.push("a", 1)
    q.discard("a")
    assert len(q) == 0
    assert q.pop_ready() == []


def test_a_resumed_job_goes_first_and_still_holds_a_slot() -> None:
    q = FairQueue(max_running=1, per_user=1)
    q.push("new", 1)
    q.push("resumed", 2, first=True)
    assert q.pop_ready() == ["resumed"]
    assert q.pop_ready() == []  # the resumed job holds the only slot
    q.done("resumed")
    assert q.pop_ready() == ["new"]


def test_length_and_discard_track_waiting_jobs_only() -> None:
    q = FairQueue(max_running=1, per_user=1)
    for n in range(3):
        q.push(f"a{n}", 1)
    assert len(q) == 3
    assert q.pop_ready() == ["a0"]
    assert len(q) == 2
    assert q.discard("a2") is True
    assert q.discard("a2") is False
    assert q.discard("a0") is False  # running, not waiting
    assert len(q) == 1
    assert "a1" in q
