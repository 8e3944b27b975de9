"""Errors whose message a member may read; everything else is reported as a generic apology."""

from __future__ import annotations

__all__ = ["InsufficientCredits", "InvalidInput", "QueueFull", "UserFacingError"]


class UserFacingError(Exception):
    """An error with a message that is safe and useful to show the member who caused it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


class InsufficientCredits(UserFacingError):
    """The member's balance does not cover the job; nothing was queued or charged."""


class QueueFull(UserFacingError):
    """Too many jobs are waiting; nothing was queued or charged."""


class InvalidInput(UserFacingError):
    """A prompt, option or image the member gave is not acceptable."""
