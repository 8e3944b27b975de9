"""What a failed Discord request means for a delivery: later (``DeliveryDeferred``) or never (``DeliveryFailed``).

Kept apart from the notifier because the rule is one table over discord.py's and aiohttp's errors, used on every
delivery path (the notifier's and ``bot.surface.member_delivery``'s), and readable without the paths themselves.
"""

from __future__ import annotations

import aiohttp
import discord

from bot.engine.ports import DeliveryDeferred, DeliveryFailed

__all__ = ["DISCORD_ERRORS", "delivery_error", "describe", "raise_if_temporary"]

# What a Discord request can end in besides success: every one is handled, none reaches the runner as a crash.
DISCORD_ERRORS = (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, OSError)


def delivery_error(what: str, exc: BaseException) -> DeliveryFailed:
    """``DeliveryDeferred`` when Discord could take the result later (429, 5xx, no answer), else ``DeliveryFailed``."""
    text = f"{what}: {describe(exc)}"
    if isinstance(exc, discord.RateLimited):
        return DeliveryDeferred(text, retry_after=exc.retry_after)
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:
            return DeliveryDeferred(text, retry_after=_retry_after(exc))
        if exc.status >= 500:
            return DeliveryDeferred(text)
        return DeliveryFailed(text)
    return DeliveryDeferred(text)  # no answer at all (aiohttp.ClientError, OSError): try again later


def raise_if_temporary(what: str, exc: BaseException) -> None:
    """Raise ``DeliveryDeferred`` when Discord could answer later (429, 5xx, no answer); a refusal returns."""
    failed = delivery_error(what, exc)
    if isinstance(failed, DeliveryDeferred):
        raise failed from exc


def describe(exc: BaseException) -> str:
    """A failed request in a few words for logs and delivery errors: its status and code, never its body."""
    if isinstance(exc, discord.RateLimited):
        return f"rate limited for {exc.retry_after:.0f}s"
    if isinstance(exc, discord.HTTPException):
        return f"{exc.status} (code {exc.code})"
    return f"no answer ({type(exc).__name__})"


def _retry_after(exc: discord.HTTPException) -> float | None:
    """The seconds a 429 asked to wait (its Retry-After header), when it said."""
    headers = getattr(exc.response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
