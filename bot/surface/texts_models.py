"""The wording of model choices: refusals per ``ProblemKind``, the per-image buttons and the result footer.

Split from ``bot.surface.texts`` only for size: the same rule holds, every sentence lives in a texts module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.reapi.specs import MODELS, ProblemKind
from bot.surface.i18n import _, translate_module

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
    return _(IMAGE_BUTTON_LABELS[action]).format(n=n)


def resolution_not_listed(allowed: str) -> str:
    """A resolution typed around the choices (Discord does not enforce them)."""
    return _("Choose a resolution from the list: {allowed}.").format(allowed=allowed)


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
        parts.append(_("{count} images").format(count=count))
    return " ".join(parts)


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def model_unavailable(refusal: ModelUnavailable) -> str:
    """The answer to a model the operator did not enable."""
    return _("The model `{model}` is not available here. Choose one of: {allowed}. Nothing was charged.").format(
        model=refusal.model, allowed=_listed(refusal.allowed)
    )


def model_refused(refusal: ModelRefused) -> str:
    """The answer to options the chosen model does not take, one sentence per ``ProblemKind``."""
    p = refusal.problem
    name = model_name(p.model)
    kind = p.kind
    if kind is ProblemKind.PROMPT_LENGTH:
        text = _("{name} takes prompts of up to {maximum:,} characters; yours has {given:,}.").format(
            name=name, maximum=p.maximum, given=p.given
        )
    elif kind is ProblemKind.RATIO:
        text = _("{name} cannot make the aspect ratio `{given}`. Choose one of: {allowed}.").format(
            name=name, given=p.given, allowed=_listed(p.allowed)
        )
    elif kind is ProblemKind.RESOLUTION:
        text = _("{name} cannot make the resolution `{given}`. Choose one of: {allowed}.").format(
            name=name, given=p.given, allowed=_listed(p.allowed)
        )
    elif kind is ProblemKind.RESOLUTION_RATIO:
        text = _("At {resolution}, {name} only makes these aspect ratios: {allowed}.").format(
            resolution=p.resolution, name=name, allowed=_listed(p.allowed)
        )
    elif kind is ProblemKind.COUNT and p.maximum == 1:
        text = _("{name} makes one image at a time.").format(name=name)
    elif kind is ProblemKind.COUNT:
        text = _("{name} makes between {minimum} and {maximum} images at a time.").format(
            name=name, minimum=p.minimum, maximum=p.maximum
        )
    elif p.maximum == 0:
        text = _("{name} only makes images from text: it cannot edit or use reference images.").format(name=name)
    else:
        text = _("{name} takes up to {maximum} images; you gave {given}.").format(
            name=name, maximum=p.maximum, given=p.given
        )
    return _("{text} Nothing was charged.").format(text=text)


translate_module(__name__)
