"""Embeds for /credits, /history and /admin usage (pure functions of what the Accounts service returns)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from bot.engine.credits import refill_time
from bot.store import JobState
from bot.surface import texts, texts_credits, ui

if TYPE_CHECKING:
    from bot.engine.accounts import HistoryPage, Statement, UsageReport
    from bot.store import AccountRules, HistoryEntry

__all__ = ["history_embed", "jump_url", "statement_embed", "usage_embed"]

_STATE_ICONS = {JobState.DELIVERED: "✅", JobState.FAILED: "❌"}


def jump_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    """The link that opens a message in Discord (``@me`` for DMs)."""
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def _schedule(rules: AccountRules) -> str:
    every = texts_credits.every(rules.period_seconds)
    if rules.anchor is None:
        return every
    return texts_credits.at_utc(every, rules.anchor)


def statement_embed(statement: Statement, *, name: str, own: bool) -> discord.Embed:
    """/credits: balance, next refill and cost per image (or unlimited / banned)."""
    title = texts_credits.CREDITS_YOURS if own else texts_credits.credits_of(name)
    embed = discord.Embed(title=title, colour=ui.EMBED_COLOUR)
    terms = statement.terms
    if statement.banned_in is not None:
        embed.description = texts_credits.banned_note(statement.banned_in)
    if statement.balance is None or terms.rules is None:
        embed.add_field(name=texts_credits.BALANCE, value=texts_credits.UNLIMITED, inline=True)
        return embed
    rules, balance = terms.rules, statement.balance
    value = texts_credits.balance_value(balance.balance, balance.held, everywhere=terms.scope == "global")
    embed.add_field(name=texts_credits.BALANCE, value=value, inline=True)
    embed.add_field(name=texts_credits.COST_PER_IMAGE, value=texts.credits_text(terms.cost), inline=True)
    if rules.allowance > 0:
        refill = texts_credits.allowance_value(rules.allowance, _schedule(rules), rules.max_balance)
        # Credits reserved for jobs in progress count against the cap (they come back if a job fails).
        if balance.balance + balance.held >= rules.max_balance:
            refill += f"\n{texts_credits.AT_CAP}"
        else:
            refill += f"\n{texts_credits.next_refill(balance.next_refill_at)}"
        embed.add_field(name=texts_credits.ALLOWANCE, value=refill, inline=False)
    else:
        embed.add_field(name=texts_credits.ALLOWANCE, value=texts_credits.NO_ALLOWANCE, inline=False)
    return embed


def _history_line(entry: HistoryEntry) -> str:
    icon = _STATE_ICONS.get(entry.state, "•")
    state = texts_credits.HISTORY_STATES.get(entry.state.value, entry.state.value)
    parts = [f"{icon} {state}", texts.credits_text(entry.cost), refill_time(entry.finished_at)]
    if entry.result_message_id is not None and entry.state is JobState.DELIVERED:
        parts.append(_result_link(entry, entry.result_message_id))
    line = " · ".join(parts)
    if entry.state is JobState.FAILED and entry.error_code:
        line += f"\n{texts.shorten(texts.failure_reason(entry.error_code, entry.error_message), 150)}"
    elif entry.state is JobState.FAILED and entry.error_message:  # rows from before failure codes were kept
        line += f"\n{discord.utils.escape_markdown(texts.shorten(entry.error_message, 150))}"
    return line


def _result_link(entry: HistoryEntry, message_id: int) -> str:
    """Where a delivered job's result is: its message in the job's channel or the member's DMs; an ephemeral one
    has no message anyone can open, so it is only named."""
    if entry.result_ephemeral:
        return texts_credits.RESULT_SHOWN_PRIVATELY
    if entry.result_channel_id is not None:  # the DM channel: DM links have no guild
        return f"[{texts_credits.RESULT_LINK}]({jump_url(None, entry.result_channel_id, message_id)})"
    return f"[{texts_credits.RESULT_LINK}]({jump_url(entry.guild_id, entry.channel_id, message_id)})"


def history_embed(page: HistoryPage) -> discord.Embed:
    """/history: one page of finished jobs, newest first."""
    embed = discord.Embed(title=texts_credits.HISTORY_TITLE, colour=ui.EMBED_COLOUR)
    if not page.entries:
        embed.description = texts_credits.HISTORY_EMPTY if page.page == 1 else texts_credits.HISTORY_PAST_END
    for entry in page.entries:
        prompt = discord.utils.escape_markdown(texts.shorten(" ".join(entry.prompt.split()), 200))
        embed.add_field(name=f"/{entry.kind.value} · `{entry.job_id}`", value=f"{prompt}\n{_history_line(entry)}")
    embed.set_footer(text=texts_credits.history_page(page.page))
    return embed


def usage_embed(report: UsageReport) -> discord.Embed:
    """/admin usage: totals per UTC day, top members and, bot-wide, today's reAPI spend against the cap."""
    days = len(report.usage.days)
    title = texts_credits.usage_title(days, this_server=bool(report.guild_id))
    embed = discord.Embed(title=title, colour=ui.EMBED_COLOUR)
    lines = []
    for day in reversed(report.usage.days):
        date = datetime.fromtimestamp(day.day_start, UTC).date().isoformat()
        lines.append(texts_credits.usage_day(date, day.delivered, day.failed, day.credits, day.charged))
    embed.description = "\n".join(lines) or texts_credits.NO_ACTIVITY
    top = [
        texts_credits.usage_top(n, u.user_id, u.delivered, u.credits)
        for n, u in enumerate(report.usage.top_users, start=1)
    ]
    embed.add_field(name=texts_credits.TOP_MEMBERS, value="\n".join(top) or texts_credits.NOBODY_YET, inline=False)
    total = sum(d.delivered for d in report.usage.days)
    spent = sum(d.credits for d in report.usage.days)
    embed.add_field(name=texts_credits.TOTALS, value=texts_credits.usage_totals(total, spent), inline=True)
    embed.add_field(name=texts_credits.WAITING, value=str(report.usage.in_flight), inline=True)
    if report.spend is not None:
        spend = report.spend
        value = texts_credits.usage_spend(spend.spent, spend.cap, spend.in_flight)
        embed.add_field(name=texts_credits.REAPI_SPEND, value=value, inline=False)
    return embed
