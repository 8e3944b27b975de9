"""Model specs follow reapi.md "Other models": accepted values, each kind of refusal, exact bodies and prices."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import NamedTuple

import pytest

from bot.reapi import (
    DEFAULT_MODEL,
    MODELS,
    ImageOptions,
    OptionProblem,
    ProblemKind,
    UnknownModel,
    spec_for,
)

# The documented table, written out again here so a slip in the specs cannot agree with itself.
LITE = "nano-banana-2-lite"
FLASH = "gemini-3.1-flash-image-preview"
PRO = "gemini-3-pro-image-preview"
GPT = "gpt-image-2"
Z = "z-image"

STANDARD = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


class Doc(NamedTuple):
    """One row of reapi.md's table."""

    prompt: int
    field: str
    ratios: tuple[str, ...]
    default_ratio: str
    resolutions: tuple[str, ...]
    n: int
    refs: int


LITE_RATIOS = ("1:1", "1:4", "1:8", "2:3", "3:2", "3:4", "4:1", "4:3", "4:5", "5:4", "8:1", "9:16", "16:9", "21:9")
GPT_RATIOS = ("auto", "1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "2:1", "1:2", "21:9", "9:21")
DOC = {
    LITE: Doc(20_000, "aspect_ratio", (*LITE_RATIOS, "auto"), "auto", ("1k",), 1, 10),
    FLASH: Doc(4_000, "size", (*STANDARD, "1:4", "4:1", "1:8", "8:1"), "1:1", ("0.5k", "1k", "2k", "4k"), 4, 14),
    PRO: Doc(4_000, "size", STANDARD, "1:1", ("1k", "2k", "4k"), 4, 14),
    GPT: Doc(4_000, "size", GPT_RATIOS, "1:1", ("1k", "2k", "4k"), 1, 16),
    Z: Doc(1_000, "aspect_ratio", ("1:1", "4:3", "3:4", "16:9", "9:16"), "1:1", ("1k",), 1, 0),
}
GPT_4K = {"16:9", "9:16", "2:1", "1:2", "21:9", "9:21"}


def test_registry_holds_the_five_models_with_the_lite_one_as_default() -> None:
    assert list(MODELS) == [LITE, FLASH, PRO, GPT, Z]
    assert DEFAULT_MODEL == LITE
    assert spec_for(FLASH).name == "Nano Banana 2"
    assert spec_for(PRO).name == "Nano Banana Pro"
    with pytest.raises(UnknownModel) as caught:
        spec_for("nano-banana-pro")  # reAPI has no such id
    assert caught.value.model == "nano-banana-pro"


@pytest.mark.parametrize("model", list(DOC))
def test_spec_matches_the_documented_table(model: str) -> None:
    spec, doc = spec_for(model), DOC[model]
    assert spec.max_prompt_chars == doc.prompt
    assert spec.ratio_field.value == doc.field
    assert sorted(spec.ratios) == sorted(doc.ratios)
    assert spec.default_ratio == doc.default_ratio
    assert sorted(spec.resolutions) == sorted(doc.resolutions)
    assert spec.default_resolution == "1k"
    assert (spec.max_count, spec.max_references) == (doc.n, doc.refs)


def _accepted_cases() -> list[tuple[str, int, ImageOptions, int]]:
    cases: list[tuple[str, int, ImageOptions, int]] = []
    for model, doc in DOC.items():
        cases += [(model, 1, ImageOptions(ratio=ratio), 0) for ratio in doc.ratios]
        # 16:9 is allowed at every resolution of every model, gpt-image-2's 4k included.
        cases += [(model, 1, ImageOptions(ratio="16:9", resolution=res), 0) for res in doc.resolutions]
        cases += [(model, doc.prompt, ImageOptions(count=doc.n), doc.refs), (model, 1, ImageOptions(), 0)]
    return cases


@pytest.mark.parametrize(("model", "prompt_len", "options", "refs"), _accepted_cases())
def test_documented_values_are_accepted(model: str, prompt_len: int, options: ImageOptions, refs: int) -> None:
    assert spec_for(model).validate(prompt_len, options, refs) is None


@pytest.mark.parametrize("ratio", sorted(GPT_4K))
def test_gpt_image_2_takes_4k_with_the_wide_and_tall_ratios(ratio: str) -> None:
    assert spec_for(GPT).validate(10, ImageOptions(ratio=ratio, resolution="4k"), 0) is None


def test_options_are_normalised_to_the_schema_form() -> None:
    assert ImageOptions(ratio=" AUTO ", resolution="2K") == ImageOptions(ratio="auto", resolution="2k")
    assert spec_for(FLASH).validate(5, ImageOptions(resolution="0.5K"), 0) is None
    with pytest.raises(TypeError):
        ImageOptions(count=True)


P = OptionProblem


@pytest.mark.parametrize(
    ("model", "prompt_len", "options", "refs", "problem"),
    [
        (LITE, 0, ImageOptions(), 0, P(ProblemKind.PROMPT_LENGTH, LITE, 0, minimum=1, maximum=20_000)),
        (LITE, 20_001, ImageOptions(), 0, P(ProblemKind.PROMPT_LENGTH, LITE, 20_001, minimum=1, maximum=20_000)),
        (FLASH, 4_001, ImageOptions(), 0, P(ProblemKind.PROMPT_LENGTH, FLASH, 4_001, minimum=1, maximum=4_000)),
        (PRO, 4_001, ImageOptions(), 0, P(ProblemKind.PROMPT_LENGTH, PRO, 4_001, minimum=1, maximum=4_000)),
        (GPT, 4_001, ImageOptions(), 0, P(ProblemKind.PROMPT_LENGTH, GPT, 4_001, minimum=1, maximum=4_000)),
        (Z, 1_001, ImageOptions(), 0, P(ProblemKind.PROMPT_LENGTH, Z, 1_001, minimum=1, maximum=1_000)),
        (LITE, 5, ImageOptions(ratio="2:1"), 0, P(ProblemKind.RATIO, LITE, "2:1", allowed=spec_for(LITE).ratios)),
        (FLASH, 5, ImageOptions(ratio="auto"), 0, P(ProblemKind.RATIO, FLASH, "auto", allowed=spec_for(FLASH).ratios)),
        (PRO, 5, ImageOptions(ratio="1:4"), 0, P(ProblemKind.RATIO, PRO, "1:4", allowed=spec_for(PRO).ratios)),
        (GPT, 5, ImageOptions(ratio="8:1"), 0, P(ProblemKind.RATIO, GPT, "8:1", allowed=spec_for(GPT).ratios)),
        (Z, 5, ImageOptions(ratio="21:9"), 0, P(ProblemKind.RATIO, Z, "21:9", allowed=spec_for(Z).ratios)),
        (LITE, 5, ImageOptions(resolution="2k"), 0, P(ProblemKind.RESOLUTION, LITE, "2k", allowed=("1k",))),
        (
            PRO,
            5,
            ImageOptions(resolution="0.5k"),
            0,
            P(ProblemKind.RESOLUTION, PRO, "0.5k", allowed=("1k", "2k", "4k")),
        ),
        (
            FLASH,
            5,
            ImageOptions(resolution="8k"),
            0,
            P(ProblemKind.RESOLUTION, FLASH, "8k", allowed=("0.5k", "1k", "2k", "4k")),
        ),
        (Z, 5, ImageOptions(resolution="4k"), 0, P(ProblemKind.RESOLUTION, Z, "4k", allowed=("1k",))),
        (
            GPT,
            5,
            ImageOptions(resolution="4k"),
            0,
            P(
                ProblemKind.RESOLUTION_RATIO,
                GPT,
                "1:1",
                resolution="4k",
                allowed=("16:9", "9:16", "2:1", "1:2", "21:9", "9:21"),
            ),
        ),
        (
            GPT,
            5,
            ImageOptions(ratio="auto", resolution="4k"),
            0,
            P(
                ProblemKind.RESOLUTION_RATIO,
                GPT,
                "auto",
                resolution="4k",
                allowed=("16:9", "9:16", "2:1", "1:2", "21:9", "9:21"),
            ),
        ),
        (FLASH, 5, ImageOptions(count=5), 0, P(ProblemKind.COUNT, FLASH, 5, minimum=1, maximum=4)),
        (PRO, 5, ImageOptions(count=0), 0, P(ProblemKind.COUNT, PRO, 0, minimum=1, maximum=4)),
        (LITE, 5, ImageOptions(count=2), 0, P(ProblemKind.COUNT, LITE, 2, minimum=1, maximum=1)),
        (GPT, 5, ImageOptions(count=2), 0, P(ProblemKind.COUNT, GPT, 2, minimum=1, maximum=1)),
        (LITE, 5, ImageOptions(), 11, P(ProblemKind.REFERENCES, LITE, 11, minimum=0, maximum=10)),
        (FLASH, 5, ImageOptions(), 15, P(ProblemKind.REFERENCES, FLASH, 15, minimum=0, maximum=14)),
        (PRO, 5, ImageOptions(), 15, P(ProblemKind.REFERENCES, PRO, 15, minimum=0, maximum=14)),
        (GPT, 5, ImageOptions(), 17, P(ProblemKind.REFERENCES, GPT, 17, minimum=0, maximum=16)),
        (Z, 5, ImageOptions(), 1, P(ProblemKind.REFERENCES, Z, 1, minimum=0, maximum=0)),
    ],
)
def test_each_kind_of_wrong_input_is_a_structured_problem(
    model: str, prompt_len: int, options: ImageOptions, refs: int, problem: OptionProblem
) -> None:
    assert spec_for(model).validate(prompt_len, options, refs) == problem


URL = "https://cdn.example/a.png"


@pytest.mark.parametrize(
    ("model", "options", "urls", "body"),
    [
        (LITE, ImageOptions(), [], {"model": LITE, "prompt": "p", "aspect_ratio": "auto"}),
        (
            LITE,
            ImageOptions(ratio="16:9"),
            [URL],
            {"model": LITE, "prompt": "p", "image_urls": [URL], "aspect_ratio": "16:9"},
        ),
        (FLASH, ImageOptions(), [], {"model": FLASH, "prompt": "p", "size": "1:1", "resolution": "1k", "n": 1}),
        (
            FLASH,
            ImageOptions(ratio="16:9", resolution="2K", count=4),
            [URL, URL],
            {"model": FLASH, "prompt": "p", "image_urls": [URL, URL], "size": "16:9", "resolution": "2k", "n": 4},
        ),
        (
            PRO,
            ImageOptions(ratio="3:4", resolution="4k", count=2),
            [],
            {"model": PRO, "prompt": "p", "size": "3:4", "resolution": "4k", "n": 2},
        ),
        (GPT, ImageOptions(), [], {"model": GPT, "prompt": "p", "size": "1:1", "resolution": "1k"}),
        (
            GPT,
            ImageOptions(ratio="21:9", resolution="4k"),
            [URL],
            {"model": GPT, "prompt": "p", "image_urls": [URL], "size": "21:9", "resolution": "4k"},
        ),
        (Z, ImageOptions(), [], {"model": Z, "prompt": "p", "aspect_ratio": "1:1"}),
        (Z, ImageOptions(ratio="9:16"), [], {"model": Z, "prompt": "p", "aspect_ratio": "9:16"}),
    ],
)
def test_body_is_exactly_what_reapi_expects_for_the_model(
    model: str, options: ImageOptions, urls: list[str], body: dict[str, object]
) -> None:
    built = spec_for(model).body("p", options, urls)
    assert json.dumps(built) == json.dumps(body)  # same fields, values and order


@pytest.mark.parametrize(
    ("model", "options", "usd", "credits"),
    [
        (LITE, ImageOptions(), "0.02", "20"),
        (FLASH, ImageOptions(resolution="0.5k"), "0.0315", "31.5"),
        (FLASH, ImageOptions(), "0.0315", "31.5"),
        (FLASH, ImageOptions(resolution="2k", count=4), "0.1908", "190.8"),
        (FLASH, ImageOptions(resolution="4k", count=3), "0.2133", "213.3"),
        (PRO, ImageOptions(resolution="2k"), "0.0414", "41.4"),
        (PRO, ImageOptions(resolution="4k", count=2), "0.090", "90"),
        (GPT, ImageOptions(), "0.03", "30"),
        (GPT, ImageOptions(resolution="2k"), "0.05", "50"),
        (GPT, ImageOptions(ratio="16:9", resolution="4k"), "0.08", "80"),
        (Z, ImageOptions(), "0.0044", "4.4"),
    ],
)
def test_cost_is_count_times_the_price_at_the_resolution(
    model: str, options: ImageOptions, usd: str, credits: str
) -> None:
    spec = spec_for(model)
    assert spec.cost_usd(options) == Decimal(usd)
    assert spec.cost_credits(options) == Decimal(credits)


def test_prices_can_be_replaced_without_touching_the_registry() -> None:
    cheaper = spec_for(FLASH).with_prices({"4k": "0.05"})
    assert cheaper.cost_usd(ImageOptions(resolution="4k", count=2)) == Decimal("0.10")
    assert cheaper.price_usd("2k") == Decimal("0.0477")
    assert spec_for(FLASH).price_usd("4k") == Decimal("0.0711")
    with pytest.raises(ValueError, match="resolution"):
        spec_for(LITE).with_prices({"2k": 1})
    with pytest.raises(ValueError, match="negative"):
        spec_for(LITE).with_prices({"1k": -1})
