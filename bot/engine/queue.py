"""A fair queue: members take turns, with a global and a per-member limit on running jobs."""

from __future__ import annotations

from collections import OrderedDict, deque

__all__ = ["FairQueue"]


class FairQueue:
    """Round-robin over members so one member's burst cannot starve everyone else.

    Pure bookkeeping (no I/O, no asyncio): the job runner asks it which jobs may start now. Push, pop and
    length are O(1) per job; only ``positions()`` walks the whole queue, and the runner calls it at most once per
    progress interval.
    """

    def __init__(self, *, max_running: int, per_user: int) -> None:
        self._max_running = max_running
        self._per_user = per_user
        # Insertion order of the dict is the turn order; a member moves to the back after a turn.
        self._waiting: OrderedDict[int, deque[str]] = OrderedDict()
        self._owner: dict[str, int] = {}  # waiting job -> its member
        self._running: dict[str, int] = {}
        self._running_per_user: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._owner)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._owner

    @property
    def running(self) -> int:
        """How many jobs hold a slot."""
        return len(self._running)

    def push(self, job_id: str, user_id: int, *, first: bool = False) -> None:
        """Add a job at the back of its member's line, or (``first``) ahead of everything waiting.

        ``first`` is for jobs resumed after a restart: reAPI already has them, so they take the next free
        slots, but they still hold a slot like any other job.
        """
        line = self._waiting.get(user_id)
        if line is None:
            line = self._waiting[user_id] = deque()
        if first:
            line.appendleft(job_id)
            self._waiting.move_to_end(user_id, last=False)
        else:
            line.append(job_id)
        self._owner[job_id] = user_id

    def pop_ready(self) -> list[str]:
        """Take every job that may start now, in fair order, and mark it running."""
        started: list[str] = []
        progressed = True
        while progressed and len(self._running) < self._max_running:
            progressed = False
            for user_id in list(self._waiting):
                if len(self._running) >= self._max_running:
                    break
                if self._running_per_user.get(user_id, 0) >= self._per_user:
                    continue
                line = self._waiting[user_id]
                job_id = line.popleft()
                if line:
                    self._waiting.move_to_end(user_id)
                else:
                    del self._waiting[user_id]
                del self._owner[job_id]
                self._running[job_id] = user_id
                self._running_per_user[user_id] = self._running_per_user.get(user_id, 0) + 1
                started.append(job_id)
                progressed = True
        return started

    def done(self, job_id: str) -> None:
        """Free the slot of a job that started (whatever its outcome)."""
        user_id = self._running.pop(job_id, None)
        if user_id is None:
            return
        left = self._running_per_user[user_id] - 1
        if left:
            self._running_per_user[user_id] = left
        else:
            del self._running_per_user[user_id]

    def discard(self, job_id: str) -> bool:
        """Drop a job that is still waiting; False if it was not waiting."""
        user_id = self._owner.pop(job_id, None)
        if user_id is None:
            return False
        line = self._waiting[user_id]
        line.remove(job_id)
        if not line:
            del self._waiting[user_id]
        return True

    def positions(self) -> dict[str, int]:
        """1-based place of every waiting job in the order turns would be taken (one pass)."""
        places: dict[str, int] = {}
        lines = list(self._waiting.values())
        deepest = max((len(line) for line in lines), default=0)
        for depth in range(deepest):
            for line in lines:
                if depth < len(line):
                    places[line[depth]] = len(places) + 1
        return places

    def position(self, job_id: str) -> int | None:
        """1-based place of one waiting job, or None if it is not waiting."""
        return self.positions().get(job_id)
