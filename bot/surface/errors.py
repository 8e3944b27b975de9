"""Errors the Discord surface raises with a finished sentence for the member (input checks, rights checks).

The engine's refusals carry fields instead (``bot.engine.errors``); ``bot.surface.reporting`` shows both.
"""

from __future__ import annotations

__all__ = ["InvalidInput", "NotAllowed", "UserFacingError"]


class UserFacingError(Exception):
    """An error with a message that is safe and useful to show the member who caused it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


class InvalidInput(UserFacingError):
    """A prompt, option or image the member gave is not acceptable."""


class NotAllowed(UserFacingError):
    """The member lacks the rights an action needs (checked on the server, not by command visibility)."""
