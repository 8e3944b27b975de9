"""An opt-in message write limit for the fake Discord, answering 429 the way Discord does.

Two kinds of bucket, as Discord keys them:

- per channel: message writes with the bot token (create, edit, delete in ``/channels/{id}/messages``) share one
  window per channel, ``limit`` writes per ``window`` seconds (Discord: about 5 per 5 s);
- per interaction token: an interaction webhook's writes (follow-ups, edits and deletes of its messages) count
  against that token's own bucket, ``token_limit`` per ``token_window`` seconds. Discord does not publish this
  figure; 5 per 5 s per token is a realistic guess. The callback itself is not counted.

``webhooks_per_channel`` also counts webhook writes in their channel's window (with the ``shared`` scope Discord
gives limits shared with other senders), for tests that make a webhook write meet 429s. :meth:`other_sender`
stands for another process writing in a channel (a second bot instance): it uses up writes at the opening of each
of that channel's windows, writes this bot cannot see or plan around.

A request over a limit gets 429 with Discord's body (``message``, ``retry_after``, ``global``) and headers
(``Retry-After``, ``X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket/Scope`` and ``Via``), so discord.py's own
handling reacts as it would live: it sleeps ``retry_after`` and tries again, up to five times per call, then
raises ``HTTPException`` (429). Allowed writes carry the same ``X-RateLimit-*`` headers with what is left, which
discord.py uses to hold back its next request in that bucket.

A window is Discord's: it opens with the first write after the previous one closed and lasts its seconds, on the
event loop's clock (the bot sleeps in real time, so the fake's :meth:`advance` does not apply).
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

__all__ = ["TOKEN_BUCKET", "WRITE_BUCKET", "ChannelWriteLimiter", "Verdict"]

# One bucket hash for every bot-token message write in a channel (its major parameter is the channel).
WRITE_BUCKET = "fake-channel-message-writes"
# One bucket hash for an interaction webhook's writes (its major parameters are the webhook id and token).
TOKEN_BUCKET = "fake-interaction-webhook-writes"


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
    """Bot-token writes: ``limit`` per ``window`` s per channel; webhook writes: ``token_limit`` per
    ``token_window`` s per interaction token (and in the channel too with ``webhooks_per_channel``).

    ``allowed`` and ``refused`` count the writes per channel id (bot-token writes, and webhook writes counted in
    the channel) and per ``token:<token>`` (webhook writes in their token's bucket), for tests and benchmarks.
    """

    limit: int = 5
    window: float = 5.0
    token_limit: int = 5
    token_window: float = 5.0
    webhooks_per_channel: bool = False
    clock: Callable[[], float] = time.monotonic
    allowed: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    _windows: dict[str, _Window] = field(default_factory=dict)
    _others: dict[str, int] = field(default_factory=dict)

    @property
    def total_refused(self) -> int:
        """429s answered over all buckets."""
        return sum(self.refused.values())

    def other_sender(self, channel_id: str, writes: int) -> None:
        """Another process takes ``writes`` of every window in ``channel_id`` from the current one on (0: stop)."""
        if writes > 0:
            self._others[channel_id] = writes
            current = self._windows.get(channel_id)
            if current is not None:
                current.used = max(current.used, writes)
        else:
            self._others.pop(channel_id, None)

    def take(self, channel_id: str, *, token: str | None = None) -> Verdict:
        """Count one write if its bucket has room, else refuse it with a 429.

        ``token``: the write came through that interaction's webhook, so it counts against the token's bucket
        (and, with ``webhooks_per_channel``, the channel's as well); else it is a bot-token channel write.
        """
        if token is None:
            return self._take(channel_id, self.limit, self.window, bucket=WRITE_BUCKET, scope="user")
        if self.webhooks_per_channel:
            verdict = self._take(channel_id, self.limit, self.window, bucket=TOKEN_BUCKET, scope="shared")
            if verdict.status is not None:
                return verdict
        return self._take(f"token:{token}", self.token_limit, self.token_window, bucket=TOKEN_BUCKET, scope="user")

    def _take(self, key: str, limit: int, window: float, *, bucket: str, scope: str) -> Verdict:
        now = self.clock()
        current = self._windows.get(key)
        if current is None or now >= current.opened + window:
            current = self._windows[key] = _Window(opened=now, used=self._others.get(key, 0))
        reset_after = max(0.0, current.opened + window - now)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }
        if current.used >= limit:
            self.refused[key] = self.refused.get(key, 0) + 1
            status, body = rate_limited(reset_after)
            headers |= {
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Scope": scope,
                # Discord rounds Retry-After up to whole seconds; the body has the exact figure.
                "Retry-After": str(max(1, math.ceil(reset_after))),
                "Via": "1.1 google",
            }
            return Verdict(status, body, headers)
        current.used += 1
        self.allowed[key] = self.allowed.get(key, 0) + 1
        headers["X-RateLimit-Remaining"] = str(limit - current.used)
        return Verdict(None, None, headers)
