"""Server settings at run time: an in-memory copy kept fresh from the database, and the checks a job passes.

Every process holds every server's settings in memory (they are small) and polls one version counter every
``servers.refresh_seconds``: a change made through any process is enforced by all of them within that time, and
intake never waits for the database to read them. ``check`` runs after the interaction is acknowledged, before
anything is stored or charged: the channel rule, the blocked terms (the operator's and the server's), the NSFW
rule, and the pause after too many content-policy failures in a day. The ``StrikeWatcher`` observes finished jobs
and alerts a server's moderators when a member reaches that many.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from bot.engine.errors import (
    MemberPaused,
    NsfwNotAllowed,
    SettingProblem,
    SettingRejected,
    TermBlocked,
    UnavailableHere,
)
from bot.engine.failures import FailureCode
from bot.engine.guild_settings import GuildSettings, Limits, clamp
from bot.engine.moderation import NsfwRule, TermMatcher
from bot.engine.ports import NullObserver
from bot.store import MemberPause, SettingsConflict

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from bot.config import CreditsSettings, ModerationSettings, ServersSettings
    from bot.engine.ports import Clock, JobObserver
    from bot.store import Job, NewJob, SettingsChange, StoredSettings

__all__ = ["ModeratorAlerts", "Place", "ServerRules", "ServerTerms", "SettingsStore", "StrikeWatcher"]

log = logging.getLogger(__name__)

_DAY = 86_400.0
_SAVE_ATTEMPTS = 5


class SettingsStore(Protocol):
    """The storage ServerRules needs (``bot.store.sql_settings``)."""

    async def settings_version(self) -> int: ...

    async def guild_settings_since(self, version: int) -> tuple[int, list[StoredSettings]]: ...

    async def guild_settings(self, guild_id: int) -> StoredSettings: ...

    async def save_guild_settings(
        self,
        guild_id: int,
        data: str,
        *,
        expected_version: int,
        actor_id: int,
        changes: Sequence[tuple[str, str | None, str | None]],
    ) -> int: ...

    async def settings_audit(self, guild_id: int, *, limit: int) -> list[SettingsChange]: ...

    async def content_policy_strikes(self, user_id: int, guild_id: int | None, *, since: float) -> int: ...

    async def pause_member(self, user_id: int, guild_id: int | None, *, until: float, strikes: int) -> int: ...

    async def member_pauses(self, *, now: float) -> list[MemberPause]: ...


class ModeratorAlerts(Protocol):
    """Tells a server's moderators about a member (the surface words it and posts it in their log channel)."""

    def member_paused(self, *, channel_id: int, user_id: int, strikes: int, until: float) -> None:
        """A member reached the day's content-policy strikes and is paused until ``until``."""
        ...


@dataclass(frozen=True, slots=True)
class Place:
    """Where a request was made: the channel (and a thread's parent) and whether it is age-restricted."""

    channel_ids: tuple[int, ...] = ()
    age_restricted: bool = False


@dataclass(frozen=True, slots=True)
class ServerTerms:
    """A server's own cost and allowance, already within the operator's limits (``None``: not set)."""

    cost_per_image: int | None
    allowance: int | None


