"""Operator commands: `imagine-bot credits grant|show` and `ledger check` on a SQLite database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bot.config import Settings
from bot.ops import EXIT_CONFIG, check_ledger, grant, show
from bot.store import AccountRules, open_store
from tests.store.conftest import new_job, sql_execute

if TYPE_CHECKING:
    from pathlib import Path

USER = 1_234_567_890_123_456_789


def settings_for(tmp_path: Path, **credits: object) -> Settings:
    return Settings(database={"url": f"sqlite:///{tmp_path / 'ops.sqlite3'}"}, credits=credits)


async def test_grant_then_show_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(tmp_path)
    assert await grant(settings, USER, 25, scope="global", reason="refund for outage") == 0
    assert capsys.readouterr().out.strip() == f"user {USER} in global: +25 → 75 credits"
    assert await grant(settings, USER, -5, scope="global", reason=None) == 0
    assert await grant(settings, USER, -500, scope="global", reason=None) == 1  # never below zero
    capsys.readouterr()
    assert await show(settings, USER) == 0
    out = capsys.readouterr().out
    assert f"user {USER}\n  global: 70 credits (next refill " in out
    assert "global +25 grant (refund for outage)" in out
    assert "global -5 grant" in out
    assert await check_ledger(settings) == 0
    assert "1 accounts, 3 entries" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("scope", "config_scope", "message"),
    [
        ("guild:abc", "global", 'must be "global" or "guild:GUILD_ID"'),
        ("guild:5", "global", "balances in guild:5 are never used"),
        ("global", "guild", "balances in global are never used"),
    ],
)
async def test_grant_refuses_scopes_the_bot_does_not_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scope: str, config_scope: str, message: str
) -> None:
    settings = settings_for(tmp_path, scope=config_scope)
    assert await grant(settings, USER, 5, scope=scope, reason=None) == EXIT_CONFIG
    assert message in capsys.readouterr().err


async def test_grant_in_a_guild_scope_and_show_without_balance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path, scope="guild")
    assert await grant(settings, USER, 5, scope="guild:77", reason=None) == 0
    assert await show(settings, 42) == 0
    assert "no balance yet" in capsys.readouterr().out


async def test_check_ledger_exits_1_and_lists_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(tmp_path)
    await grant(settings, USER, 5, scope="global", reason=None)
    store = await open_store(settings.database.url)
    try:
        await store.ban(USER, "global", actor_id=None)
        await sql_execute(store, "UPDATE accounts SET balance = 3")
    finally:
        await store.close()
    capsys.readouterr()
    assert await show(settings, USER) == 0
    assert "banned everywhere" in capsys.readouterr().out
    assert await check_ledger(settings) == 1
    out = capsys.readouterr().out
    assert "MISMATCH: 1 problem(s)" in out
    assert f"account {USER}/global: balance 3 but the ledger sums to 55" in out


async def test_show_tells_what_is_reserved_and_check_finds_a_wrong_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    store = await open_store(settings.database.url)
    try:
        rules = AccountRules(allowance=50, period_seconds=86_400.0, max_balance=50)
        await store.create_job(new_job(USER, cost=3), rules=rules)
    finally:
        await store.close()
    assert await show(settings, USER) == 0
    assert "  global: 47 credits, 3 reserved for jobs in progress (next refill " in capsys.readouterr().out
    assert await check_ledger(settings) == 0
    store = await open_store(settings.database.url)
    try:
        await sql_execute(store, "UPDATE accounts SET held = 0")
    finally:
        await store.close()
    capsys.readouterr()
    assert await check_ledger(settings) == 1
    assert f"account {USER}/global: held 0 but its unfinished jobs cost 3" in capsys.readouterr().out
