"""A command's model options turned into a job's model, ratio, resolution and count (with the defaults applied).

Precedence for the model: the member's explicit ``model`` option > their /preferences model > the server's default
(/settings defaults) > the operator's ``reapi.model``. Options the member left out get the model's defaults; a
default aspect ratio the model lacks ("auto" on Nano Banana 2) becomes the model's own. What the model would
refuse is refused by the runner (``ModelRefused``) before anything is stored or charged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.reapi import AspectRatio
from bot.reapi.specs import MODELS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bot.surface.services import Services

__all__ = ["KNOWN_RATIOS", "choose", "ratios_of"]

_AUTO = AspectRatio.AUTO.value


def ratios_of(models: Iterable[str]) -> tuple[str, ...]:
    """Every aspect ratio one of ``models`` takes: reAPI's documented order first, then the others as they come."""
    specs = [MODELS[m] for m in models if m in MODELS]
    taken = {r for spec in specs for r in spec.ratios}
    ordered = [r.value for r in AspectRatio if r.value in taken]
    return tuple(dict.fromkeys([*ordered, *(r for spec in specs for r in spec.ratios)]))


KNOWN_RATIOS = ratios_of(MODELS)
"""Every aspect ratio any model takes: a ratio outside these is not one (whether the chosen model takes it is the
catalogue's check, which names the ones it does)."""


async def choose(
    services: Services,
    user_id: int,
    guild_id: int | None,
    *,
    model: str | None,
    aspect_ratio: str | None,
    resolution: str | None = None,
    count: int | None = None,
    preferred_ratio: bool = True,
) -> dict[str, Any]:
    """The ``job_request`` keywords (model, aspect_ratio, resolution, image_count) for a member's choice.

    ``preferred_ratio`` False (edits): no ratio, or "auto", means "auto" where the model takes it and the model's
    own default elsewhere; the member's /preferences ratio (for /imagine) does not apply.

    Raises
    ------
    ModelUnavailable
        ``model`` was given and is not one the operator enabled.
    """
    catalogue = services.runner.catalogue
    preferences = await services.preferences.get(user_id)
    given = model.strip().lower() if model is not None else None
    server = services.server_rules.get(guild_id).model
    chosen = catalogue.pick(given, preferences.model, server)
    if preferred_ratio:
        ratio = await services.preferences.aspect_ratio_for(user_id, aspect_ratio)
        explicit = aspect_ratio is not None
    else:
        ratio = aspect_ratio or _AUTO
        explicit = ratio != _AUTO
    return {
        "model": chosen,
        "aspect_ratio": catalogue.ratio_for(chosen, ratio, explicit=explicit),
        "resolution": resolution.strip().lower() if resolution is not None else None,
        "image_count": 1 if count is None else count,
    }