class ServerRules:
    """Every server's settings in memory, the rules for changing them, and the checks a new job passes."""

    def __init__(
        self,
        *,
        store: SettingsStore,
        moderation: ModerationSettings,
        servers: ServersSettings,
        credits: CreditsSettings,
        models: Sequence[str],
        aspect_ratios: Sequence[str],
        owner_ids: frozenset[int] = frozenset(),
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._moderation = moderation
        self._refresh_every = servers.refresh_seconds
        self._owner_ids = owner_ids
        self._clock = clock
        self.limits = Limits(
            models=tuple(models),
            aspect_ratios=tuple(aspect_ratios),
            min_cost=credits.cost_per_image if servers.min_cost_per_image is None else servers.min_cost_per_image,
            max_cost=servers.max_cost_per_image,
            max_allowance=credits.allowance if servers.max_allowance is None else servers.max_allowance,
            max_terms=servers.max_blocked_terms,
            max_channels=servers.max_channels,
        )
        self._operator_terms = TermMatcher(moderation.blocked_terms)
        self._nsfw_terms = TermMatcher(moderation.nsfw_terms)
        self._settings: dict[int, GuildSettings] = {}
        self._matchers: dict[int, TermMatcher] = {}
        self._versions: dict[int, int] = {}
        self._pauses: dict[tuple[int, int | None], MemberPause] = {}
        self._version = 0
        self._loop: asyncio.Task[None] | None = None

    # -- the in-memory copy -----------------------------------------------------------------------

    def get(self, guild_id: int | None) -> GuildSettings:
        """A server's settings as this process knows them (defaults outside servers and for servers never set)."""
        if guild_id is None:
            return _DEFAULTS
        return self._settings.get(guild_id, _DEFAULTS)

    def nsfw_rule(self, guild_id: int | None) -> NsfwRule:
        """The NSFW rule that applies here: the server's, else the operator's default."""
        own = self.get(guild_id).nsfw_rule
        rule = own if own is not None else NsfwRule(self._moderation.nsfw_rule)
        return rule.at_least(NsfwRule(self._moderation.loosest_nsfw_rule))

    def reply_edit_enabled(self, guild_id: int | None) -> bool:
        """Whether reply-to-edit works here (in memory: safe before an acknowledgement)."""
        return self.get(guild_id).reply_edit

    def server_terms(self, guild_id: int) -> ServerTerms | None:
        """The server's own cost and allowance, clamped to the operator's current limits (for CreditLedger)."""
        own = self._settings.get(guild_id)
        if own is None or (own.cost_per_image is None and own.allowance is None):
            return None
        limits = self.limits
        cost, allowance = own.cost_per_image, own.allowance
        high = max(limits.min_cost, limits.max_cost)
        return ServerTerms(
            cost_per_image=None if cost is None else clamp(cost, limits.min_cost, high),
            allowance=None if allowance is None else clamp(allowance, 0, limits.max_allowance),
        )

    async def load(self) -> None:
        """Read every server's settings (at start-up)."""
        await self._read_since(0)

    async def refresh(self) -> bool:
        """Read what changed since the last read, if anything did; returns whether something did."""
        if await self._store.settings_version() == self._version:
            return False
        await self._read_since(self._version)
        return True

    async def _read_since(self, version: int) -> None:
        current, rows = await self._store.guild_settings_since(version)
        for row in rows:
            self._remember(row.guild_id, GuildSettings.from_json(row.data), row.version)
        # Pauses are few and short-lived: read whole whenever anything changed.
        pauses = await self._store.member_pauses(now=self._clock())
        self._pauses = {(p.user_id, p.guild_id): p for p in pauses}
        self._version = max(self._version, current)

    def _remember(self, guild_id: int, settings: GuildSettings, version: int) -> None:
        if version < self._versions.get(guild_id, 0):
            return  # an older read finishing after a newer one
        self._versions[guild_id] = version
        self._settings[guild_id] = settings
        self._matchers[guild_id] = TermMatcher(settings.blocked_terms)

    def start(self) -> None:
        """Poll for changes made by other processes until ``stop``."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._refresh_loop(), name="settings-refresh")

    async def stop(self) -> None:
        """Stop polling."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def _refresh_loop(self) -> None:
        for _ in range(1_000_000_000):  # until stop() cancels it
            await asyncio.sleep(self._refresh_every)
            try:
                await self.refresh()
            except Exception:
                log.exception("could not read server settings; keeping the last ones")

    # -- changes ----------------------------------------------------------------------------------

    async def change(
        self,
        guild_id: int,
        *,
        actor_id: int,
        setting: str,
        mutate: Callable[[GuildSettings], tuple[GuildSettings, str | None, str | None]],
    ) -> GuildSettings:
        """Apply ``mutate`` to the server's stored settings and store the result with an audit line.

        ``mutate`` gets the settings as stored now and returns the new ones with the old and new value for the
        audit log; it raises ``SettingRejected`` for a value the rules refuse. Two admins saving at once do not
        undo each other: the loser's change is applied again on top of the winner's.
        """
        for _ in range(_SAVE_ATTEMPTS):
            stored = await self._store.guild_settings(guild_id)
            current = GuildSettings.from_json(stored.data)
            new, old_value, new_value = mutate(current)
            try:
                version = await self._store.save_guild_settings(
                    guild_id,
                    new.to_json(),
                    expected_version=stored.version,
                    actor_id=actor_id,
                    changes=[(setting, old_value, new_value)],
                )
            except SettingsConflict:
                continue
            self._remember(guild_id, new, version)
            log.info("settings of guild %s: %s changed by %s", guild_id, setting, actor_id)
            return new
        raise SettingRejected(SettingProblem.BUSY)

    async def audit(self, guild_id: int, *, limit: int = 10) -> list[SettingsChange]:
        """The server's newest settings changes first."""
        return await self._store.settings_audit(guild_id, limit=limit)

    # -- the checks a new job passes ----------------------------------------------------------------

    async def check(self, new: NewJob, place: Place | None = None) -> NewJob:
        """Refuse a job the server's settings or the moderation rules forbid; else apply the server's defaults.

        Raises
        ------
        UnavailableHere, TermBlocked, NsfwNotAllowed, MemberPaused
            Nothing was stored or charged.
        """
        place = place or Place(channel_ids=(new.channel_id,))
        settings = self.get(new.guild_id)
        if not settings.allows_channel(place.channel_ids or (new.channel_id,)):
            raise UnavailableHere
        if self._operator_terms.matches(new.prompt):
            raise TermBlocked(by_server=False)
        own = self._matchers.get(new.guild_id) if new.guild_id is not None else None
        if own and own.matches(new.prompt):
            raise TermBlocked(by_server=True)
        rule = self.nsfw_rule(new.guild_id)
        if self._nsfw_terms.matches(new.prompt) and not rule.permits(age_restricted=place.age_restricted):
            raise NsfwNotAllowed(rule=rule.value)
        self._check_paused(new)
        if settings.aspect_ratio is not None and new.aspect_ratio == "auto":
            new = replace(new, aspect_ratio=settings.aspect_ratio)
        return new

    def _check_paused(self, new: NewJob) -> None:
        """In memory: pauses reach every process with the settings version (``pause_member``)."""
        pause = self._pauses.get((new.user_id, new.guild_id))
        if pause is not None and pause.until > self._clock() and new.user_id not in self._owner_ids:
            raise MemberPaused(strikes=pause.strikes, until=pause.until)

    def _day_start(self) -> float:
        now = self._clock()
        return now - now % _DAY

    async def strike_recorded(self, job: Job, alerts: ModeratorAlerts | None) -> None:
        """A job of ``job``'s member failed on content policy: at the day's Nth, pause them and alert moderators.

        The pause is stored with a settings version bump, so every process enforces it from memory after its next
        refresh; the moderators are alerted once, at exactly the Nth strike.
        """
        limit = self._moderation.content_policy_strikes_per_day
        if limit <= 0 or job.user_id in self._owner_ids:
            return
        day = self._day_start()
        strikes = await self._store.content_policy_strikes(job.user_id, job.guild_id, since=day)
        if strikes < limit:
            return
        until = day + _DAY
        await self._store.pause_member(job.user_id, job.guild_id, until=until, strikes=strikes)
        self._pauses[job.user_id, job.guild_id] = MemberPause(job.user_id, job.guild_id, until, strikes)
        log.info("user %s paused in guild %s after %d content-policy strikes", job.user_id, job.guild_id, strikes)
        channel = self.get(job.guild_id).log_channel_id
        if strikes == limit and channel is not None and alerts is not None:
            alerts.member_paused(channel_id=channel, user_id=job.user_id, strikes=strikes, until=until)


_DEFAULTS = GuildSettings()


class StrikeWatcher:
    """A job observer: counts content-policy failures as they happen and alerts moderators at the limit."""

    def __init__(self, rules: ServerRules, alerts: ModeratorAlerts | None, *, inner: JobObserver | None = None) -> None:
        self._rules = rules
        self._alerts = alerts
        self._inner = inner or NullObserver()
        self._tasks: set[asyncio.Task[None]] = set()

    def job_accepted(self, job: Job) -> None:
        """Passed on to the inner observer (the metrics)."""
        self._inner.job_accepted(job)

    def job_state(self, job: Job) -> None:
        """Passed on to the inner observer."""
        self._inner.job_state(job)

    def job_polled(self, job: Job) -> None:
        """Passed on to the inner observer."""
        self._inner.job_polled(job)

    def job_released(self, job_id: str) -> None:
        """Passed on to the inner observer."""
        self._inner.job_released(job_id)

    def job_finished(self, job: Job) -> None:
        """Passed on; a content-policy failure may also be the member's Nth today: checked in the background."""
        self._inner.job_finished(job)
        if job.error_code != FailureCode.CONTENT_POLICY.value:
            return
        task = asyncio.create_task(self._strike(job), name="content-policy-strike")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _strike(self, job: Job) -> None:
        try:
            await self._rules.strike_recorded(job, self._alerts)
        except Exception:
            log.exception("could not count the content-policy strikes of user %s", job.user_id)
