"""What members set for themselves (/preferences) and see of their own work (/jobs, the /credits chart).

Preferences are validated here (a refusal names the field, never a sentence), stored through the store, and kept
in a small in-memory cache that expires, so a job's delivery reads them without a query and a change made through
another bot process is seen within ``ttl`` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from bot.engine.errors import Refusal
from bot.engine.spend import DAY, day_start
from bot.reapi import AspectRatio
from bot.store.members import PRIVATE_MODES, MemberPreferences

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from bot.store import Job

__all__ = ["MAX_LISTED_JOBS", "PreferenceRefused", "PreferenceStore", "Preferences"]

# /jobs shows at most this many (a message holds 25 buttons; a member rarely has more than a few waiting).
MAX_LISTED_JOBS = 20


class PreferenceRefused(Refusal):
    """A preference value is not one the bot offers: ``field`` got ``value``; ``allowed`` lists the choices."""

    def __init__(self, *, field: str, value: str, allowed: Sequence[str]) -> None:
        super().__init__(field=field, value=value, allowed=tuple(allowed))
        self.field = field
        self.value = value
        self.allowed = tuple(allowed)


class PreferenceStore(Protocol):
    """The part of the store the members' service uses (``bot.store.sql_members``)."""

    async def preferences(self, user_id: int) -> MemberPreferences: ...

    async def save_preferences(self, preferences: MemberPreferences) -> MemberPreferences: ...

    async def member_jobs(self, user_id: int, *, limit: int) -> list[Job]: ...

    async def member_images_per_day(self, user_id: int, day_starts: Sequence[float]) -> list[int]: ...


class Preferences:
    """Members' preferences with validation and a bounded, expiring cache; their unfinished jobs and image counts.

    Parameters
    ----------
    store
        Where preferences and jobs live.
    default_model
        The model a member who chose none gets (``reapi.model``).
    enabled_models
        The models a member may choose; a stored choice no longer enabled falls back to ``default_model``.
    ttl
        Seconds a cached preference is trusted (another process may have changed it).
    """

    def __init__(
        self,
        *,
        store: PreferenceStore,
        default_model: str,
        enabled_models: Sequence[str],
        aspect_ratios: Sequence[str] = (),
        ttl: float = 60.0,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._default_model = default_model
        self._enabled = tuple(dict.fromkeys([default_model, *enabled_models]))
        # The ratios a default may name: every one some enabled model takes (the chosen model checks its own).
        self._ratios = tuple(aspect_ratios) or _ASPECT_RATIOS
        self._ttl = ttl
        self._max_cached = max_cached
        self._clock = clock
        self._monotonic = monotonic
        self._cache: OrderedDict[int, tuple[float, MemberPreferences]] = OrderedDict()

    @property
    def enabled_models(self) -> tuple[str, ...]:
        """The models a member may choose, the default first."""
        return self._enabled

    @property
    def default_model(self) -> str:
        """The model used when a member chose none."""
        return self._default_model

    # -- reading ------------------------------------------------------------------------------------

    def cached(self, user_id: int) -> MemberPreferences | None:
        """The member's preferences if known in memory and fresh (no query: safe before a Discord ack)."""
        entry = self._cache.get(user_id)
        if entry is None or self._monotonic() - entry[0] > self._ttl:
            return None
        return entry[1]

    async def get(self, user_id: int) -> MemberPreferences:
        """The member's preferences (the defaults when they set none), from the cache when fresh."""
        found = self.cached(user_id)
        if found is None:
            found = await self._store.preferences(user_id)
            self._remember(found)
        return found

    async def aspect_ratio_for(self, user_id: int, given: str | None) -> str:
        """The aspect ratio a job gets: the one given, else the member's default, else "auto"."""
        if given is not None:
            return given
        chosen = (await self.get(user_id)).aspect_ratio
        return chosen if chosen in self._ratios else AspectRatio.AUTO.value

    def model_of(self, preferences: MemberPreferences) -> str:
        """The model a member's jobs use: their choice while it is enabled, else the default."""
        return preferences.model if preferences.model in self._enabled else self._default_model

    # -- changing -----------------------------------------------------------------------------------

    async def update(
        self,
        user_id: int,
        *,
        aspect_ratio: str | None = None,
        model: str | None = None,
        private: str | None = None,
        notify: bool | None = None,
        reset: bool = False,
    ) -> MemberPreferences:
        """Change the given preferences (None leaves one as it is; ``reset`` starts from the defaults first).

        Choosing "auto" or the default model stores "the default", so a later change of ``reapi.model`` applies.

        Raises
        ------
        PreferenceRefused
            A value is not one the bot offers; nothing was stored.
        """
        current = MemberPreferences(user_id) if reset else await self._store.preferences(user_id)
        if aspect_ratio is not None:
            if aspect_ratio not in self._ratios:
                raise PreferenceRefused(field="aspect_ratio", value=aspect_ratio, allowed=self._ratios)
            current = replace(current, aspect_ratio=None if aspect_ratio == AspectRatio.AUTO.value else aspect_ratio)
        if model is not None:
            if model not in self._enabled:
                raise PreferenceRefused(field="model", value=model, allowed=self._enabled)
            current = replace(current, model=None if model == self._default_model else model)
        if private is not None:
            if private not in PRIVATE_MODES:
                raise PreferenceRefused(field="private", value=private, allowed=PRIVATE_MODES)
            current = replace(current, private=private)
        if notify is not None:
            current = replace(current, notify=notify)
        saved = await self._store.save_preferences(current)
        self._remember(saved)
        return saved

    # -- the member's work ----------------------------------------------------------------------------

    async def unfinished_jobs(self, user_id: int) -> list[Job]:
        """The member's queued and running jobs, oldest first (at most :data:`MAX_LISTED_JOBS`)."""
        return await self._store.member_jobs(user_id, limit=MAX_LISTED_JOBS)

    async def images_per_day(self, user_id: int, days: int) -> list[tuple[float, int]]:
        """``(day_start, images)`` for the last ``days`` UTC days, today last."""
        today = day_start(self._clock())
        starts = [today - DAY * n for n in range(days - 1, -1, -1)]
        return list(zip(starts, await self._store.member_images_per_day(user_id, starts), strict=True))

    def _remember(self, preferences: MemberPreferences) -> None:
        self._cache[preferences.user_id] = (self._monotonic(), preferences)
        self._cache.move_to_end(preferences.user_id)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)


_ASPECT_RATIOS = tuple(r.value for r in AspectRatio)
