"""Credit rules: which balance a job is charged to, what it costs, and how allowances refill."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from bot.errors import InsufficientCredits
from bot.store import AccountRules, Balance, InsufficientBalance

if TYPE_CHECKING:
    from bot.config import CreditsSettings

__all__ = ["CreditLedger", "describe_balance", "insufficient_credits_error"]


class CreditLedger:
    """Applies the configured credit rules to a member; the store does the atomic bookkeeping."""

    def __init__(self, settings: CreditsSettings, *, owner_ids: frozenset[int]) -> None:
        self._settings = settings
        self._owner_ids = owner_ids

    def scope_for(self, guild_id: int | None) -> str:
        """The balance a job in this guild draws from: one global balance, or one per server."""
        if self._settings.scope == "guild" and guild_id is not None:
            return f"guild:{guild_id}"
        return "global"

    def rules_for(self, user_id: int) -> AccountRules | None:
        """The member's allowance rules, or None when the member is never charged (bot owners)."""
        if user_id in self._owner_ids:
            return None
        return AccountRules(
            allowance=self._settings.allowance,
            period_seconds=self._settings.refill_every.total_seconds(),
            max_balance=self._settings.max_balance,
        )

    def cost_for(self, user_id: int) -> int:
        """Bot credits one image costs this member."""
        return 0 if user_id in self._owner_ids else self._settings.cost_per_image


def insufficient_credits_error(exc: InsufficientBalance) -> InsufficientCredits:
    """Explain a refused reservation with the balance, the cost and when credits come back."""
    refill = discord.utils.format_dt(datetime.fromtimestamp(exc.balance.next_refill_at, UTC), "R")
    return InsufficientCredits(
        f"You have {_credits(exc.balance.balance)} and an image costs {_credits(exc.cost)}. "
        f"Your allowance refills {refill}."
    )


def _credits(n: int) -> str:
    return f"{n} credit" if n == 1 else f"{n} credits"


def describe_balance(balance: Balance) -> str:
    """One line for /credits: the balance and the next refill."""
    refill = discord.utils.format_dt(datetime.fromtimestamp(balance.next_refill_at, UTC), "R")
    return f"{_credits(balance.balance)}, next refill {refill}"
