"""The owner's reAPI budget: a daily spend cap, and a pause after reAPI answers 402 (out of credits)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.engine.credits import refill_time
from bot.engine.errors import ReapiPaused, SpendCapReached
from bot.store import SpendLimit

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.engine.ports import Alerts, SpendStore
    from bot.store import SpendCapExceeded

__all__ = ["MILLICREDITS_PER_CREDIT", "SpendGuard", "SpendToday", "day_start"]

log = logging.getLogger(__name__)

DAY = 86_400.0
_PAUSE_KEY = "reapi_paused_until"
_PAUSE_REASON_KEY = "reapi_paused_reason"
# Several bot processes share the pause through the database; each re-reads it this often (seconds).
_REFRESH_EVERY = 1.0


MILLICREDITS_PER_CREDIT = 1000
"""Jobs store their reAPI cost in thousandths of a reAPI credit (exact for every price in ``bot.reapi.specs``)."""


def _credits(millicredits: int) -> int:
    """Whole reAPI credits, rounded up (what an owner reads)."""
    return -(-millicredits // MILLICREDITS_PER_CREDIT)


def day_start(now: float) -> float:
    """Midnight UTC at the start of the day containing ``now``."""
    return math.floor(now / DAY) * DAY


@dataclass(frozen=True, slots=True)
class SpendToday:
    """Today's (UTC) reAPI spend against the cap, in reAPI credits."""

    spent: int  # what the jobs sent to reAPI today cost (an unknown outcome counts), rounded up
    in_flight: int  # what the jobs accepted but not yet sent will cost, rounded up
    cap: int  # 0 = no cap


class SpendGuard:
    """Decides whether reAPI may be asked for one more image today, and tells the owners when not."""

    def __init__(
        self,
        *,
        store: SpendStore,
        alerts: Alerts,
        cap_credits: int,
        pause_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._alerts = alerts
        self._cap = cap_credits
        self._pause = pause_seconds
        self._clock = clock
        self._paused_until = 0.0
        self._pause_reason = "402"
        self._loaded_at = float("-inf")

    async def load(self) -> None:
        """Read the pause from the database: one under way before a restart, or set by another process."""
        stored = await self._store.get_meta(_PAUSE_KEY)
        self._paused_until = float(stored) if stored else 0.0
        self._pause_reason = await self._store.get_meta(_PAUSE_REASON_KEY) or "402"
        self._loaded_at = self._clock()

    async def refresh(self) -> None:
        """Re-read the pause at most once per second, so a pause set by another process is seen within a second."""
        now = self._clock()
        if now - self._loaded_at >= _REFRESH_EVERY:
            # Marked before the read: a burst of submissions makes one read, the others keep the values they have.
            self._loaded_at = now
            await self.load()

    def limit(self) -> SpendLimit | None:
        """The cap as the store checks it (each job's reAPI cost, counted since midnight UTC); None when uncapped."""
        if self._cap <= 0:
            return None
        since = day_start(self._clock())
        return SpendLimit(since=since, max_millicredits=self._cap * MILLICREDITS_PER_CREDIT)

    @property
    def paused_until(self) -> float | None:
        """When submissions resume after a 402, if they are paused now."""
        return self._paused_until if self._paused_until > self._clock() else None

    @property
    def pause_reason(self) -> str | None:
        """Why submissions are paused now: reAPI's status "402" (out of credits) or "401" (key refused); or None."""
        return self._pause_reason if self.paused_until is not None else None

    def check_open(self) -> None:
        """Raise ReapiPaused while submissions are paused after a 402 or a 401."""
        until = self.paused_until
        if until is not None:
            raise ReapiPaused(until=until, reason=self._pause_reason)

    async def refuse(self, exc: SpendCapExceeded) -> SpendCapReached:
        """The error for a member refused by the cap; the owners hear about it once per UTC day."""
        now = self._clock()
        today = day_start(now)
        day = datetime.fromtimestamp(today, UTC).date().isoformat()
        if await self._store.claim_meta(f"alert:spend_cap:{day}", str(now)):
            self._alerts.notify(
                f"⚠️ imagine-bot reached its daily reAPI spend cap ({self._cap:,} reAPI credits; "
                f"{_credits(exc.counted):,} already counted) for {day} (UTC). "
                "New images are refused until midnight UTC. "
                "Raise `credits.daily_spend_cap` to allow more."
            )
        return SpendCapReached(reset_at=today + DAY)

    async def pause_after_402(self) -> None:
        """reAPI answered 402: refuse new images for a while and tell the owners (once per pause)."""
        await self._pause_for(
            "402",
            "⚠️ reAPI answered 402: the bot's reAPI account is out of credits. "
            "New images are paused until {until}; affected jobs were refunded to their members. "
            "Top up the reAPI account to resume.",
        )

    async def pause_after_401(self) -> None:
        """reAPI refused the key (401) on a submit: every job would fail alike, so pause and tell the owners once."""
        await self._pause_for(
            "401",
            "⚠️ reAPI answered 401: it refused the bot's API key (missing, invalid or revoked). "
            "New images are paused until {until}; affected jobs were refunded to their members. "
            "Set a valid `reapi.api_key` and restart the bot.",
        )

    async def _pause_for(self, reason: str, alert: str) -> None:
        now = self._clock()
        if self._paused_until > now:
            return
        self._paused_until = now + self._pause
        self._pause_reason = reason
        try:  # kept across restarts; the pause in memory holds even if this write fails
            await self._store.set_meta(_PAUSE_REASON_KEY, reason)
            await self._store.set_meta(_PAUSE_KEY, repr(self._paused_until))
        except Exception:
            log.exception("could not store the reAPI pause")
        self._alerts.notify(alert.format(until=refill_time(self._paused_until)))
        log.warning("reAPI answered %s: submissions paused for %.0f s", reason, self._pause)

    async def today(self) -> SpendToday:
        """Today's spend (reAPI credits) so far and what the waiting jobs will add."""
        usage = await self._store.usage([day_start(self._clock())])
        return SpendToday(
            spent=_credits(usage.days[0].spent_millicredits),
            in_flight=_credits(usage.in_flight_millicredits),
            cap=self._cap,
        )
