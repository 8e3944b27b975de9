"""The simulator's output images: PNGs of the requested ratio and size, stamped SIMULATED, cheap even at 4k."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw

__all__ = ["GRADIENT_MAX_SIDE", "ratio_units", "render_png"]

GRADIENT_MAX_SIDE = 512
"""Up to this long side an output is a gradient; beyond it a flat two-colour palette image.

Measured on the 2-core CI box: an RGB gradient costs ~0.1 s at 1024² and ~1.8 s / ~200 MB at 4096²; the palette
image costs 15-100 ms and ~16 MB at 4096² (a few kB of PNG), so a 4-image 4k task stays cheap.
"""


def ratio_units(ratio: str) -> tuple[int, int]:
    """``(width, height)`` in ratio units of ``"W:H"``; ``auto`` (or anything unparsable) is square."""
    width, _, height = ratio.partition(":")
    if width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0:
        return int(width), int(height)
    return 1, 1


def render_png(prompt: str, ratio: str, longest: int) -> bytes:
    """A PNG with exactly the requested aspect ratio, about ``longest`` pixels on its long side.

    The colours derive from ``prompt`` (so different requests give different bytes); the image is stamped, so
    nobody mistakes a simulated result for a real one.
    """
    width_units, height_units = ratio_units(ratio)
    scale = max(1, longest // max(width_units, height_units))
    size = (width_units * scale, height_units * scale)
    digest = hashlib.sha256(prompt.encode()).digest()
    start, end = (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5])
    if max(size) <= GRADIENT_MAX_SIDE:
        mask = Image.linear_gradient("L").resize(size)
        image = Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), mask)
        white: int | tuple[int, int, int] = (255, 255, 255)
        black: int | tuple[int, int, int] = (0, 0, 0)
    else:
        image = Image.new("P", size, 0)
        image.putpalette([*start, 255, 255, 255, 0, 0, 0])
        white, black = 1, 2
    draw = ImageDraw.Draw(image)
    draw.text((6, 4), "SIMULATED", fill=white, stroke_width=2, stroke_fill=black)
    draw.text((6, 18), prompt[:40], fill=white, stroke_width=2, stroke_fill=black)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
