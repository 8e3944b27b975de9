"""Errors whose message a member may read; everything else is reported as a generic apology."""

from __future__ import annotations

import math

__all__ = [
    "Banned",
    "CooldownActive",
    "InsufficientCredits",
    "InvalidInput",
    "NotAllowed",
    "QueueFull",
    "ReapiPaused",
    "SpendCapReached",
    "UserFacingError",
]


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


class Banned(UserFacingError):
    """An admin banned the member from creating images (here or everywhere); nothing was charged."""


class SpendCapReached(UserFacingError):
    """The owner's daily reAPI budget is used up; nothing was queued or charged."""


class ReapiPaused(UserFacingError):
    """reAPI recently refused for lack of funds, so new images are paused; nothing was queued or charged."""


class NotAllowed(UserFacingError):
    """The member lacks the rights an admin action needs (checked on the server, not by command visibility)."""


class CooldownActive(UserFacingError):
    """The member started jobs too quickly (``jobs.cooldown_*``); nothing was queued or charged."""

    def __init__(self, retry_at: float) -> None:
        # A Discord timestamp, rendered in the member's own timezone and language ("in 5 seconds").
        super().__init__(f"You are starting images too quickly. You can start another one <t:{math.ceil(retry_at)}:R>.")
        self.retry_at = retry_at
