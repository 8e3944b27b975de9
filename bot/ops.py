"""Operator commands: ``imagine-bot credits grant|show`` and ``imagine-bot ledger check``."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ConfigError, load_settings
from bot.engine.accounts import Accounts
from bot.engine.credits import CreditLedger, credits_text
from bot.store import InsufficientBalance, open_store

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.store import Store

__all__ = ["EXIT_CONFIG", "EXIT_MISMATCH", "add_operator_commands", "run_operator_command"]

EXIT_CONFIG = 2
EXIT_MISMATCH = 1
_SCOPE = re.compile(r"global|guild:(?P<guild_id>\d{1,20})")
_SHOWN_PROBLEMS = 50


def add_operator_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``credits`` and ``ledger`` subcommands to the CLI parser."""
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", type=Path, default=None, help="TOML file (default ./config.toml, else env only)")

    credits = commands.add_parser("credits", help="show or grant a member's bot credits")
    actions = credits.add_subparsers(dest="action", required=True)
    grant = actions.add_parser("grant", parents=[config], help="add (or, negative, take back) credits")
    grant.add_argument("user_id", type=int, help="the member's Discord user id")
    grant.add_argument("amount", type=int, help="credits to add; negative takes credits back")
    grant.add_argument("--scope", default="global", help='"global" (default) or "guild:GUILD_ID"')
    grant.add_argument("--reason", default=None, help="why; kept in the ledger")
    show = actions.add_parser("show", parents=[config], help="balances, ban and recent ledger entries")
    show.add_argument("user_id", type=int, help="the member's Discord user id")

    ledger = commands.add_parser("ledger", help="verify the credit ledger")
    ledger_actions = ledger.add_subparsers(dest="action", required=True)
    ledger_actions.add_parser(
        "check",
        parents=[config],
        help=(
            "balances equal ledger sums, every reservation is settled once or in flight and held until then, "
            "and no refill passed max_balance (exit 1 if not)"
        ),
    )


def run_operator_command(args: argparse.Namespace) -> int:
    """Run a ``credits`` or ``ledger`` subcommand; returns the exit code."""
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"imagine-bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "ledger":
        return asyncio.run(check_ledger(settings))
    if args.action == "grant":
        return asyncio.run(grant(settings, args.user_id, args.amount, scope=args.scope, reason=args.reason))
    return asyncio.run(show(settings, args.user_id))


def _accounts(settings: Settings, store: Store) -> Accounts:
    ledger = CreditLedger(settings.credits, owner_ids=frozenset(settings.discord.owner_ids))
    return Accounts(store=store, ledger=ledger)


async def check_ledger(settings: Settings) -> int:
    """Print what the ledger audit found; 0 when the books balance, 1 on any mismatch."""
    store = await open_store(settings.database.url)
    try:
        audit = await store.audit_ledger()
    finally:
        await store.close()
    print(
        f"ledger check: {audit.accounts} accounts, {audit.entries} entries, {audit.reserves} reservations "
        f"({audit.in_flight} in flight)"
    )
    if audit.ok:
        print(
            "OK: every balance equals its ledger sum; every reservation is settled once or still in flight (and "
            "held until then); no refill lifted a balance above max_balance"
        )
        return 0
    print(f"MISMATCH: {len(audit.problems)} problem(s)")
    for problem in audit.problems[:_SHOWN_PROBLEMS]:
        print(f"  - {problem}")
    if len(audit.problems) > _SHOWN_PROBLEMS:
        print(f"  … and {len(audit.problems) - _SHOWN_PROBLEMS} more")
    return EXIT_MISMATCH


async def grant(settings: Settings, user_id: int, amount: int, *, scope: str, reason: str | None) -> int:
    """Add ``amount`` credits to a member's balance in ``scope`` (actor: the operator, recorded as none)."""
    match = _SCOPE.fullmatch(scope)
    if match is None:
        print('imagine-bot: --scope must be "global" or "guild:GUILD_ID"', file=sys.stderr)
        return EXIT_CONFIG
    guild_id = int(match["guild_id"]) if match["guild_id"] else None
    if (guild_id is None) != (settings.credits.scope == "global"):
        print(
            f'imagine-bot: credits.scope is "{settings.credits.scope}", so balances in {scope} are never used',
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if amount == 0:
        print("imagine-bot: the amount must not be 0", file=sys.stderr)
        return EXIT_CONFIG
    store = await open_store(settings.database.url)
    try:
        balance = await _accounts(settings, store).grant(user_id, guild_id, amount, actor_id=None, note=reason)
    except InsufficientBalance as exc:
        print(f"imagine-bot: the balance is only {credits_text(exc.balance.balance)}", file=sys.stderr)
        return EXIT_MISMATCH
    finally:
        await store.close()
    print(f"user {user_id} in {scope}: {amount:+d} → {credits_text(balance.balance)}")
    return 0


async def show(settings: Settings, user_id: int) -> int:
    """Print a member's balances (after refills due), global ban and last ledger entries."""
    store = await open_store(settings.database.url)
    try:
        accounts = _accounts(settings, store)
        lines = [f"user {user_id}"]
        for scope in await store.account_scopes(user_id):
            guild_id = int(scope.removeprefix("guild:")) if scope.startswith("guild:") else None
            statement = await accounts.statement(user_id, guild_id)
            if statement.balance is None:
                lines.append(f"  {scope}: unlimited (bot owner)")
                continue
            balance = statement.balance
            held = f", {balance.held} reserved for jobs in progress" if balance.held else ""
            lines.append(
                f"  {scope}: {credits_text(balance.balance)}{held} (next refill {_iso(balance.next_refill_at)})"
            )
        if len(lines) == 1:
            lines.append("  no balance yet (a first job starts one with a full allowance)")
        if await store.banned_in(user_id, ["global"]):
            lines.append("  banned everywhere")
        entries = await store.ledger(user_id)
        if entries:
            lines.append("  last ledger entries:")
        for entry in entries[-10:]:
            extra = " ".join(
                part
                for part in (
                    f"job {entry.job_id}" if entry.job_id else "",
                    f"by {entry.actor_id}" if entry.actor_id else "",
                    f"({entry.note})" if entry.note else "",
                )
                if part
            )
            lines.append(f"    {_iso(entry.created_at)} {entry.scope} {entry.delta:+d} {entry.reason} {extra}".rstrip())
    finally:
        await store.close()
    print("\n".join(lines))
    return 0


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
