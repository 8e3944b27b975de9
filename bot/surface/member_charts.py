"""The pictures behind /admin usage, /credits and /history: chart data from the store, drawn off the event loop.

Every function returns a ``discord.File`` or None; a picture that cannot be made never fails the command (the
embed carries the same facts in words).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from bot.store import JobState
from bot.surface import texts_members
from bot.surface.charts import MAX_SHEET_TILES, UsageChart, render_contact_sheet, render_usage_chart

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.engine.accounts import HistoryPage, Statement, UsageReport
    from bot.engine.members import Preferences
    from bot.engine.sources import SourceFetcher
    from bot.store import HistoryEntry

__all__ = ["CHART_FILENAME", "SHEET_FILENAME", "contact_sheet_file", "credits_chart_file", "usage_chart_file"]

log = logging.getLogger(__name__)

CHART_FILENAME = "chart.png"
SHEET_FILENAME = "contact-sheet.png"
_CREDITS_DAYS = 14
# A thumbnail's source: at most this large (Discord's own upload cap for most servers), fetched within this long.
_MAX_THUMB_SOURCE = 10 * 1024 * 1024
_FETCH_TIMEOUT = 10.0


def _day_label(day_start: float) -> str:
    return datetime.fromtimestamp(day_start, UTC).strftime("%m-%d")


def _file(data: bytes, filename: str) -> discord.File:
    return discord.File(io.BytesIO(data), filename=filename)


async def usage_chart_file(report: UsageReport, names: Sequence[tuple[int, str]]) -> discord.File | None:
    """/admin usage: images per day, the top members and (bot-wide) today's reAPI spend against the cap."""
    days = [(_day_label(d.day_start), d.delivered, d.failed) for d in report.usage.days]
    top = [(texts_members.chart_member(u.user_id, names), u.delivered) for u in report.usage.top_users]
    meter = None
    if report.spend is not None:
        spend = report.spend
        meter = (
            f"{texts_members.CHART_SPEND}: {texts_members.chart_spend(spend.spent, spend.cap)}",
            spend.spent,
            spend.cap,
        )
    chart = UsageChart(title=texts_members.CHART_IMAGES_PER_DAY, days=days, top=top, meter=meter)
    return await _render(chart)


async def credits_chart_file(statement: Statement, preferences: Preferences) -> discord.File | None:
    """/credits: the member's images per day over two weeks and their balance against the refill cap."""
    try:
        per_day = await preferences.images_per_day(statement.user_id, _CREDITS_DAYS)
    except Exception:
        log.exception("could not read images per day for user %s", statement.user_id)
        return None
    meter = None
    rules, balance = statement.terms.rules, statement.balance
    if rules is not None and balance is not None and rules.max_balance > 0:
        label = f"{texts_members.CHART_BALANCE}: {texts_members.chart_balance(balance.balance, rules.max_balance)}"
        meter = (label, balance.balance, rules.max_balance)
    days = [(_day_label(start), count, 0) for start, count in per_day]
    return await _render(UsageChart(title=texts_members.CHART_YOUR_IMAGES, days=days, meter=meter))


async def _render(chart: UsageChart) -> discord.File | None:
    try:
        return _file(await render_usage_chart(chart), CHART_FILENAME)
    except Exception:  # a chart is a bonus: the embed already says it in words
        log.exception("could not draw a chart")
        return None


async def contact_sheet_file(client: discord.Client, fetcher: SourceFetcher, page: HistoryPage) -> discord.File | None:
    """/history: the page's results as thumbnails, fetched from their Discord messages (grey when unavailable)."""
    entries = list(page.entries[:MAX_SHEET_TILES])
    if not entries:
        return None
    images = await asyncio.gather(*(_result_image(client, fetcher, e) for e in entries))
    try:
        return _file(await render_contact_sheet(images), SHEET_FILENAME)
    except Exception:
        log.exception("could not draw a contact sheet")
        return None


async def _result_image(client: discord.Client, fetcher: SourceFetcher, entry: HistoryEntry) -> bytes | None:
    """The image in a delivered job's result message, or None (failed job, deleted message, no access …)."""
    if entry.state is not JobState.DELIVERED or entry.result_message_id is None or entry.result_ephemeral:
        return None  # an ephemeral result cannot be fetched by anyone, the bot included
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_FETCH_TIMEOUT):
            channel = client.get_partial_messageable(entry.result_channel_id or entry.channel_id)
            message = await channel.fetch_message(entry.result_message_id)
            attachment = next((a for a in message.attachments if a.size <= _MAX_THUMB_SOURCE), None)
            if attachment is None:
                return None
            # The bot's guarded fetcher: a fresh signed CDN URL, size-capped, no private addresses.
            return await fetcher.fetch(attachment.url, label=attachment.filename)
    return None
