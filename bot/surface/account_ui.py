"""Embeds for /credits, /history and /admin usage (pure functions of what the Accounts service returns)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from bot.engine.credits import credits_text, refill_time
from bot.store import JobState
from bot.surface import ui

if TYPE_CHECKING:
    from bot.engine.accounts import HistoryPage, Statement, UsageReport
    from bot.store import AccountRules, HistoryEntry

__all__ = ["history_embed", "jump_url", "statement_embed", "usage_embed"]

_STATE_ICONS = {JobState.DELIVERED: "✅", JobState.FAILED: "❌"}
_UNITS = ((604_800, "week"), (86_400, "day"), (3_600, "hour"), (60, "minute"))


def jump_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    """The link that opens a message in Discord (``@me`` for DMs)."""
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def _every(seconds: float) -> str:
    for size, name in _UNITS:
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"every {name}" if n == 1 else f"every {n} {name}s"
    return f"every {seconds:g} seconds"


def _schedule(rules: AccountRules) -> str:
    every = _every(rules.period_seconds)
    if rules.anchor is None:
        return every
    start = datetime.fromtimestamp(rules.anchor, UTC)
    return f"{every} at {start:%H:%M} UTC"


def statement_embed(statement: Statement, *, name: str, own: bool) -> discord.Embed:
    """/credits: balance, next refill and cost per image (or unlimited / banned)."""
    title = "Your credits" if own else f"Credits of {name}"
    embed = discord.Embed(title=title, colour=ui.EMBED_COLOUR)
    terms = statement.terms
    where = "everywhere" if terms.scope == "global" else "in this server"
    if statement.banned_in is not None:
        banned_where = "on this bot" if statement.banned_in == "global" else "in this server"
        embed.description = f"🚫 Banned from creating images {banned_where}."
    if statement.balance is None or terms.rules is None:
        embed.add_field(name="Balance", value="Unlimited (bot owner)", inline=True)
        return embed
    rules, balance = terms.rules, statement.balance
    held = f"\n{credits_text(balance.held)} reserved for images in progress" if balance.held else ""
    embed.add_field(name="Balance", value=f"**{credits_text(balance.balance)}** ({where}){held}", inline=True)
    embed.add_field(name="Cost per image", value=credits_text(terms.cost), inline=True)
    if rules.allowance > 0:
        refill = f"+{rules.allowance} {_schedule(rules)}, up to {rules.max_balance}"
        # Credits reserved for jobs in progress count against the cap (they come back if a job fails).
        if balance.balance + balance.held >= rules.max_balance:
            refill += "\nYou are at the cap: refills add nothing until you spend."
        else:
            refill += f"\nNext refill {refill_time(balance.next_refill_at)}"
        embed.add_field(name="Allowance", value=refill, inline=False)
    else:
        embed.add_field(name="Allowance", value="None here: credits come only from admins.", inline=False)
    return embed


def _history_line(entry: HistoryEntry) -> str:
    icon = _STATE_ICONS.get(entry.state, "•")
    parts = [f"{icon} {entry.state.value}", credits_text(entry.cost), refill_time(entry.finished_at)]
    if entry.result_message_id is not None and entry.state is JobState.DELIVERED:
        parts.append(f"[result]({jump_url(entry.guild_id, entry.channel_id, entry.result_message_id)})")
    line = " · ".join(parts)
    if entry.state is JobState.FAILED and entry.error_code:
        line += f"\n{ui.shorten(ui.failure_reason(entry.error_code, entry.error_message), 150)}"
    elif entry.state is JobState.FAILED and entry.error_message:  # rows from before failure codes were kept
        line += f"\n{discord.utils.escape_markdown(ui.shorten(entry.error_message, 150))}"
    return line


def history_embed(page: HistoryPage) -> discord.Embed:
    """/history: one page of finished jobs, newest first."""
    embed = discord.Embed(title="Your images", colour=ui.EMBED_COLOUR)
    if not page.entries:
        embed.description = (
            "Nothing here yet: try `/imagine`." if page.page == 1 else "No more images: this is past the last page."
        )
    for entry in page.entries:
        prompt = discord.utils.escape_markdown(ui.shorten(" ".join(entry.prompt.split()), 200))
        embed.add_field(name=f"/{entry.kind.value} · `{entry.job_id}`", value=f"{prompt}\n{_history_line(entry)}")
    embed.set_footer(text=f"Page {page.page}")
    return embed


def usage_embed(report: UsageReport) -> discord.Embed:
    """/admin usage: totals per UTC day, top members and, bot-wide, today's reAPI spend against the cap."""
    days = len(report.usage.days)
    title = f"Usage, last {days} day{'s' if days != 1 else ''}" + (" (this server)" if report.guild_id else "")
    embed = discord.Embed(title=title, colour=ui.EMBED_COLOUR)
    lines = []
    for day in reversed(report.usage.days):
        date = datetime.fromtimestamp(day.day_start, UTC).date().isoformat()
        lines.append(
            f"`{date}` {day.delivered} delivered · {day.failed} failed · {credits_text(day.credits)} · "
            f"{day.charged} sent to reAPI"
        )
    embed.description = "\n".join(lines) or "No activity."
    top = [
        f"{n}. <@{u.user_id}>: {u.delivered} image{'s' if u.delivered != 1 else ''}, {credits_text(u.credits)}"
        for n, u in enumerate(report.usage.top_users, start=1)
    ]
    embed.add_field(name="Top members", value="\n".join(top) or "Nobody yet.", inline=False)
    total = sum(d.delivered for d in report.usage.days)
    spent = sum(d.credits for d in report.usage.days)
    embed.add_field(name="Totals", value=f"{total} images, {credits_text(spent)}", inline=True)
    embed.add_field(name="Waiting to be sent", value=str(report.usage.in_flight), inline=True)
    if report.spend is not None:
        spend = report.spend
        cap = f"{spend.cap:,} reAPI credits" if spend.cap else "no cap"
        value = f"{spend.spent:,} spent today (UTC) of {cap}"
        if spend.in_flight:
            value += f", {spend.in_flight:,} more waiting"
        embed.add_field(name="reAPI spend", value=value, inline=False)
    return embed
