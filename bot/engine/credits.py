"""Credit rules: which balance a job is charged to, what it costs, and how allowances refill."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.engine.errors import InsufficientCredits
from bot.store import AccountRules, InsufficientBalance

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from bot.config import CreditOverride, CreditsSettings
    from bot.engine.ports import BanLookup
    from bot.engine.server_rules import ServerTerms

__all__ = [
    "CreditLedger",
    "Terms",
    "ban_applying",
    "credits_text",
    "insufficient_credits_error",
    "refill_time",
    "role_ids_of",
]


@dataclass(frozen=True, slots=True)
class Terms:
    """What one member pays where they are, and how their allowance refills there."""

    scope: str
    cost: int
    rules: AccountRules | None  # None: never charged (bot owners)

    @property
    def unlimited(self) -> bool:
        """Whether the member is never charged."""
        return self.rules is None


@dataclass(frozen=True, slots=True)
class _Values:
    allowance: int
    cost: int
    max_balance: int

    def with_override(self, override: CreditOverride) -> _Values:
        return _Values(
            allowance=self.allowance if override.allowance is None else override.allowance,
            cost=self.cost if override.cost_per_image is None else override.cost_per_image,
            max_balance=self.max_balance if override.max_balance is None else override.max_balance,
        )

    def with_server(self, terms: ServerTerms) -> _Values:
        """A server's own cost and allowance (``/settings credits``); an allowance above the cap lifts the cap."""
        allowance = self.allowance if terms.allowance is None else terms.allowance
        return _Values(
            allowance=allowance,
            cost=self.cost if terms.cost_per_image is None else terms.cost_per_image,
            max_balance=max(self.max_balance, allowance) if terms.allowance is not None else self.max_balance,
        )

    @property
    def favour(self) -> tuple[int, int, int]:
        """Sort key: the most favourable terms for the member are the largest."""
        return (self.allowance, -self.cost, self.max_balance)


class CreditLedger:
    """Applies the configured credit rules to a member; the store does the atomic bookkeeping.

    Terms come from ``[credits]``, then the member's guild override, then the server's own values set with
    ``/settings credits`` (``server_terms``, already within the operator's limits), then the most favourable of
    the operator's overrides for the member's roles in that guild (highest allowance, then lowest cost, then
    highest cap). Bot owners are never charged.
    """

    def __init__(
        self,
        settings: CreditsSettings,
        *,
        owner_ids: frozenset[int],
        server_terms: Callable[[int], ServerTerms | None] | None = None,
    ) -> None:
        self._settings = settings
        self._owner_ids = owner_ids
        self._server_terms = server_terms
        hour = settings.refill_at_utc_hour
        self._anchor = None if hour is None else hour * 3600.0

    def is_owner(self, user_id: int) -> bool:
        """Whether the user is a bot owner (unlimited, admin everywhere)."""
        return user_id in self._owner_ids

    def scope_for(self, guild_id: int | None) -> str:
        """The balance a job in this guild draws from: one global balance, or one per server."""
        if self._settings.scope == "guild" and guild_id is not None:
            return f"guild:{guild_id}"
        return "global"

    @staticmethod
    def ban_scopes(guild_id: int | None) -> tuple[str, ...]:
        """The bans that apply to a member here: a global one, and this server's."""
        return ("global", f"guild:{guild_id}") if guild_id is not None else ("global",)

    def terms_for(self, user_id: int, guild_id: int | None = None, role_ids: Iterable[int] = ()) -> Terms:
        """The member's cost and allowance rules in this guild (with these roles)."""
        scope = self.scope_for(guild_id)
        if user_id in self._owner_ids:
            return Terms(scope=scope, cost=0, rules=None)
        values = self._values(guild_id, role_ids)
        return Terms(scope=scope, cost=values.cost, rules=self._rules(values))

    def base_rules(self) -> AccountRules:
        """The rules without any override (for balances touched outside a guild, e.g. from the CLI)."""
        return self._rules(self._values(None, ()))

    def rules_for(self, user_id: int, guild_id: int | None = None, role_ids: Iterable[int] = ()) -> AccountRules | None:
        """The member's allowance rules, or None when the member is never charged (bot owners)."""
        return self.terms_for(user_id, guild_id, role_ids).rules

    def _values(self, guild_id: int | None, role_ids: Iterable[int]) -> _Values:
        s = self._settings
        values = _Values(s.allowance, s.cost_per_image, s.max_balance)
        if guild_id is None:
            return values
        here = [o for o in s.overrides if o.guild_id == guild_id]
        for override in here:
            if override.role_id is None:
                values = values.with_override(override)
        server = self._server_terms(guild_id) if self._server_terms is not None else None
        if server is not None:
            values = values.with_server(server)
        roles = set(role_ids)
        candidates = [values.with_override(o) for o in here if o.role_id is not None and o.role_id in roles]
        return max(candidates, key=lambda v: v.favour) if candidates else values

    def _rules(self, values: _Values) -> AccountRules:
        return AccountRules(
            allowance=values.allowance,
            period_seconds=self._settings.refill_every.total_seconds(),
            max_balance=values.max_balance,
            anchor=self._anchor,
        )


async def ban_applying(store: BanLookup, ledger: CreditLedger, user_id: int, guild_id: int | None) -> str | None:
    """The ban scope that stops this member here ('global' or 'guild:<id>'), or None; owners are never banned."""
    if ledger.is_owner(user_id):
        return None
    return await store.banned_in(user_id, ledger.ban_scopes(guild_id))


def role_ids_of(user: object) -> tuple[int, ...]:
    """The role ids of a guild member (empty for a user outside a guild, which has no ``roles``)."""
    # Duck-typed so the engine never imports discord: only discord.Member has ``roles``.
    return tuple(role.id for role in getattr(user, "roles", ()))


def refill_time(timestamp: float) -> str:
    """A Discord timestamp shown in each reader's timezone, e.g. "in 3 hours" (plain markup, no discord import)."""
    return f"<t:{int(timestamp)}:R>"


def credits_text(n: int) -> str:
    """``1 credit`` / ``5 credits``."""
    return f"{n} credit" if n == 1 else f"{n} credits"


def insufficient_credits_error(exc: InsufficientBalance) -> InsufficientCredits:
    """The member's refusal for a reservation the store turned down: balance, cost and the next refill."""
    return InsufficientCredits(balance=exc.balance.balance, cost=exc.cost, next_refill_at=exc.balance.next_refill_at)
