"""The credits service the /credits, /history and /admin commands (and the CLI) use."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.engine.credits import ban_applying
from bot.engine.spend import DAY, day_start

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from bot.engine.credits import CreditLedger, Terms
    from bot.engine.ports import AccountStore
    from bot.engine.spend import SpendGuard, SpendToday
    from bot.store import AccountRules, Balance, HistoryEntry, LedgerAudit, Usage

__all__ = ["Accounts", "HistoryPage", "Statement", "UsageReport"]

HISTORY_PAGE_SIZE = 5


@dataclass(frozen=True, slots=True)
class Statement:
    """What /credits shows about one member, where they asked."""

    user_id: int
    terms: Terms
    balance: Balance | None  # None for unlimited members (bot owners)
    banned_in: str | None  # the ban scope that applies here, if any


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of a member's finished jobs, newest first."""

    user_id: int
    page: int  # 1-based
    entries: tuple[HistoryEntry, ...]
    has_next: bool


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage per day and top members, for the whole bot (with spend vs cap) or for one guild."""

    usage: Usage
    guild_id: int | None
    spend: SpendToday | None


class Accounts:
    """Balances, history, grants, bans and usage, applying the credit rules on top of the store."""

    def __init__(
        self,
        *,
        store: AccountStore,
        ledger: CreditLedger,
        spend: SpendGuard | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._spend = spend
        self._clock = clock

    @property
    def ledger(self) -> CreditLedger:
        """The credit rules in force."""
        return self._ledger

    def needs_owner(self, guild_id: int | None) -> bool:
        """Whether changing a member's balance here touches the global balance (only bot owners may)."""
        return self._ledger.scope_for(guild_id) == "global"

    async def statement(self, user_id: int, guild_id: int | None, role_ids: Iterable[int] = ()) -> Statement:
        """The member's balance (after any refill due), terms and ban status here."""
        terms = self._ledger.terms_for(user_id, guild_id, role_ids)
        banned = await ban_applying(self._store, self._ledger, user_id, guild_id)
        balance = None
        if terms.rules is not None:
            balance = await self._store.balance(user_id, terms.scope, terms.rules)
        return Statement(user_id, terms, balance, banned)

    async def history_page(self, user_id: int, page: int, *, size: int = HISTORY_PAGE_SIZE) -> HistoryPage:
        """Page ``page`` (1-based) of the member's finished jobs."""
        page = max(1, page)
        rows = await self._store.history(user_id, limit=size + 1, offset=(page - 1) * size)
        return HistoryPage(user_id, page, tuple(rows[:size]), len(rows) > size)

    async def grant(
        self,
        user_id: int,
        guild_id: int | None,
        amount: int,
        *,
        role_ids: Iterable[int] = (),
        actor_id: int | None,
        note: str | None = None,
    ) -> Balance:
        """Add credits to the balance the member uses here (may pass the refill cap)."""
        scope, rules = self._target(user_id, guild_id, role_ids)
        return await self._store.grant(user_id, scope, amount, rules, actor_id=actor_id, note=note)

    async def set_balance(
        self,
        user_id: int,
        guild_id: int | None,
        amount: int,
        *,
        role_ids: Iterable[int] = (),
        actor_id: int | None,
        note: str | None = None,
    ) -> Balance:
        """Set the balance the member uses here."""
        scope, rules = self._target(user_id, guild_id, role_ids)
        return await self._store.set_balance(user_id, scope, amount, rules, actor_id=actor_id, note=note)

    async def reset(
        self, user_id: int, guild_id: int | None, *, role_ids: Iterable[int] = (), actor_id: int | None
    ) -> Balance:
        """Back to a full allowance with a fresh refill period."""
        scope, rules = self._target(user_id, guild_id, role_ids)
        return await self._store.reset_balance(user_id, scope, rules, actor_id=actor_id)

    async def ban(self, user_id: int, scope: str, *, actor_id: int | None, reason: str | None = None) -> bool:
        """Ban a member in ``scope`` ('global' or 'guild:<id>'); False if already banned."""
        return await self._store.ban(user_id, scope, actor_id=actor_id, reason=reason)

    async def unban(self, user_id: int, scope: str) -> bool:
        """Lift a ban; False if there was none."""
        return await self._store.unban(user_id, scope)

    async def usage(self, days: int, *, guild_id: int | None) -> UsageReport:
        """The last ``days`` UTC days (today included); spend vs cap only for the bot-wide view."""
        today = day_start(self._clock())
        starts = [today - DAY * n for n in range(days - 1, -1, -1)]
        usage = await self._store.usage(starts, guild_id=guild_id, top=5)
        spend = await self._spend.today() if self._spend is not None and guild_id is None else None
        return UsageReport(usage, guild_id, spend)

    async def audit(self) -> LedgerAudit:
        """The ledger check behind ``imagine-bot ledger check``."""
        return await self._store.audit_ledger()

    def _target(self, user_id: int, guild_id: int | None, role_ids: Iterable[int]) -> tuple[str, AccountRules]:
        terms = self._ledger.terms_for(user_id, guild_id, role_ids)
        # Owners are never charged, but an admin may still keep a balance for them: use the plain rules.
        return terms.scope, terms.rules or self._ledger.base_rules()
