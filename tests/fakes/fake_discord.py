"""A fake Discord (REST API v10 + gateway) on loopback for end-to-end tests of a real discord.py bot.

One aiohttp application serves ``/api/v10/...`` (REST), ``/gateway`` (websocket) and
``/attachments/...`` (uploaded / test-provided files). An unmodified ``discord.ext.commands.Bot``
is pointed at it with :func:`redirect_discord_py`; every HTTP request it makes is recorded as a
:class:`RecordedRequest` so tests can assert on exactly what Discord would have received.

Typical use::

    async with FakeDiscord() as fake:
        with redirect_discord_py(fake):
            task = asyncio.create_task(bot.start(fake.token))
            await bot.wait_until_ready()
            inter = await fake.send_slash_command("ping")
            callback = await fake.wait_for_request("POST", inter.callback_path)
            ...
            await bot.close()

Behaviour notes (mirroring real Discord):
- the first follow-up after a deferred (type 5) response edits the loading message;
- without the MESSAGE_CONTENT intent, guild MESSAGE_CREATE/UPDATE events that neither mention the bot
  nor are authored by it arrive with empty content/embeds/attachments/components;
- messages the bot creates/edits/deletes over REST are echoed as gateway events (``echo_messages``);
- a request is in ``requests`` before the bot sees the response, but ``wait_for_request`` only returns it after
  the response was delivered and the bot (same event loop) had a few loop iterations to process it;
- Discord's rules are enforced (``discord_rules.py``), each refusal in Discord's error shape: an interaction
  callback later than ``ack_deadline`` (3 s) after dispatch → 404 10062; webhook routes with a token older than
  ``token_lifetime`` (15 min on the fake's clock, see :meth:`FakeDiscord.advance`) or killed early
  (:meth:`FakeDiscord.expire_token`) → 401 50027; content over 2,000 characters or embeds over their limits →
  400 50035; uploads over ``upload_limit`` / the interaction's ``attachment_size_limit`` → 413 40005; bot-token
  message routes in a channel where the bot lacks VIEW_CHANNEL → 403 50001, SEND_MESSAGES / EMBED_LINKS /
  ATTACH_FILES → 403 50013 (:meth:`FakeDiscord.set_bot_channel_permissions`); interaction webhooks ignore
  channel permissions; a DM to a member who refuses them (:meth:`FakeDiscord.refuse_dms`) → 403 50007;
- opt-in (``rate_limit=ChannelWriteLimiter()``, see ``discord_ratelimit.py``): at most 5 bot-token message writes
  (create/edit/delete) per 5 s per channel, and an interaction webhook's follow-ups/edits/deletes per token (5 per
  5 s, a guess); over it → 429 with Discord's body and ``X-RateLimit-*`` headers (off by default);
- sharding as Discord does it: each IDENTIFY opens a session for its ``shard: [id, count]`` (none = ``[0, 1]``);
  READY and GUILD_CREATE list only the guilds of that shard, ``(guild_id >> 22) % count``; every guild event and
  interaction goes only to the session(s) of its guild's shard, DM events to shard 0; an event no session owns
  is kept in :attr:`FakeDiscord.undelivered` (a new IDENTIFY for a shard replaces that shard's session);
- internal errors of the fake answer 400 (never 5xx, which discord.py retries for seconds) and are
  collected in :attr:`FakeDiscord.errors`; a request whose client goes away before its body is whole (a bot
  killed mid-upload) has no effect, as on Discord, and is listed in :attr:`FakeDiscord.dropped`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import discord.gateway
import discord.http
import yarl
from aiohttp import web

from tests.fakes.fake_http import FakeHttp
from tests.fakes.fake_records import (
    FakeInteraction,
    GatewayFrame,
    HeldRequest,
    RecordedFile,
    RecordedRequest,
    shard_of,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType


__all__ = [
    "FakeDiscord",
    "FakeInteraction",
    "GatewayFrame",
    "HeldRequest",
    "RecordedFile",
    "RecordedRequest",
    "redirect_discord_py",
    "shard_of",
]


@contextlib.contextmanager
def redirect_discord_py(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST (incl. webhooks/interactions) and gateway at ``fake``; restore on exit."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


class FakeDiscord(FakeHttp):
    """Fake Discord REST API + gateway. See the module docstring.

    Built in layers, one concern per module (``tests/fakes/fake_*.py``), each on the ones it uses: its state and
    where it listens (``FakeState``, whose ``__init__`` takes the options), waits and faults (``FakeControl``), the
    world tests build with Discord's clock and rules (``FakeWorld``), the gateway (``FakeGateway``), message state
    (``FakeMessages``), the users' events (``FakeUsers``), the REST routes (``FakeRest``) and the HTTP plumbing
    around them (``FakeHttp``). Here: its life (start, close).
    """

    async def start(self) -> None:
        """Listen on a free loopback port: REST under ``/api/v10``, the gateway at ``/gateway``."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway_handler)
        app.router.add_route("*", "/{tail:.*}", self._http_handler)
        self._runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None)
        await self._runner.setup()
        # Real Discord never drops a connection; aiohttp's default backlog (128) drops the SYNs of a burst beyond
        # it (200 /imagine at once), and each is retried only after 1 s. Capped by net.core.somaxconn.
        site = web.TCPSite(self._runner, self.host, 0, backlog=1024)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        """Close every gateway connection and stop listening."""
        for conn in list(self._connections):
            if not conn.ws.closed:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001, message=b"fake discord shutting down")
        for session in self._sessions.values():
            session.active = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
