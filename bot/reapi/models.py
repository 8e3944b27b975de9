"""Typed shapes of reAPI's requests and answers (unknown fields are ignored, unknown statuses mean running)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_serializer

if TYPE_CHECKING:
    from pydantic import SerializerFunctionWrapHandler

__all__ = [
    "IMAGE_TYPES",
    "MAX_IMAGE_URLS",
    "MAX_PROMPT_CHARS",
    "MODEL",
    "AspectRatio",
    "DownloadedImage",
    "GenerationRequest",
    "SubmittedTask",
    "Task",
    "TaskError",
    "TaskOutput",
    "TaskStatus",
    "detect_content_type",
]

MODEL = "nano-banana-2-lite"
"""The reAPI model the bot uses (Gemini 3.1 Flash-Lite Image)."""

MAX_PROMPT_CHARS = 20_000
"""reAPI's prompt length limit in characters."""

MAX_IMAGE_URLS = 10
"""reAPI's limit on reference images per request."""

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
"""Image types reAPI accepts and returns."""


class AspectRatio(StrEnum):
    """The aspect ratios ``nano-banana-2-lite`` accepts, in reAPI's documented order."""

    SQUARE = "1:1"
    TALL_1_4 = "1:4"
    TALL_1_8 = "1:8"
    PORTRAIT_2_3 = "2:3"
    LANDSCAPE_3_2 = "3:2"
    PORTRAIT_3_4 = "3:4"
    WIDE_4_1 = "4:1"
    LANDSCAPE_4_3 = "4:3"
    PORTRAIT_4_5 = "4:5"
    LANDSCAPE_5_4 = "5:4"
    WIDE_8_1 = "8:1"
    PORTRAIT_9_16 = "9:16"
    LANDSCAPE_16_9 = "16:9"
    ULTRAWIDE_21_9 = "21:9"
    AUTO = "auto"

    @property
    def ratio(self) -> tuple[int, int] | None:
        """``(width, height)`` in ratio units, or None for ``auto``."""
        if self is AspectRatio.AUTO:
            return None
        width, height = self.value.split(":")
        return int(width), int(height)


class GenerationRequest(BaseModel):
    """A submit body; ``model_dump()`` gives the JSON reAPI expects (``image_urls`` omitted when empty).

    ``model`` defaults to :data:`MODEL`; a client built with another ``model`` uses its own unless the request
    sets one explicitly.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = MODEL
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    image_urls: list[str] = Field(default_factory=list, max_length=MAX_IMAGE_URLS)
    aspect_ratio: AspectRatio = AspectRatio.AUTO

    @field_validator("image_urls")
    @classmethod
    def _public_http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.lower().startswith(("http://", "https://")):
                raise ValueError("image_urls must be http(s) URLs; data: and other schemes are rejected by reAPI")
        return urls

    @model_serializer(mode="wrap")
    def _omit_empty_urls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.image_urls:
            data.pop("image_urls", None)
        return data

    def to_body(self) -> dict[str, Any]:
        """The JSON body of ``POST /images/generations``."""
        return self.model_dump(mode="json")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    @field_validator("created_at", "model", mode="before", check_fields=False)
    @classmethod
    def _tolerate_loose_fields(cls, value: object, info: ValidationInfo) -> object:
        """Informational fields never make an answer invalid: a null model is "", an odd timestamp is None."""
        if info.field_name == "model":
            return "" if value is None else value
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None


class SubmittedTask(_Answer):
    """reAPI's answer to a submit: only ``id`` is required, so a charged task is never lost to a schema nit."""

    id: str = Field(min_length=1)
    model: str = ""
    status: str = "processing"
    created_at: float | None = None


class TaskStatus(StrEnum):
    """The documented task states; anything else reAPI may add is treated as still running."""

    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class TaskOutput(_Answer):
    """A completed task's result: one URL for this model, on a host that may not keep it long."""

    image_urls: list[str] = Field(default_factory=list)


class TaskError(_Answer):
    """Why a task failed, e.g. code 80006 for the content policy."""

    code: int | None = None
    message: str = ""
    request_id: str | None = None


class Task(_Answer):
    """A polled task (``GET /tasks/{id}``)."""

    id: str
    model: str = ""
    status: str
    created_at: float | None = None
    output: TaskOutput | None = None
    error: TaskError | None = None

    @field_validator("error", mode="before")
    @classmethod
    def _error_from_text(cls, value: object) -> object:
        return {"message": value} if isinstance(value, str) else value

    @property
    def known_status(self) -> TaskStatus | None:
        """The status as a :class:`TaskStatus`, or None when reAPI sent one that is not documented."""
        try:
            return TaskStatus(self.status)
        except ValueError:
            return None

    @property
    def is_completed(self) -> bool:
        """The task finished and ``output`` holds the image URL."""
        return self.status == TaskStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        """The task failed; ``error`` says why and reAPI has refunded it."""
        return self.status == TaskStatus.FAILED

    @property
    def is_done(self) -> bool:
        """Polling can stop (completed or failed); unknown statuses count as still running."""
        return self.is_completed or self.is_failed


def detect_content_type(data: bytes, header: str | None = None) -> str | None:
    """The image type from magic bytes (PNG, JPEG, WebP), else from a Content-Type header naming one; never the URL."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if header:
        declared = header.split(";", 1)[0].strip().lower()
        if declared in IMAGE_TYPES:
            return declared
    return None


@dataclass(frozen=True, slots=True)
class DownloadedImage:
    """Bytes of a downloaded output and their type as detected from the bytes."""

    data: bytes = field(repr=False)
    content_type: str

    def __repr__(self) -> str:
        return f"DownloadedImage(content_type={self.content_type!r}, size={len(self.data)})"
