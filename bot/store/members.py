"""The record of a member's preferences (/preferences): plain data, shared by the store and the engine."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRIVATE_MODES", "MemberPreferences"]

# How a member wants results shown: in the channel, by DM, or in a message only they can see.
PRIVATE_MODES = ("off", "dm", "ephemeral")


@dataclass(frozen=True, slots=True)
class MemberPreferences:
    """A member's settings; a member who never changed any has these defaults (and no row).

    ``aspect_ratio`` and ``model`` None mean the bot's defaults ("auto", ``reapi.model``); ``private`` is one of
    :data:`PRIVATE_MODES`; ``notify`` mentions the member when a result is ready.
    """

    user_id: int
    aspect_ratio: str | None = None
    model: str | None = None
    private: str = "off"
    notify: bool = False
