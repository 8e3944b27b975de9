"""Credit rules without Discord: refill boundaries, overrides, owners, the spend cap and the 402 pause."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from bot.config import ConfigError, CreditsSettings, load_settings
from bot.engine.credits import CreditLedger
from bot.engine.errors import ReapiPaused
from bot.engine.spend import SpendGuard, day_start
from bot.store import AccountRules, SpendCapExceeded, open_store
from bot.surface import ui
from tests.refusals import refused

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from bot.store import Store

HOUR = 3600.0
DAY = 86_400.0
T0 = 1_700_006_400.0  # 2023-11-15 00:00:00 UTC
OWNER = 1
GUILD = 500
VIP, MOD, MUTED = 601, 602, 603


# -- refill arithmetic --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "due"),
    [(0.0, 0), (HOUR - 0.001, 0), (HOUR, 1), (2.5 * HOUR, 2), (10 * HOUR, 10)],
)
def test_rolling_refills_count_whole_periods(elapsed: float, due: int) -> None:
    rules = AccountRules(allowance=5, period_seconds=HOUR, max_balance=20)
    assert rules.refills_due(T0, T0 + elapsed) == (due, T0 + due * HOUR)
    assert rules.next_refill(T0) == T0 + HOUR


def test_fixed_hour_periods_start_at_the_scheduled_hour() -> None:
    rules = AccountRules(allowance=5, period_seconds=DAY, max_balance=20, anchor=6 * HOUR)
    assert rules.period_start(T0 + 5 * HOUR) == T0 - DAY + 6 * HOUR  # before 06:00: yesterday's 06:00
    assert rules.period_start(T0 + 6 * HOUR) == T0 + 6 * HOUR  # exactly at the boundary: today's
    assert rules.next_refill(T0 + 6 * HOUR) == T0 + DAY + 6 * HOUR
    start = T0 + 6 * HOUR
    assert rules.refills_due(start, start + DAY - 0.001) == (0, start)
    assert rules.refills_due(start, start + DAY) == (1, start + DAY)
    assert rules.refills_due(start, start + 3 * DAY + 1) == (3, start + 3 * DAY)


def test_fixed_hour_counts_boundaries_crossed_from_an_unaligned_start() -> None:
    """A period begun on a rolling schedule (e.g. before the config changed) refills at the next fixed hour."""
    rules = AccountRules(allowance=5, period_seconds=DAY, max_balance=20, anchor=6 * HOUR)
    start = T0 + 10 * HOUR  # 10:00, not on the schedule
    assert rules.next_refill(start) == T0 + DAY + 6 * HOUR
    assert rules.refills_due(start, T0 + DAY + 5 * HOUR) == (0, start)
    assert rules.refills_due(start, T0 + DAY + 6 * HOUR) == (1, T0 + DAY + 6 * HOUR)


def test_twelve_hour_schedule_refills_twice_a_day() -> None:
    rules = AccountRules(allowance=5, period_seconds=12 * HOUR, max_balance=20, anchor=6 * HOUR)
    assert rules.period_start(T0 + 19 * HOUR) == T0 + 18 * HOUR
    assert rules.next_refill(T0 + 7 * HOUR) == T0 + 18 * HOUR


@pytest.mark.parametrize(
    ("balance", "periods", "after"),
    [(0, 1, 5), (0, 10, 20), (18, 1, 20), (20, 3, 20), (35, 2, 35), (7, 0, 7)],
)
def test_refills_stop_at_the_cap_and_never_lower_a_balance(balance: int, periods: int, after: int) -> None:
    rules = AccountRules(allowance=5, period_seconds=HOUR, max_balance=20)
    assert rules.refilled(balance, periods) == after


@pytest.mark.parametrize(
    ("balance", "held", "periods", "after"),
    [(2, 3, 1, 7), (0, 15, 1, 5), (0, 15, 3, 5), (5, 15, 1, 5), (10, 15, 1, 10), (0, 25, 2, 0), (3, 4, 1, 8)],
)
def test_refills_count_held_credits_against_the_cap(balance: int, held: int, periods: int, after: int) -> None:
    """Credits reserved for jobs in progress count against max_balance, so a later refund cannot pass it."""
    rules = AccountRules(allowance=5, period_seconds=HOUR, max_balance=20)
    assert rules.refilled(balance, periods, held=held) == after


# -- terms: overrides, roles, owners --------------------------------------------------------------------


def ledger(**credits: object) -> CreditLedger:
    settings = CreditsSettings.model_validate(
        {
            "allowance": 50,
            "cost_per_image": 2,
            "max_balance": 60,
            "overrides": [
                {"guild_id": GUILD, "allowance": 10, "max_balance": 10},
                {"guild_id": GUILD, "role_id": VIP, "allowance": 100, "max_balance": 300},
                {"guild_id": GUILD, "role_id": MOD, "allowance": 100, "cost_per_image": 1},
                {"guild_id": GUILD, "role_id": MUTED, "allowance": 0},
                {"guild_id": 999, "role_id": VIP, "allowance": 1000},
            ],
            **credits,
        }
    )
    return CreditLedger(settings, owner_ids=frozenset({OWNER}))


def test_base_terms_apply_outside_overridden_guilds_and_in_dms() -> None:
    for guild in (None, 777):
        terms = ledger().terms_for(2, guild, [VIP])
        assert terms.cost == 2
        assert terms.rules == AccountRules(allowance=50, period_seconds=DAY, max_balance=60)
        assert terms.scope == "global"


def test_guild_override_replaces_only_the_keys_it_sets() -> None:
    terms = ledger().terms_for(2, GUILD)
    assert terms.cost == 2
    assert terms.rules is not None
    assert (terms.rules.allowance, terms.rules.max_balance) == (10, 10)


def test_best_role_wins_highest_allowance_then_lowest_cost() -> None:
    both = ledger().terms_for(2, GUILD, [MUTED, VIP, MOD])
    assert both.rules is not None
    # VIP and MOD tie on allowance 100; MOD's cost 1 beats VIP's 2 (inherited), so MOD's terms apply.
    assert (both.rules.allowance, both.cost, both.rules.max_balance) == (100, 1, 10)
    vip = ledger().terms_for(2, GUILD, [VIP, MUTED])
    assert vip.rules is not None
    assert (vip.rules.allowance, vip.cost, vip.rules.max_balance) == (100, 2, 300)
    muted = ledger().terms_for(2, GUILD, [MUTED])
    assert muted.rules is not None
    assert muted.rules.allowance == 0


def test_owners_are_unlimited_everywhere() -> None:
    terms = ledger().terms_for(OWNER, GUILD, [MUTED])
    assert terms.unlimited
    assert terms.cost == 0
    assert ledger().rules_for(OWNER) is None
    assert ledger().terms_for(OWNER).cost == 0


def test_guild_scope_and_ban_scopes() -> None:
    guilds = ledger(scope="guild")
    assert guilds.scope_for(GUILD) == f"guild:{GUILD}"
    assert guilds.scope_for(None) == "global"
    assert CreditLedger.ban_scopes(GUILD) == ("global", f"guild:{GUILD}")
    assert CreditLedger.ban_scopes(None) == ("global",)


def test_refill_hour_becomes_the_rules_anchor() -> None:
    rules = ledger(refill_at_utc_hour=6).base_rules()
    assert rules.anchor == 6 * HOUR


# -- config -----------------------------------------------------------------------------------------------


def test_credit_keys_validate(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[credits]\nrefill_at_utc_hour = 6\ndaily_spend_cap = 5000\ndaily_spend_cap_usd = 2.5\n"
        "[[credits.overrides]]\nguild_id = 1\nrole_id = 2\nallowance = 3\n"
        '[reapi]\npause_after_402 = "15m"\n[discord]\nlog_channel_id = 42\n',
        encoding="utf-8",
    )
    settings = load_settings(path)
    assert settings.credits.refill_at_utc_hour == 6
    assert settings.credits.spend_cap_credits == 2500  # the lower of 5,000 credits and $2.50
    assert settings.credits.overrides[0].role_id == 2
    assert settings.reapi.pause_after_402 == timedelta(minutes=15)
    assert settings.discord.log_channel_id == 42
    path.write_text("[credits]\nrefill_at_utc_hour = 24\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="refill_at_utc_hour"):
        load_settings(path)
    path.write_text("[[credits.overrides]]\nguild_id = 1\nalowance = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="alowance"):
        load_settings(path)


# -- spend cap and 402 pause ----------------------------------------------------------------------------


class RecordingAlerts:
    """Alerts that remember what they were asked to send."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def notify(self, text: str) -> None:
        self.sent.append(text)

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = T0 + 10 * HOUR

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    opened = await open_store("sqlite://:memory:")
    yield opened
    await opened.close()


