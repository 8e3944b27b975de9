"""A command's model options turned into a job's model, ratio, resolution and count (with the defaults applied).

Precedence for the model: the member's explicit ``model`` option > their /preferences model > the server's default
(/settings defaults) > the operator's ``reapi.model``. Options the member left out get the model's defaults; a
default aspect ratio the model lacks ("auto" on Nano Banana 2) becomes the model's own. What the model would
refuse is refused by the runner (``ModelRefused``) before anything is stored or charged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.surface.services import Services

__all__ = ["choose"]


async def choose(
    services: Services,
    user_id: int,
    guild_id: int | None,
    *,
    model: str | None,
    aspect_ratio: str | None,
    resolution: str | None = None,
    count: int | None = None,
) -> dict[str, Any]:
    """The ``job_request`` keywords (model, aspect_ratio, resolution, image_count) for a member's choice.

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
    ratio = await services.preferences.aspect_ratio_for(user_id, aspect_ratio)
    return {
        "model": chosen,
        "aspect_ratio": catalogue.ratio_for(chosen, ratio, explicit=aspect_ratio is not None),
        "resolution": resolution.strip().lower() if resolution is not None else None,
        "image_count": 1 if count is None else count,
    }
