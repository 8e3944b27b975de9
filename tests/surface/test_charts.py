"""The Pillow charts and contact sheets: real PNGs of the expected size, bad inputs as grey tiles."""

from __future__ import annotations

import io

from PIL import Image

from bot.surface.charts import (
    CHART_SIZE,
    MAX_SHEET_TILES,
    TILE,
    UsageChart,
    contact_sheet_png,
    render_contact_sheet,
    render_usage_chart,
    usage_chart_png,
)


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


async def test_usage_chart_is_a_png_with_bars_in_the_days_colours() -> None:
    chart = UsageChart(
        title="Images per day",
        days=[("05-01", 3, 1), ("05-02", 0, 0), ("05-03", 7, 0)],
        top=[("ann", 6), ("bob", 4)],
        meter=("spend", 90, 100),
    )
    image = _open(await render_usage_chart(chart))
    assert image.format == "PNG"
    assert image.size == CHART_SIZE
    assert image.mode == "RGB"
    colours = {c for _, c in image.getcolors(maxcolors=100_000) or []}
    assert (87, 242, 135) in colours  # delivered bars
    assert (237, 66, 69) in colours  # the failed one
    assert (245, 197, 24) in colours  # top members and the 90 % meter


def test_an_empty_usage_chart_still_draws() -> None:
    empty = _open(usage_chart_png(UsageChart(title="nothing yet", days=[])))
    assert empty.size == CHART_SIZE


async def test_contact_sheet_tiles_each_image_and_greys_out_missing_or_broken_ones() -> None:
    red, blue = _png((200, 0, 0)), _png((0, 0, 200), (30, 90))
    sheet = _open(await render_contact_sheet([red, None, b"not an image", blue]))
    assert sheet.format == "PNG"
    assert sheet.size == (4 * TILE, TILE)
    middle = TILE // 2
    assert sheet.getpixel((middle, middle)) == (200, 0, 0)
    assert sheet.getpixel((TILE + middle, middle)) == (90, 90, 90)
    assert sheet.getpixel((2 * TILE + middle, middle)) == (90, 90, 90)
    assert sheet.getpixel((3 * TILE + middle, middle)) == (0, 0, 200)


def test_contact_sheet_is_bounded_in_count() -> None:
    sheet = _open(contact_sheet_png([_png((1, 2, 3))] * 30, columns=5))
    assert sheet.size == (5 * TILE, (MAX_SHEET_TILES // 5) * TILE)