def guard(store: Store, alerts: RecordingAlerts, clock: Clock, cap: int = 100) -> SpendGuard:
    return SpendGuard(store=store, alerts=alerts, cap_credits=cap, pause_seconds=600, clock=clock)


async def test_spend_limit_is_reapi_credits_since_midnight_utc(store: Store) -> None:
    """The cap counts reAPI credits (in the store's millicredits), not whole images."""
    clock, alerts = Clock(), RecordingAlerts()
    limit = guard(store, alerts, clock, cap=110).limit()
    assert limit is not None
    assert (limit.since, limit.max_millicredits) == (T0, 110_000)
    assert guard(store, alerts, clock, cap=0).limit() is None
    assert day_start(T0 + DAY - 1) == T0


async def test_cap_refusal_notifies_the_owners_once_per_day(store: Store) -> None:
    clock, alerts = Clock(), RecordingAlerts()
    spend = guard(store, alerts, clock)
    for _ in range(3):
        error = await spend.refuse(SpendCapExceeded(5, 5))
        assert error.reset_at == day_start(clock.now) + DAY
        assert "today's image budget" in ui.refusal_text(error)
        assert "Nothing was charged" in ui.refusal_text(error)
    assert len(alerts.sent) == 1
    assert "daily reAPI spend cap" in alerts.sent[0]
    clock.now += DAY
    await spend.refuse(SpendCapExceeded(5, 5))
    assert len(alerts.sent) == 2


