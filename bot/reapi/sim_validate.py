"""The simulator's check of a submit body: what reAPI refuses for each model, as (code, message).

The codes are the simulator's own choice where reAPI documents none (the table is in ``bot.reapi.simulator``).
Every model is checked against its :class:`~bot.reapi.specs.ModelSpec`, the same description the client builds
bodies from, so a body the client sends for a model is one this check accepts, and nothing else is.
"""

from __future__ import annotations

from typing import Any

from bot.reapi.specs import MODELS, ModelSpec

__all__ = ["validate_body"]

_LIST_LIMIT = 20  # how many allowed values a message lists before it stops


def _listing(values: tuple[str, ...]) -> str:
    shown = ", ".join(values[:_LIST_LIMIT])
    return shown + (", ..." if len(values) > _LIST_LIMIT else "")


def validate_body(body: Any) -> tuple[int, str] | None:
    """(code, message) of the first problem with a submit body, or None when reAPI would accept it."""
    if not isinstance(body, dict):
        return 20001, "Request body must be a JSON object."
    for name in ("model", "prompt"):
        if name not in body:
            return 20002, f"Missing required parameter: {name}."
        if not isinstance(body[name], str):
            return 20003, f"Parameter {name} must be a string."
    spec = MODELS.get(body["model"])
    if spec is None:
        return 20004, f"Unsupported model: {body['model'][:100]}."
    # image_urls is known to every model: a text-only model refuses references with 20007, not as unknown.
    unknown = sorted(set(body) - spec.fields - {"image_urls"})
    if unknown:
        return 20003, f"Unknown parameter for {spec.id}: {unknown[0][:100]}."
    return _check_prompt(spec, body["prompt"]) or _check_options(spec, body) or _check_urls(spec, body)


def _check_prompt(spec: ModelSpec, prompt: str) -> tuple[int, str] | None:
    if not 1 <= len(prompt) <= spec.max_prompt_chars:
        return 20005, f"prompt must be 1 to {spec.max_prompt_chars} characters for {spec.id}."
    return None


def _check_options(spec: ModelSpec, body: dict[str, Any]) -> tuple[int, str] | None:
    field = spec.ratio_field.value
    ratio = body.get(field, spec.default_ratio)
    if not isinstance(ratio, str) or ratio not in spec.ratios:
        return 20006, f"{field} must be one of: {_listing(spec.ratios)}."
    resolution = body.get("resolution", spec.default_resolution)
    # The schema's lowercase form only: the docs' "2K" is not promised to work, so the bot must not rely on it.
    if not isinstance(resolution, str) or resolution not in spec.resolutions:
        return 20008, f"resolution must be one of: {_listing(spec.resolutions)}."
    needed = spec.ratios_at.get(resolution)
    if needed is not None and ratio not in needed:
        allowed = tuple(r for r in spec.ratios if r in needed)
        return 20010, f"resolution {resolution} needs {field} one of: {_listing(allowed)}."
    count = body.get("n", 1)
    if not isinstance(count, int) or isinstance(count, bool):
        return 20003, "Parameter n must be an integer."
    if not 1 <= count <= spec.max_count:
        return 20009, f"n must be 1 to {spec.max_count} for {spec.id}."
    for flag in spec.flags:
        if flag in body and not isinstance(body[flag], bool):
            return 20003, f"Parameter {flag} must be a boolean."
    return None


def _check_urls(spec: ModelSpec, body: dict[str, Any]) -> tuple[int, str] | None:
    urls = body.get("image_urls", [])
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        return 20003, "image_urls must be a list of strings."
    if len(urls) > spec.max_references:
        if spec.max_references == 0:
            return 20007, f"{spec.id} takes no image_urls (text to image only)."
        return 20007, f"image_urls accepts at most {spec.max_references} URLs for {spec.id}."
    if not all(url.lower().startswith(("http://", "https://")) for url in urls):
        return 20007, "image_urls must be public http(s) URLs; data: URIs are not accepted."
    return None
