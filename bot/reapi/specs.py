"""One spec per reAPI image model: its wire fields, allowed options, limits and prices (reapi.md "Other models").

A :class:`ModelSpec` is the single description of a model: the request body is built from it, options are
checked against it (problems come back as data, never prose) and a request's cost is computed from it. The
simulator validates submits with the same specs, so the bot and its stand-in cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "CREDITS_PER_USD",
    "DEFAULT_MODEL",
    "DEFAULT_PRICES_USD",
    "MODELS",
    "RESOLUTION_PIXELS",
    "ImageOptions",
    "ModelSpec",
    "OptionProblem",
    "ProblemKind",
    "RatioField",
    "UnknownModel",
    "spec_for",
]

DEFAULT_MODEL = "nano-banana-2-lite"
"""The model used when a server has not chosen one."""

CREDITS_PER_USD = 1000
"""reAPI bills in credits: $1 = 1,000 credits."""

RESOLUTION_PIXELS: Mapping[str, int] = MappingProxyType({"0.5k": 512, "1k": 1024, "2k": 2048, "4k": 4096})
"""Roughly the long side in pixels of an image at each resolution (what the simulator renders)."""


class RatioField(StrEnum):
    """The body field a model reads the aspect ratio from."""

    ASPECT_RATIO = "aspect_ratio"
    SIZE = "size"


class UnknownModel(KeyError):
    """A model id no spec describes."""

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(model)


class ProblemKind(StrEnum):
    """Why a model refuses a request; the surface turns each kind into its own sentence."""

    PROMPT_LENGTH = "prompt_length"  # given = length; minimum/maximum = the model's bounds
    RATIO = "ratio"  # given = ratio; allowed = the model's ratios
    RESOLUTION = "resolution"  # given = resolution; allowed = the model's resolutions
    RESOLUTION_RATIO = "resolution_ratio"  # given = ratio; resolution = the one that needs another; allowed = ratios
    COUNT = "count"  # given = n; minimum/maximum = the model's range
    REFERENCES = "references"  # given = how many; maximum = the model's limit (0 = text to image only)


@dataclass(frozen=True, slots=True)
class OptionProblem:
    """The first thing a model would refuse in a request, as fields (no prose)."""

    kind: ProblemKind
    model: str
    given: str | int
    allowed: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    resolution: str | None = None


@dataclass(frozen=True, slots=True)
class ImageOptions:
    """What a member chose: ratio, resolution and image count; None means the model's default.

    Values are normalised on creation (stripped; resolution and ``auto`` lowercased, the schema's form), so
    ``"2K"`` and ``"2k"`` are the same option.
    """

    ratio: str | None = None
    resolution: str | None = None
    count: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int):
            raise TypeError("count must be an int")
        for name in ("ratio", "resolution"):
            if not isinstance(getattr(self, name), str | None):
                raise TypeError(f"{name} must be a string or None")
        if self.ratio is not None:
            object.__setattr__(self, "ratio", self.ratio.strip().lower())
        if self.resolution is not None:
            object.__setattr__(self, "resolution", self.resolution.strip().lower())


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """How one reAPI model is called: fields, allowed values, limits and price per image by resolution.

    Parameters
    ----------
    id
        The reAPI model id sent as ``model``.
    name
        The name shown to members.
    max_prompt_chars
        The prompt length limit (the minimum is always 1).
    ratio_field, ratios, default_ratio
        The field carrying the aspect ratio, its allowed values and the value sent when none is chosen.
    resolutions, default_resolution
        The allowed resolutions (schema form, lowercase); only sent when ``sends_resolution``.
    sends_resolution
        Whether the body carries ``resolution`` (models with a single fixed size do not take it).
    max_count
        Images per task; ``n`` is sent only when this is above 1.
    max_references
        Reference images (``image_urls``) allowed; 0 = text to image only.
    ratios_at
        Resolutions that only allow some ratios (gpt-image-2's 4k).
    flags
        Extra boolean fields reAPI accepts for this model but the bot leaves out (gemini's ``google_search``...).
    prices_usd
        Price of one image at each resolution in USD; replace with :meth:`with_prices`.
    """

    id: str
    name: str
    max_prompt_chars: int
    ratio_field: RatioField
    ratios: tuple[str, ...]
    default_ratio: str
    resolutions: tuple[str, ...]
    default_resolution: str
    sends_resolution: bool
    max_count: int
    max_references: int
    prices_usd: Mapping[str, Decimal] = field(hash=False)
    ratios_at: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    flags: tuple[str, ...] = ()

    @property
    def fields(self) -> frozenset[str]:
        """Every body field this model takes (what the simulator accepts)."""
        names = {"model", "prompt", self.ratio_field.value, *self.flags}
        if self.max_references:
            names.add("image_urls")
        if self.sends_resolution:
            names.add("resolution")
        if self.max_count > 1:
            names.add("n")
        return frozenset(names)

    def resolved(self, options: ImageOptions) -> tuple[str, str, int]:
        """(ratio, resolution, count) with the model's defaults filled in."""
        return (
            options.ratio if options.ratio is not None else self.default_ratio,
            options.resolution if options.resolution is not None else self.default_resolution,
            options.count,
        )

    def validate(self, prompt_len: int, options: ImageOptions, reference_count: int) -> OptionProblem | None:
        """The first thing reAPI would refuse for this model, or None when it would accept the request."""
        ratio, resolution, count = self.resolved(options)
        model = self.id
        if not 1 <= prompt_len <= self.max_prompt_chars:
            return OptionProblem(ProblemKind.PROMPT_LENGTH, model, prompt_len, minimum=1, maximum=self.max_prompt_chars)
        if ratio not in self.ratios:
            return OptionProblem(ProblemKind.RATIO, self.id, ratio, allowed=self.ratios)
        if resolution not in self.resolutions:
            return OptionProblem(ProblemKind.RESOLUTION, self.id, resolution, allowed=self.resolutions)
        needed = self.ratios_at.get(resolution)
        if needed is not None and ratio not in needed:
            allowed = tuple(r for r in self.ratios if r in needed)
            return OptionProblem(ProblemKind.RESOLUTION_RATIO, self.id, ratio, allowed=allowed, resolution=resolution)
        if not 1 <= count <= self.max_count:
            return OptionProblem(ProblemKind.COUNT, self.id, count, minimum=1, maximum=self.max_count)
        if not 0 <= reference_count <= self.max_references:
            return OptionProblem(ProblemKind.REFERENCES, model, reference_count, minimum=0, maximum=self.max_references)
        return None

    def body(self, prompt: str, options: ImageOptions, image_urls: Sequence[str] = ()) -> dict[str, Any]:
        """The JSON body of ``POST /images/generations`` (check :meth:`validate` first; this only builds).

        Order and fields are fixed: model, prompt, image_urls (only when there are some), the ratio field, then
        ``resolution`` and ``n`` for the models that take them. Defaults are sent explicitly.
        """
        ratio, resolution, count = self.resolved(options)
        body: dict[str, Any] = {"model": self.id, "prompt": prompt}
        if image_urls:
            body["image_urls"] = list(image_urls)
        body[self.ratio_field.value] = ratio
        if self.sends_resolution:
            body["resolution"] = resolution
        if self.max_count > 1:
            body["n"] = count
        return body

    def price_usd(self, resolution: str | None = None) -> Decimal:
        """Price of one image at ``resolution`` (default: the model's) in USD."""
        return self.prices_usd[resolution if resolution is not None else self.default_resolution]

    def cost_usd(self, options: ImageOptions) -> Decimal:
        """What reAPI charges for the request in USD: images × price at the chosen resolution."""
        _, resolution, count = self.resolved(options)
        return count * self.price_usd(resolution)

    def cost_credits(self, options: ImageOptions) -> Decimal:
        """What reAPI charges for the request in reAPI credits ($1 = 1,000; may be fractional, e.g. 31.5)."""
        return self.cost_usd(options) * CREDITS_PER_USD

    def with_prices(self, prices_usd: Mapping[str, Decimal | str | float]) -> ModelSpec:
        """A copy with some prices replaced (keys are resolutions of this model), e.g. from settings."""
        unknown = sorted(set(prices_usd) - set(self.resolutions))
        if unknown:
            raise ValueError(f"{self.id} has no resolution {unknown[0]!r}")
        merged = {**self.prices_usd, **{key: Decimal(str(value)) for key, value in prices_usd.items()}}
        if any(price < 0 for price in merged.values()):
            raise ValueError("prices cannot be negative")
        return dataclasses.replace(self, prices_usd=MappingProxyType(merged))


_GEMINI_FLAGS = ("google_search", "google_image_search", "official_fallback")
_STANDARD_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")

DEFAULT_PRICES_USD: Mapping[str, Mapping[str, Decimal]] = MappingProxyType(
    {
        "nano-banana-2-lite": MappingProxyType({"1k": Decimal("0.02")}),
        "gemini-3.1-flash-image-preview": MappingProxyType(
            {"0.5k": Decimal("0.0315"), "1k": Decimal("0.0315"), "2k": Decimal("0.0477"), "4k": Decimal("0.0711")}
        ),
        "gemini-3-pro-image-preview": MappingProxyType(
            {"1k": Decimal("0.0414"), "2k": Decimal("0.0414"), "4k": Decimal("0.045")}
        ),
        "gpt-image-2": MappingProxyType({"1k": Decimal("0.03"), "2k": Decimal("0.05"), "4k": Decimal("0.08")}),
        "z-image": MappingProxyType({"1k": Decimal("0.0044")}),
    }
)
"""Price per image in USD by model and resolution: third-party snapshots (mid-2026), to be overridable by settings."""

_SPECS = (
    ModelSpec(
        id="nano-banana-2-lite",
        name="Nano Banana 2 Lite",
        max_prompt_chars=20_000,
        ratio_field=RatioField.ASPECT_RATIO,
        ratios=(
            *("1:1", "1:4", "1:8", "2:3", "3:2", "3:4", "4:1", "4:3"),
            *("4:5", "5:4", "8:1", "9:16", "16:9", "21:9", "auto"),
        ),
        default_ratio="auto",
        resolutions=("1k",),
        default_resolution="1k",
        sends_resolution=False,
        max_count=1,
        max_references=10,
        prices_usd=DEFAULT_PRICES_USD["nano-banana-2-lite"],
    ),
    ModelSpec(
        id="gemini-3.1-flash-image-preview",
        name="Nano Banana 2",
        max_prompt_chars=4_000,
        ratio_field=RatioField.SIZE,
        ratios=(*_STANDARD_RATIOS, "1:4", "4:1", "1:8", "8:1"),
        default_ratio="1:1",
        resolutions=("0.5k", "1k", "2k", "4k"),
        default_resolution="1k",
        sends_resolution=True,
        max_count=4,
        max_references=14,
        prices_usd=DEFAULT_PRICES_USD["gemini-3.1-flash-image-preview"],
        flags=_GEMINI_FLAGS,
    ),
    ModelSpec(
        id="gemini-3-pro-image-preview",
        name="Nano Banana Pro",
        max_prompt_chars=4_000,
        ratio_field=RatioField.SIZE,
        ratios=_STANDARD_RATIOS,
        default_ratio="1:1",
        resolutions=("1k", "2k", "4k"),
        default_resolution="1k",
        sends_resolution=True,
        max_count=4,
        max_references=14,
        prices_usd=DEFAULT_PRICES_USD["gemini-3-pro-image-preview"],
        flags=_GEMINI_FLAGS,
    ),
    ModelSpec(
        id="gpt-image-2",
        name="GPT Image 2",
        max_prompt_chars=4_000,
        ratio_field=RatioField.SIZE,
        ratios=(
            *("auto", "1:1", "16:9", "9:16", "4:3", "3:4", "3:2"),
            *("2:3", "5:4", "4:5", "2:1", "1:2", "21:9", "9:21"),
        ),
        default_ratio="1:1",
        resolutions=("1k", "2k", "4k"),
        default_resolution="1k",
        sends_resolution=True,
        max_count=1,
        max_references=16,
        prices_usd=DEFAULT_PRICES_USD["gpt-image-2"],
        ratios_at=MappingProxyType({"4k": frozenset({"16:9", "9:16", "2:1", "1:2", "21:9", "9:21"})}),
    ),
    ModelSpec(
        id="z-image",
        name="Z-Image",
        max_prompt_chars=1_000,
        ratio_field=RatioField.ASPECT_RATIO,
        ratios=("1:1", "4:3", "3:4", "16:9", "9:16"),
        default_ratio="1:1",
        resolutions=("1k",),
        default_resolution="1k",
        sends_resolution=False,
        max_count=1,
        max_references=0,
        prices_usd=DEFAULT_PRICES_USD["z-image"],
    ),
)

MODELS: Mapping[str, ModelSpec] = MappingProxyType({spec.id: spec for spec in _SPECS})
"""Every model the bot can use, keyed by reAPI model id; :data:`DEFAULT_MODEL` first."""


def spec_for(model: str) -> ModelSpec:
    """The spec of ``model``.

    Raises
    ------
    UnknownModel
        No spec describes ``model`` (reAPI would answer 400).
    """
    try:
        return MODELS[model]
    except KeyError:
        raise UnknownModel(model) from None
