"""An opt-in per-channel write limit for the fake Discord, answering 429 the way Discord does.

Discord limits message writes per channel (about 5 per 5 s): creating, editing and deleting messages, whether
through the bot token or through an interaction's webhook (follow-ups and edits of the messages it made). A
request over the limit gets 429 with Discord's body (``message``, ``retry_after``, ``global``) and headers
(``Retry-After``, ``X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket/Scope`` and ``Via``), so discord.py's own
handling reacts as it would live: it sleeps ``retry_after`` and tries again, up to five times per call, then
raises ``HTTPException`` (429). Allowed writes carry the same ``X-RateLimit-*`` headers with what is left, which
discord.py uses to hold back its next request on that route.

The window is Discord's: it opens with the first write after the previous one closed and lasts ``window``
seconds, on the event loop's clock (the bot sleeps in real time, so the fake's :meth:`advance` does not apply).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.fakes.discord_rules import rate_limited

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.fakes.discord_payloads import JSON

__all__ = ["WRITE_BUCKET", "ChannelWriteLimiter", "Verdict"]

# One bucket hash for every message write in a channel (its major parameter is the channel).
WRITE_BUCKET = "fake-channel-message-writes"


@dataclass(frozen=True)
class Verdict:
    """What the limiter says about one write: allowed (``status`` None) or a 429, and the headers either way."""

    status: int | None
    body: JSON | None
    headers: dict[str, str]


@dataclass
class _Window:
    opened: float
    used: int = 0


@dataclass
class ChannelWriteLimiter:
    """At most ``limit`` message writes per ``window`` seconds in each channel; more get 429.

    ``allowed`` and ``refused`` count the writes per channel id, for tests and benchmarks.
    """

    limit: int = 5
    window: float = 5.0
    clock: Callable[[], float] = time.monotonic
    allowed: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    _windows: dict[str, _Window] = field(default_factory=dict)

    @property
    def total_refused(self) -> int:
        """429s answered over all channels."""
        return sum(self.refused.values())

    def take(self, channel_id: str, *, shared: bool = False) -> Verdict:
        """Count one write in ``channel_id`` if the window has room, else refuse it with a 429.

        ``shared``: the write came through an interaction webhook, so the limit it meets is the channel's, shared
        with other senders (Discord's ``X-RateLimit-Scope: shared``) rather than the bot's own (``user``).
        """
        now = self.clock()
        current = self._windows.get(channel_id)
        if current is None or now >= current.opened + self.window:
            current = self._windows[channel_id] = _Window(opened=now)
        reset_after = max(0.0, current.opened + self.window - now)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": WRITE_BUCKET,
        }
        if current.used >= self.limit:
            self.refused[channel_id] = self.refused.get(channel_id, 0) + 1
            status, body = rate_limited(reset_after)
            headers |= {
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Scope": "shared" if shared else "user",
                # Discord rounds Retry-After up to whole seconds; the body has the exact figure.
                "Retry-After": str(max(1, math.ceil(reset_after))),
                "Via": "1.1 google",
            }
            return Verdict(status, body, headers)
        current.used += 1
        self.allowed[channel_id] = self.allowed.get(channel_id, 0) + 1
        headers["X-RateLimit-Remaining"] = str(self.limit - current.used)
        return Verdict(None, None, headers)
