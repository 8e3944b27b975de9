"""A per-member cooldown on new jobs that only counts jobs that were accepted (pure: no discord)."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from bot.engine.errors import CooldownActive

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Cooldown"]

# Members tracked at once; past this the least recently active ones are forgotten (memory stays bounded).
_MAX_MEMBERS = 10_000


class Cooldown:
    """At most ``jobs`` accepted jobs per member in any ``seconds`` window; 0 for either turns it off.

    Only :meth:`record` (called once a job is stored) counts, so input refused for a typo, a missing
    credit or a full queue never makes a member wait.
    """

    def __init__(self, jobs: int, seconds: float, clock: Callable[[], float] = time.time) -> None:
        self._jobs = jobs
        self._seconds = seconds
        self._clock = clock
        self._recent: dict[int, deque[float]] = {}

    @property
    def enabled(self) -> bool:
        """Whether the cooldown limits anything at all."""
        return self._jobs > 0 and self._seconds > 0

    def check(self, user_id: int, *, pending: int = 0) -> None:
        """Refuse a new job when the member's last ``jobs`` accepted jobs all fall inside the window.

        ``pending`` counts the member's jobs already past this check but not yet stored (or refused), so
        requests sent at the same instant cannot all slip through before the first is recorded.

        Raises
        ------
        CooldownActive
            With the time at which the oldest of those jobs leaves the window.
        """
        if not self.enabled:
            return
        now = self._clock()
        times = self._window(user_id, now)
        recent = len(times) if times is not None else 0
        if recent + pending >= self._jobs:
            # The oldest counted job leaves the window first (a pending one counts as made now).
            raise CooldownActive((times[0] if times else now) + self._seconds)

    def record(self, user_id: int) -> None:
        """Count one accepted job for ``user_id`` now."""
        if not self.enabled:
            return
        now = self._clock()
        times = self._window(user_id, now)
        if times is None:
            times = self._recent[user_id] = deque(maxlen=self._jobs)
        else:
            self._recent[user_id] = self._recent.pop(user_id)  # most recently active last
        times.append(now)
        if len(self._recent) > _MAX_MEMBERS:
            self._prune(now)

    def _window(self, user_id: int, now: float) -> deque[float] | None:
        times = self._recent.get(user_id)
        if times is None:
            return None
        while times and times[0] + self._seconds <= now:
            times.popleft()
        if not times:
            del self._recent[user_id]
            return None
        return times

    def _prune(self, now: float) -> None:
        # Drop everyone whose window has passed; if that is not enough, the least recently active.
        for user_id in list(self._recent):
            self._window(user_id, now)
        while len(self._recent) > _MAX_MEMBERS:
            del self._recent[next(iter(self._recent))]

    def __len__(self) -> int:
        """Members currently tracked (for tests of the memory bound)."""
        return len(self._recent)
