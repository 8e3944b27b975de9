"""Typed shapes of reAPI's requests and answers (unknown fields are ignored, unknown statuses mean running)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from bot.reapi.specs import DEFAULT_MODEL, MODELS, ImageOptions, ModelSpec

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
    "spec_for_request",
]

MODEL = DEFAULT_MODEL
"""The reAPI model the bot uses unless told otherwise (Gemini 3.1 Flash-Lite Image)."""

MAX_PROMPT_CHARS = MODELS[MODEL].max_prompt_chars
"""The default model's prompt length limit in characters (each model's is in its spec)."""

MAX_IMAGE_URLS = MODELS[MODEL].max_references
"""The default model's limit on reference images per request (each model's is in its spec)."""

_LONGEST_PROMPT = max(spec.max_prompt_chars for spec in MODELS.values())

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
    """A submit: model, prompt, reference URLs and options, checked against the model's :class:`ModelSpec`.

    ``to_body()`` gives the JSON reAPI expects for the model (built by its spec). ``model`` defaults to
    :data:`MODEL`; a client built with another ``model`` uses its own unless the request sets one explicitly.
    ``aspect_ratio=`` is a shorthand for ``options=ImageOptions(ratio=...)`` (the nano-banana-2-lite form callers
    already use); read :attr:`ratio` for the ratio actually sent.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = MODEL
    prompt: str = Field(min_length=1, max_length=_LONGEST_PROMPT)
    image_urls: list[str] = Field(default_factory=list)
    options: ImageOptions = Field(default_factory=ImageOptions)
    aspect_ratio: str | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _aspect_ratio_is_the_ratio_option(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("aspect_ratio") is not None:
            data = dict(data)
            ratio = data["aspect_ratio"]
            if "options" in data:
                raise ValueError("give the ratio either as aspect_ratio or in options, not both")
            if not isinstance(ratio, str):
                raise ValueError("aspect_ratio must be a string")
            data["options"] = ImageOptions(ratio=ratio)
        return data

    @field_validator("image_urls")
    @classmethod
    def _public_http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.lower().startswith(("http://", "https://")):
                raise ValueError("image_urls must be http(s) URLs; data: and other schemes are rejected by reAPI")
        return urls

    @model_validator(mode="after")
    def _fits_the_model(self) -> GenerationRequest:
        problem = spec_for_request(self.model).validate(len(self.prompt), self.options, len(self.image_urls))
        if problem is not None:
            raise ValueError(f"{self.model} refuses the request: {problem!r}")
        return self

    @property
    def spec(self) -> ModelSpec:
        """The spec the body is built from (the default model's for an id no spec describes)."""
        return spec_for_request(self.model)

    @property
    def ratio(self) -> str:
        """The ratio sent, with the model's default filled in."""
        return self.spec.resolved(self.options)[0]

    def to_body(self) -> dict[str, Any]:
        """The JSON body of ``POST /images/generations``."""
        body = self.spec.body(self.prompt, self.options, self.image_urls)
        body["model"] = self.model
        return body


def spec_for_request(model: str) -> ModelSpec:
    """The spec of ``model``; an id no spec describes (a configured one) gets the default model's wire shape.

    reAPI is then the judge: it answers 400 for a model it does not know or a body that does not fit it.
    """
    return MODELS.get(model) or MODELS[MODEL]


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
    """A completed task's result: one URL per image (several when ``n`` > 1), on a host that may not keep them long."""

    image_urls: list[str] = Field(default_factory=list)

    @field_validator("image_urls", mode="before")
    @classmethod
    def _one_url_is_a_list(cls, value: object) -> object:
        """A lone URL string counts as a list of one rather than failing the whole task."""
        return [value] if isinstance(value, str) else value


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
