"""The wording of model choices: refusals per ``ProblemKind``, the per-image buttons and the result footer.

Split from ``bot.surface.texts`` only for size: the same rule holds, every sentence lives in a texts module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.reapi.specs import MODELS, ProblemKind

if TYPE_CHECKING:
    from bot.engine.errors import ModelRefused, ModelUnavailable

__all__ = [
    "IMAGE_BUTTON_LABELS",
    "image_button_label",
    "model_name",
    "model_refused",
    "model_unavailable",
    "resolution_not_listed",
    "result_model",
]

IMAGE_BUTTON_LABELS = {"edit": "Edit {n}", "ref": "Use {n}"}
"""Under a result with several images, each image's own buttons (``{n}``: its place, from 1)."""


def image_button_label(action: str, n: int) -> str:
    """The label of image ``n``'s button for ``action`` ("edit" or "ref")."""
    return IMAGE_BUTTON_LABELS[action].format(n=n)


def resolution_not_listed(allowed: str) -> str:
    """A resolution typed around the choices (Discord does not enforce them)."""
    return f"Choose a resolution from the list: {allowed}."


def model_name(model: str) -> str:
    """The name members know a model by, with its id (``Nano Banana 2 (gemini-3.1-flash-image-preview)``)."""
    spec = MODELS.get(model)
    return f"{spec.name} (`{model}`)" if spec is not None else f"`{model}`"


def result_model(model: str, resolution: str | None, count: int) -> str:
    """The footer part naming the model and, when not the plain default, the resolution and image count."""
    spec = MODELS.get(model)
    parts = [spec.name if spec is not None else model]
    if resolution is not None:
        parts.append(resolution.upper())
    if count > 1:
        parts.append(f"{count} images")
    return " ".join(parts)


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def model_unavailable(refusal: ModelUnavailable) -> str:
    """The answer to a model the operator did not enable."""
    return (
        f"The model `{refusal.model}` is not available here. Choose one of: {_listed(refusal.allowed)}. "
        "Nothing was charged."
    )


def model_refused(refusal: ModelRefused) -> str:
    """The answer to options the chosen model does not take, one sentence per ``ProblemKind``."""
    p = refusal.problem
    name = model_name(p.model)
    kind = p.kind
    if kind is ProblemKind.PROMPT_LENGTH:
        text = f"{name} takes prompts of up to {p.maximum:,} characters; yours has {p.given:,}."
    elif kind is ProblemKind.RATIO:
        text = f"{name} cannot make the aspect ratio `{p.given}`. Choose one of: {_listed(p.allowed)}."
    elif kind is ProblemKind.RESOLUTION:
        text = f"{name} cannot make the resolution `{p.given}`. Choose one of: {_listed(p.allowed)}."
    elif kind is ProblemKind.RESOLUTION_RATIO:
        text = f"At {p.resolution}, {name} only makes these aspect ratios: {_listed(p.allowed)}."
    elif kind is ProblemKind.COUNT and p.maximum == 1:
        text = f"{name} makes one image at a time."
    elif kind is ProblemKind.COUNT:
        text = f"{name} makes between {p.minimum} and {p.maximum} images at a time."
    elif p.maximum == 0:
        text = f"{name} only makes images from text: it cannot edit or use reference images."
    else:
        text = f"{name} takes up to {p.maximum} images; you gave {p.given}."
    return f"{text} Nothing was charged."
