"""Image bytes: recognising the format and re-encoding a result so it fits Discord's upload limit."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from bot.reapi import detect_content_type

__all__ = ["EXTENSIONS", "MAX_IMAGE_PIXELS", "ImageTooLarge", "PreparedImage", "fit_to_limit", "sniff_type"]

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}

# Set on purpose rather than left to Pillow's default (~89 MP, a warning only): reAPI's largest outputs are 4K
# (4096 x 4096, ~17 MP); anything far beyond that is a decompression bomb, and Pillow refuses to decode it.
MAX_IMAGE_PIXELS = 8192 * 8192
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


class ImageTooLarge(Exception):
    """Even the smallest re-encoding does not fit the upload limit."""


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """Bytes ready to upload, with their type and a filename that matches it."""

    data: bytes
    content_type: str

    def filename(self, stem: str) -> str:
        """``stem`` with the extension of the actual format."""
        return f"{stem}.{EXTENSIONS.get(self.content_type, 'png')}"


def sniff_type(data: bytes) -> str | None:
    """The image type from magic bytes (PNG, JPEG, WebP), or None; never trust names or URLs."""
    # One reading of the magic bytes for the whole bot: the reAPI adapter's.
    return detect_content_type(data)


def fit_to_limit(data: bytes, content_type: str, limit: int) -> PreparedImage:
    """Return the image unchanged when it fits, else re-encoded as WebP at falling quality and size.

    CPU-bound (seconds for a 4K image): call it in a worker thread, never on the event loop.

    The image is never dropped for being too large: the member paid for it.

    Raises
    ------
    ImageTooLarge
        Not even a strongly shrunk version fits (only with absurdly small limits).
    """
    if len(data) <= limit:
        return PreparedImage(data, content_type)
    try:
        with Image.open(io.BytesIO(data)) as original:
            image = original.convert("RGB")
    except (Image.DecompressionBombError, OSError) as exc:  # a bomb, or bytes Pillow cannot decode
        raise ImageTooLarge(f"cannot re-encode the image: {exc}") from exc
    for scale in (1.0, 0.75, 0.5, 0.35, 0.25):
        if scale < 1.0:
            size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
            candidate = image.resize(size, Image.Resampling.LANCZOS)
        else:
            candidate = image
        for quality in (90, 80, 65, 50):
            out = io.BytesIO()
            candidate.save(out, format="WEBP", quality=quality, method=4)
            if out.tell() <= limit:
                return PreparedImage(out.getvalue(), "image/webp")
    raise ImageTooLarge(f"cannot fit the image into {limit} bytes")
