"""Models: request bodies, tolerant parsing of answers, task states and image type detection."""

from __future__ import annotations

import pydantic
import pytest

from bot.reapi import (
    MAX_IMAGE_URLS,
    MAX_PROMPT_CHARS,
    MODEL,
    AspectRatio,
    DownloadedImage,
    GenerationRequest,
    ImageOptions,
    SubmittedTask,
    Task,
    TaskStatus,
    detect_content_type,
)


def test_aspect_ratios_are_the_documented_fifteen_in_order() -> None:
    assert [r.value for r in AspectRatio] == [
        "1:1",
        "1:4",
        "1:8",
        "2:3",
        "3:2",
        "3:4",
        "4:1",
        "4:3",
        "4:5",
        "5:4",
        "8:1",
        "9:16",
        "16:9",
        "21:9",
        "auto",
    ]
    assert AspectRatio.LANDSCAPE_16_9.ratio == (16, 9)
    assert AspectRatio.AUTO.ratio is None


def test_text_to_image_body_omits_image_urls() -> None:
    assert GenerationRequest(prompt="a fox").to_body() == {"model": MODEL, "prompt": "a fox", "aspect_ratio": "auto"}


def test_edit_body_carries_urls_and_ratio() -> None:
    request = GenerationRequest(prompt="p", image_urls=["https://a/b.png"], aspect_ratio=AspectRatio.PORTRAIT_9_16)
    assert request.to_body() == {
        "model": MODEL,
        "prompt": "p",
        "image_urls": ["https://a/b.png"],
        "aspect_ratio": "9:16",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prompt": ""},
        {"prompt": "x" * (MAX_PROMPT_CHARS + 1)},
        {"prompt": "p", "image_urls": ["https://a/b.png"] * (MAX_IMAGE_URLS + 1)},
        {"prompt": "p", "image_urls": ["data:image/png;base64,AAAA"]},
        {"prompt": "p", "aspect_ratio": "7:3"},
        {"prompt": "p", "n": 2},
    ],
)
def test_requests_reapi_would_reject_are_refused_locally(kwargs: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        GenerationRequest.model_validate(kwargs)


def test_answers_ignore_unknown_fields_and_only_need_an_id() -> None:
    submitted = SubmittedTask.model_validate({"id": "task_1", "surprise": True})
    assert submitted.id == "task_1"
    task = Task.model_validate({"id": "t", "status": "completed", "output": {"image_urls": ["u"], "x": 1}, "y": 2})
    assert task.output is not None
    assert task.output.image_urls == ["u"]


@pytest.mark.parametrize(
    ("status", "done", "completed", "failed"),
    [
        ("processing", False, False, False),
        ("completed", True, True, False),
        ("failed", True, False, True),
        ("queued", False, False, False),
    ],
)
def test_task_state_properties(status: str, done: bool, completed: bool, failed: bool) -> None:
    task = Task(id="t", status=status)
    assert (task.is_done, task.is_completed, task.is_failed) == (done, completed, failed)
    assert task.known_status == (None if status == "queued" else TaskStatus(status))


def test_failed_task_error_may_be_plain_text() -> None:
    task = Task.model_validate({"id": "t", "status": "failed", "output": None, "error": "boom"})
    assert task.error is not None
    assert task.error.message == "boom"


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 8
WEBP = b"RIFF\0\0\0\0WEBPVP8 "


@pytest.mark.parametrize(
    ("data", "header", "expected"),
    [
        (PNG, "image/jpeg", "image/png"),  # bytes win over the header
        (JPEG, None, "image/jpeg"),
        (WEBP, "application/octet-stream", "image/webp"),
        (b"????", "image/webp; charset=binary", "image/webp"),  # fallback to the header
        (b"<html>", "text/html", None),
        (b"GIF89a", "image/gif", None),
        (b"", None, None),
    ],
)
def test_content_type_comes_from_magic_bytes_then_header(data: bytes, header: str | None, expected: str | None) -> None:
    assert detect_content_type(data, header) == expected


def test_downloaded_image_repr_does_not_dump_bytes() -> None:
    assert repr(DownloadedImage(b"x" * 1000, "image/png")) == "DownloadedImage(content_type='image/png', size=1000)"


@pytest.mark.parametrize(
    ("extra", "created_at"),
    [
        ({"created_at": 1767225600}, 1767225600.0),
        ({"created_at": "2026-01-01T00:00:00Z"}, 1767225600.0),
        ({"created_at": "yesterday", "model": None}, None),
        ({}, None),
    ],
)
def test_submit_answer_with_odd_informational_fields_keeps_its_id(
    extra: dict[str, object], created_at: float | None
) -> None:
    submitted = SubmittedTask.model_validate({"id": "task_1", **extra})
    assert (submitted.id, submitted.created_at) == ("task_1", created_at)


def test_request_for_another_model_serialises_through_its_spec() -> None:
    request = GenerationRequest(
        model="gemini-3.1-flash-image-preview",
        prompt="p",
        image_urls=["https://a/b.png"],
        options=ImageOptions(ratio="16:9", resolution="2K", count=4),
    )
    assert request.to_body() == {
        "model": "gemini-3.1-flash-image-preview",
        "prompt": "p",
        "image_urls": ["https://a/b.png"],
        "size": "16:9",
        "resolution": "2k",
        "n": 4,
    }
    assert request.ratio == "16:9"


def test_aspect_ratio_keyword_is_the_ratio_option() -> None:
    request = GenerationRequest(prompt="p", aspect_ratio=AspectRatio.LANDSCAPE_16_9)
    assert request.options == ImageOptions(ratio="16:9")
    assert GenerationRequest(prompt="p").ratio == "auto"
    with pytest.raises(pydantic.ValidationError):
        GenerationRequest.model_validate({"prompt": "p", "aspect_ratio": "1:1", "options": {"ratio": "1:1"}})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "gemini-3.1-flash-image-preview", "prompt": "x" * 4_001},
        {"model": "gemini-3.1-flash-image-preview", "prompt": "p", "options": {"count": 5}},
        {"model": "gemini-3.1-flash-image-preview", "prompt": "p", "options": {"ratio": "auto"}},
        {"model": "gemini-3-pro-image-preview", "prompt": "p", "options": {"resolution": "0.5k"}},
        {"model": "gpt-image-2", "prompt": "p", "options": {"ratio": "1:1", "resolution": "4k"}},
        {"model": "gpt-image-2", "prompt": "p", "image_urls": ["https://a/b.png"] * 17},
        {"model": "z-image", "prompt": "p", "image_urls": ["https://a/b.png"]},
        {"model": "z-image", "prompt": "x" * 1_001},
        {"model": "nano-banana-2-lite", "prompt": "p", "options": {"resolution": "2k"}},
        {"prompt": "p", "options": {"count": "two"}},
    ],
)
def test_requests_a_model_would_reject_are_refused_locally(kwargs: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        GenerationRequest.model_validate(kwargs)


def test_several_output_urls_are_a_list_and_a_lone_url_is_a_list_of_one() -> None:
    urls = [f"https://out.example/{i}.png" for i in range(4)]
    task = Task.model_validate({"id": "t", "status": "completed", "output": {"image_urls": urls}})
    assert task.output is not None
    assert task.output.image_urls == urls
    lone = Task.model_validate({"id": "t", "status": "completed", "output": {"image_urls": urls[0]}})
    assert lone.output is not None
    assert lone.output.image_urls == urls[:1]
