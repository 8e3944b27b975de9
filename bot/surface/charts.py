"""PNG charts and contact sheets drawn with Pillow: pure functions of plain numbers, run in a worker thread.

Callers use the ``render_*`` coroutines, which draw in ``asyncio.to_thread`` so a chart never blocks the event
loop; the ``*_png`` functions are the pure drawing, tested on their own.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from bot.surface import texts_members

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CHART_SIZE",
    "MAX_SHEET_TILES",
    "UsageChart",
    "contact_sheet_png",
    "render_contact_sheet",
    "render_usage_chart",
    "usage_chart_png",
]

CHART_SIZE = (800, 480)
TILE = 160
MAX_SHEET_TILES = 10
# A thumbnail source larger than this many pixels is not decoded (a decompression bomb becomes a grey tile).
_MAX_SOURCE_PIXELS = 40_000_000
_BACKGROUND = (32, 34, 37)
_TEXT = (230, 230, 230)
_MUTED = (150, 150, 150)
_GOOD = (87, 242, 135)
_BAD = (237, 66, 69)
_ACCENT = (245, 197, 24)
_GREY_TILE = (90, 90, 90)


@dataclass(frozen=True, slots=True)
class UsageChart:
    """What a usage chart shows: per-day bars, optional top members and an optional meter (spend or balance)."""

    title: str
    days: Sequence[tuple[str, int, int]]  # (label, delivered, failed), oldest first
    top: Sequence[tuple[str, int]] = ()  # (name, images), largest first
    meter: tuple[str, int, int] | None = None  # (label, value, cap); cap 0 = no cap


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def usage_chart_png(chart: UsageChart) -> bytes:
    """Draw ``chart``: stacked bars per day (delivered, failed), a top-members list and a meter bar."""
    image = Image.new("RGB", CHART_SIZE, _BACKGROUND)
    draw = ImageDraw.Draw(image)
    title, small = _font(20), _font(13)
    draw.text((20, 12), chart.title, fill=_TEXT, font=title)
    right = 540 if chart.top else CHART_SIZE[0] - 20
    top, bottom = 60, 360 if chart.meter else 440
    _day_bars(draw, chart.days, (40, top, right, bottom), small)
    if chart.top:
        draw.text((560, top - 10), texts_members.CHART_TOP_MEMBERS, fill=_TEXT, font=_font(15))
        most = max((n for _, n in chart.top), default=0) or 1
        for row, (name, count) in enumerate(chart.top[:5]):
            y = top + 20 + row * 48
            draw.text((560, y), name, fill=_MUTED, font=small)
            draw.rectangle((560, y + 18, 560 + int(200 * count / most), y + 34), fill=_ACCENT)
            draw.text((566 + int(200 * count / most), y + 19), str(count), fill=_TEXT, font=small)
    if chart.meter is not None:
        label, value, cap = chart.meter
        draw.text((40, 385), label, fill=_TEXT, font=_font(15))
        draw.rectangle((40, 410, 760, 440), outline=_MUTED)
        share = min(1.0, value / cap) if cap > 0 else 0.0
        colour = _BAD if share >= 1.0 else (_ACCENT if share >= 0.8 else _GOOD)
        if share > 0:
            draw.rectangle((41, 411, 41 + int(718 * share), 439), fill=colour)
    return _png(image)


def _day_bars(
    draw: ImageDraw.ImageDraw,
    days: Sequence[tuple[str, int, int]],
    box: tuple[int, int, int, int],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    left, top, right, bottom = box
    draw.line((left, bottom, right, bottom), fill=_MUTED)
    if not days:
        return
    most = max((d + f for _, d, f in days), default=0) or 1
    slot = (right - left) / len(days)
    width = max(2, int(slot * 0.7))
    for index, (label, delivered, failed) in enumerate(days):
        x = int(left + index * slot + (slot - width) / 2)
        height = bottom - top - 30
        good = int(height * delivered / most)
        bad = int(height * failed / most)
        if good:
            draw.rectangle((x, bottom - good, x + width, bottom), fill=_GOOD)
        if bad:
            draw.rectangle((x, bottom - good - bad, x + width, bottom - good), fill=_BAD)
        if delivered + failed:
            draw.text((x, bottom - good - bad - 16), str(delivered + failed), fill=_TEXT, font=font)
        # Labels only where they fit: every day up to 10, then every few.
        if len(days) <= 10 or index % max(1, len(days) // 8) == 0 or index == len(days) - 1:
            draw.text((x, bottom + 4), label, fill=_MUTED, font=font)


def contact_sheet_png(images: Sequence[bytes | None], *, columns: int = 5, tile: int = TILE) -> bytes:
    """Thumbnails side by side (at most :data:`MAX_SHEET_TILES`); a missing or unreadable image is a grey tile."""
    shown = list(images[:MAX_SHEET_TILES]) or [None]
    columns = max(1, min(columns, len(shown)))
    rows = -(-len(shown) // columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile), _BACKGROUND)
    for index, data in enumerate(shown):
        x, y = (index % columns) * tile, (index // columns) * tile
        thumb = _thumbnail(data, tile - 8)
        if thumb is None:
            thumb = Image.new("RGB", (tile - 8, tile - 8), _GREY_TILE)
        sheet.paste(thumb, (x + (tile - thumb.width) // 2, y + (tile - thumb.height) // 2))
        ImageDraw.Draw(sheet).text((x + 6, y + 4), str(index + 1), fill=_TEXT, font=_font(14))
    return _png(sheet)


def _thumbnail(data: bytes | None, size: int) -> Image.Image | None:
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as source:
            if source.width * source.height > _MAX_SOURCE_PIXELS:
                return None
            source.draft("RGB", (size, size))  # JPEG: decode at a fraction of the size
            thumb = source.convert("RGB")
            thumb.thumbnail((size, size))
            return thumb
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


async def render_usage_chart(chart: UsageChart) -> bytes:
    """:func:`usage_chart_png` in a worker thread."""
    return await asyncio.to_thread(usage_chart_png, chart)


async def render_contact_sheet(images: Sequence[bytes | None]) -> bytes:
    """:func:`contact_sheet_png` in a worker thread."""
    return await asyncio.to_thread(contact_sheet_png, images)