async def test_402_pauses_submissions_notifies_once_and_survives_a_restart(store: Store) -> None:
    clock, alerts = Clock(), RecordingAlerts()
    spend = guard(store, alerts, clock)
    spend.check_open()
    await spend.pause_after_402()
    await spend.pause_after_402()  # a second 402 during the same pause
    assert len(alerts.sent) == 1
    assert "402" in alerts.sent[0]
    with refused(ReapiPaused, match="run out of credits") as paused:
        spend.check_open()
    assert paused.value.reason == "402"
    restarted = guard(store, RecordingAlerts(), clock)
    await restarted.load()
    assert restarted.paused_until == clock.now + 600
    clock.now += 600
    spend.check_open()
    restarted.check_open()
    await spend.pause_after_402()
    assert len(alerts.sent) == 2  # a new pause, a new alert


async def test_a_burst_of_submissions_reads_the_shared_pause_once_not_once_each(store: Store) -> None:
    # Every /imagine refreshes the pause after its ack; 50 at once used to make 100 database reads in a row,
    # in line ahead of the queue's claims.
    clock, alerts = Clock(), RecordingAlerts()
    spend = guard(store, alerts, clock)
    reads: list[str] = []
    get_meta = store.get_meta

    async def counted(key: str) -> str | None:
        reads.append(key)
        return await get_meta(key)

    store.get_meta = counted  # type: ignore[method-assign]
    await asyncio.gather(*(spend.refresh() for _ in range(50)))
    assert len(reads) == 2  # the pause and its reason, once
    # Still re-read once a second has passed: a pause another process set is seen.
    await guard(store, alerts, clock).pause_after_402()
    clock.now += 1
    await spend.refresh()
    with refused(ReapiPaused):
        spend.check_open()
