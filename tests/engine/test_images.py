"""Recognising image types and fitting results into Discord's upload limit."""

from __future__ import annotations

import io
import random

from PIL import Image

from bot.engine.images import fit_to_limit, sniff_type


def noisy_png(width: int, height: int) -> bytes:
    rng = random.Random(7)
    image = Image.frombytes("RGB", (width, height), bytes(rng.getrandbits(8) for _ in range(width * height * 3)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_sniff_recognises_png_jpeg_webp_and_rejects_others() -> None:
    png = noisy_png(4, 4)
    assert sniff_type(png) == "image/png"
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    assert sniff_type(jpeg.getvalue()) == "image/jpeg"
    webp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(webp, format="WEBP")
    assert sniff_type(webp.getvalue()) == "image/webp"
    assert sniff_type(b"GIF89a....") is None
    assert sniff_type(b"<html>") is None


def test_image_that_fits_is_untouched() -> None:
    png = noisy_png(32, 32)
    prepared = fit_to_limit(png, "image/png", len(png))
    assert prepared.data == png
    assert prepared.filename("x") == "x.png"


def test_too_large_image_is_reencoded_below_the_limit_not_dropped() -> None:
    png = noisy_png(256, 256)
    limit = len(png) // 4
    prepared = fit_to_limit(png, "image/png", limit)
    assert len(prepared.data) <= limit
    assert prepared.content_type == "image/webp"
    assert prepared.filename("x") == "x.webp"
    with Image.open(io.BytesIO(prepared.data)) as image:
        assert image.width > 0
        assert image.width / image.height == 1.0
