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

import asyncio
import contextlib
import copy
import json
import re
import secrets
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

from tests.fakes.discord_payloads import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACHMENT_SIZE_LIMIT,
    BOT_ROLE_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    INTENT_MESSAGE_CONTENT,
    JSON,
    MESSAGE_CHAT_INPUT_COMMAND,
    MESSAGE_CONTEXT_MENU_COMMAND,
    MESSAGE_DEFAULT,
    MESSAGE_REPLY,
    READ_MESSAGE_HISTORY,
    SENDABLE_FLAGS,
    SnowflakeGenerator,
    error_body,
    iso_now,
    make_application,
    make_attachment,
    make_dm_channel,
    make_guild,
    make_member,
    make_message,
    make_role,
    make_text_channel,
    make_user,
    mentioned_ids,
    normalize_embed,
    partial_member,
)
from tests.fakes.discord_rules import (
    ACK_DEADLINE,
    TOKEN_LIFETIME,
    Refusal,
    cannot_dm,
    channel_permissions,
    command_errors,
    form_errors,
    invalid_token,
    message_permission_refusal,
    unknown_interaction,
    upload_refusal,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from types import TracebackType

    from tests.fakes.discord_ratelimit import ChannelWriteLimiter

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

API_PREFIX = "/api/v10"
# Loop iterations the fake yields after writing an HTTP response before recording it (see _http_handler).
_SETTLE_ITERATIONS = 20
# Bot-token routes that write a message (create, edit, delete): what the channel write limit counts.
_MESSAGE_WRITE = re.compile(r"/channels/\d+/messages(?:/\d+)?")
_T = TypeVar("_T")


@dataclass(frozen=True, repr=False)
class RecordedFile:
    """One file part of a multipart request (``files[n]``)."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:
        return f"RecordedFile({self.field_name!r}, {self.filename!r}, {self.content_type!r}, <{len(self.data)} bytes>)"


@dataclass(frozen=True)
class RecordedRequest:
    """An HTTP request the fake received (and what it answered). Never holds the token itself."""

    index: int
    method: str
    path: str  # without the /api/v10 prefix and without the query string
    query: dict[str, str]
    json: Any  # JSON body, or the parsed ``payload_json`` part of a multipart body
    files: list[RecordedFile]
    time: float  # loop.time() when the request was handled
    bot_auth: bool  # Authorization was exactly "Bot <the fake's token>"
    has_auth: bool  # any Authorization header was present
    headers: dict[str, str]  # request headers minus Authorization
    status: int
    response: Any = field(repr=False)


@dataclass(frozen=True)
class GatewayFrame:
    """A gateway payload the fake received from the bot (IDENTIFY/RESUME tokens redacted)."""

    index: int
    connection: int
    op: int
    d: Any
    time: float


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched, plus what the bot did with it so far."""

    id: str
    token: str
    application_id: str
    type: int  # 2 application command, 3 component, 5 modal submit
    channel_id: str
    guild_id: str | None
    user: JSON
    payload: JSON = field(repr=False)
    message_id: str | None = None  # the message a component/modal interaction came from
    command_type: int | None = None  # data.type for application commands (1 slash, 2 user, 3 message)
    response_type: int | None = None  # callback type the bot answered with
    original_message_id: str | None = None
    followup_message_ids: list[str] = field(default_factory=list)
    modal: JSON | None = None  # data of a type 9 (modal) response
    triggered_by: FakeInteraction | None = field(default=None, repr=False)  # modal submit: who opened the modal
    sent_at: float | None = None  # FakeDiscord.now() when INTERACTION_CREATE was dispatched
    shards: list[int] = field(default_factory=list)  # the gateway shard(s) it was dispatched to; [] = nobody's
    token_killed: bool = False  # FakeDiscord.expire_token: Discord dropped the token before its 15 minutes

    @property
    def upload_limit(self) -> int:
        """The ``attachment_size_limit`` the bot was told for this interaction."""
        return int(self.payload["attachment_size_limit"])

    @property
    def callback_path(self) -> str:
        return f"/interactions/{self.id}/{self.token}/callback"

    @property
    def webhook_path(self) -> str:
        """POST here = follow-up; ``+ "/messages/..."`` = message routes."""
        return f"/webhooks/{self.application_id}/{self.token}"

    @property
    def original_path(self) -> str:
        return f"{self.webhook_path}/messages/@original"


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: JSON | None
    retry_after: float | None
    remaining: int


@dataclass(eq=False)
class HeldRequest:
    """A request the fake holds before applying it (:meth:`FakeDiscord.hold_next`), e.g. an edit on the wire."""

    method: str
    pattern: re.Pattern[str]
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # the request reached the fake
    released: asyncio.Event = field(default_factory=asyncio.Event)  # set it to let the fake apply the request

    def release(self) -> None:
        self.released.set()


@dataclass
class _StoredFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class _Reply:
    status: int
    body: Any = None  # None -> empty body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Req:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[RecordedFile]
    params: dict[str, str]


@dataclass(eq=False)
class _GatewayConnection:
    ws: web.WebSocketResponse
    number: int
    query: dict[str, str]
    closed: bool = False


@dataclass(eq=False)
class _Session:
    """One gateway session, i.e. one shard: its own sequence numbers and RESUME replay buffer."""

    id: str
    intents: int | None
    shard: tuple[int, int]  # (shard_id, shard_count); (0, 1) when IDENTIFY carried no shard
    active: _GatewayConnection | None
    seq: int = 0
    events: list[JSON] = field(default_factory=list)

    def owns(self, guild_id: str | None) -> bool:
        """Whether Discord sends this guild's events here (DMs and guild-less events go to shard 0)."""
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return shard_of(guild_id, count) == shard_id


def shard_of(guild_id: str | int, shard_count: int) -> int:
    """The shard Discord routes a guild to: ``(guild_id >> 22) % shard_count``."""
    return (int(guild_id) >> 22) % shard_count


def _event_guild(event: str, data: Any) -> str | None:
    """The guild a dispatch event belongs to (GUILD_CREATE/UPDATE/DELETE carry it as ``id``)."""
    if not isinstance(data, dict):
        return None
    if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        return str(data["id"])
    guild_id = data.get("guild_id")
    return None if guild_id is None else str(guild_id)


_Handler = Callable[[_Req], "Awaitable[_Reply]"]


def _not_found(what: str, code: int) -> _Reply:
    return _Reply(404, error_body(f"Unknown {what}", code))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


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


class FakeDiscord:
    """Fake Discord REST API + gateway. See the module docstring."""

    def __init__(
        self,
        token: str = "fake-token.abc",
        *,
        heartbeat_interval: int = 41250,
        host: str = "127.0.0.1",
        echo_messages: bool = True,
        enforce_message_content_intent: bool = True,
        guild_name: str = "Fake Guild",
        ack_deadline: float = ACK_DEADLINE,
        token_lifetime: float = TOKEN_LIFETIME,
        upload_limit: int = ATTACHMENT_SIZE_LIMIT,
        rate_limit: ChannelWriteLimiter | None = None,
    ) -> None:
        self.token = token
        # Message-write limits per channel and per token (None: none, the default, so other tests never meet a 429).
        self.rate_limit = rate_limit
        # Discord's rules (see discord_rules.py); tests may tighten or relax them per fake.
        self.ack_deadline = ack_deadline
        self.token_lifetime = token_lifetime
        self.upload_limit = upload_limit  # the guilds' limit; new interactions carry it as attachment_size_limit
        self._clock_offset = 0.0
        self._dm_refusers: set[str] = set()
        self.heartbeat_interval = heartbeat_interval
        self.host = host
        self.echo_messages = echo_messages
        self.enforce_message_content_intent = enforce_message_content_intent
        self.snowflake = SnowflakeGenerator()

        # --- recording / waiting
        self.requests: list[RecordedRequest] = []
        self.gateway_received: list[GatewayFrame] = []
        self.identify_payloads: list[JSON] = []  # token redacted
        self.errors: list[str] = []  # internal errors of the fake (should stay empty)
        self.dropped: list[tuple[str, str]] = []  # (method, path) of requests whose client left mid-body
        self.deleted_messages: list[JSON] = []
        self.resume_count = 0
        self.ready_count = 0
        self._cond = asyncio.Condition()
        self._faults: list[_Fault] = []
        self._holds: list[HeldRequest] = []
        self._unsettled: set[int] = set()

        # --- server
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

        # --- gateway
        self._gw_lock = asyncio.Lock()
        self._connections: list[_GatewayConnection] = []
        self._sessions: dict[tuple[int, int], _Session] = {}  # by (shard_id, shard_count)
        self._latest: _Session | None = None  # the last IDENTIFY's session (the only one without sharding)
        self.undelivered: list[JSON] = []  # dispatch events no session's shard owned (nobody received them)

        # --- world state
        self._users: dict[str, JSON] = {}
        self._guilds: dict[str, JSON] = {}  # id -> {id, name, owner_id, roles, channel_ids, joined_at}
        self._members: dict[tuple[str, str], JSON] = {}
        self._channels: dict[str, JSON] = {}
        self._messages: dict[str, JSON] = {}
        self._files: dict[tuple[str, str], _StoredFile] = {}
        self._attachments: dict[str, JSON] = {}  # test-provided attachments (add_attachment), by id
        self._interactions_by_id: dict[str, FakeInteraction] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}
        self._modals: dict[str, JSON] = {}
        self._modal_origins: dict[str, FakeInteraction] = {}
        self._commands: dict[str | None, list[JSON]] = {}  # None = global
        self._adhoc_command_ids: dict[tuple[str, int], str] = {}
        # Each member's client language (Discord sends it as every interaction's `locale`); unset: en-US.
        self.user_locales: dict[str, str] = {}
        self._route_table: list[tuple[str, re.Pattern[str], _Handler, bool]] | None = None

        self.application_id = self.snowflake()
        self.bot_user = self._register_user(make_user(self.application_id, "imagine-bot", bot=True))
        self.owner_user = self.make_user("owner")
        self.member_user = self.make_user("member")
        self.guild_id = self.add_guild(guild_name)
        self.everyone_role_id = self.guild_id
        self.admin_role_id: str = self._guilds[self.guild_id]["admin_role_id"]
        self.bot_role_id: str = self._guilds[self.guild_id]["bot_role_id"]
        self.channel_id = self._guilds[self.guild_id]["channel_ids"][0]
        self.application = make_application(self.application_id, "imagine-bot", self.owner_user)

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    async def start(self) -> None:
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

    # ------------------------------------------------------------------ waiting

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(
        self,
        predicate: Callable[[], _T | None],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - explicit per-wait timeouts are the point of this API
        what: str = "condition",
    ) -> _T:
        """Wait until ``predicate()`` is truthy (re-checked whenever the fake's state changes)."""
        async with self._cond:
            try:
                async with asyncio.timeout(timeout):
                    return cast("_T", await self._cond.wait_for(predicate))
            except TimeoutError:
                raise AssertionError(f"FakeDiscord: timed out after {timeout}s waiting for {what}") from None

    async def wait_until_ready(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """IDENTIFY received and READY + GUILD_CREATE(s) sent."""
        await self.wait_for(lambda: self.ready_count >= 1, timeout=timeout, what="IDENTIFY/READY")

    async def wait_for_shards(
        self,
        shard_ids: Iterable[int],
        shard_count: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """A session (IDENTIFY + READY) exists for each of ``shard_ids`` out of ``shard_count``."""
        wanted = [(shard_id, shard_count) for shard_id in shard_ids]
        await self.wait_for(
            lambda: all(key in self._sessions for key in wanted), timeout=timeout, what=f"sessions for {wanted}"
        )

    async def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """At least ``n`` gateway websocket connections were made in total."""
        await self.wait_for(lambda: len(self._connections) >= n, timeout=timeout, what=f"{n} gateway connections")

    async def wait_for_gateway_op(self, op: int, *, after: int = 0, timeout: float = 5.0) -> GatewayFrame:  # noqa: ASYNC109
        def find() -> GatewayFrame | None:
            return next((f for f in self.gateway_received[after:] if f.op == op), None)

        return await self.wait_for(find, timeout=timeout, what=f"gateway op {op}")

    def requests_matching(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Requests whose method matches (``"*"`` = any) and whose path ``re.fullmatch``-es ``path_regex``."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if _method_ok(method, r.method) and pattern.fullmatch(r.path)]

    async def wait_for_request(
        self,
        method: str,
        path_regex: str,
        *,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        after: int = 0,
    ) -> RecordedRequest:
        """First request at index >= ``after`` matching method/path (fullmatch) and ``predicate``."""
        pattern = re.compile(path_regex)

        def find() -> RecordedRequest | None:
            for r in self.requests[after:]:
                if r.index in self._unsettled:
                    continue
                if _method_ok(method, r.method) and pattern.fullmatch(r.path) and (predicate is None or predicate(r)):
                    return r
            return None

        try:
            return await self.wait_for(find, timeout=timeout, what=f"{method} {path_regex}")
        except AssertionError as exc:
            seen = "\n".join(f"  {r.method} {r.path} -> {r.status}" for r in self.requests[after:])
            raise AssertionError(f"{exc}; requests seen:\n{seen or '  (none)'}") from None

    @property
    def unknown_requests(self) -> list[RecordedRequest]:
        """Requests that hit no known route (answered 404 code 10000)."""
        return [
            r
            for r in self.requests
            if r.status == 404 and isinstance(r.response, dict) and r.response.get("code") == 10000
        ]

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        json: JSON | None = None,
        retry_after: float | None = None,
        count: int = 1,
    ) -> None:
        """The next ``count`` matching requests get ``status``. 429s carry everything discord.py needs
        to treat them as a normal (non-Cloudflare) rate limit and retry after ``retry_after`` s."""
        self._faults.append(_Fault(method, re.compile(path_regex), status, json, retry_after, count))

    def clear_faults(self) -> None:
        """Forget every fault :meth:`fail_next` set that has not been used up (Discord recovered)."""
        self._faults.clear()

    def hold_next(self, method: str, path_regex: str) -> HeldRequest:
        """The next matching request waits, unapplied and unanswered, until the test releases it (at most 10 s).

        Models a request already on the wire: whatever the client does meanwhile, Discord applies it later.
        """
        held = HeldRequest(method, re.compile(path_regex))
        self._holds.append(held)
        return held

    async def _wait_if_held(self, method: str, path: str) -> None:
        held = next((h for h in self._holds if _method_ok(h.method, method) and h.pattern.fullmatch(path)), None)
        if held is None:
            return
        self._holds.remove(held)
        held.arrived.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await held.released.wait()

    def _take_fault(self, method: str, path: str) -> _Reply | None:
        for fault in self._faults:
            if fault.remaining > 0 and _method_ok(fault.method, method) and fault.pattern.fullmatch(path):
                fault.remaining -= 1
                if fault.status == 429:
                    retry = 0.05 if fault.retry_after is None else fault.retry_after
                    body = dict(fault.body or {"message": "You are being rate limited.", "global": False})
                    body.setdefault("retry_after", retry)
                    headers = {
                        "Via": "1.1 google",
                        "Retry-After": str(retry),
                        "X-RateLimit-Scope": "user",
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset-After": str(retry),
                        "X-RateLimit-Bucket": "fake-bucket",
                    }
                    return _Reply(429, body, headers)
                return _Reply(fault.status, fault.body or error_body(f"{fault.status}: injected fault", 0))
        return None

    # ------------------------------------------------------------------ Discord's clock and rules

    def now(self) -> float:
        """The fake's clock (loop time plus all :meth:`advance`): the ACK deadline and token lifetime run on it."""
        return asyncio.get_running_loop().time() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward, so deadlines pass without waiting (the bot's own clock is unchanged)."""
        self._clock_offset += seconds

    def expire_token(self, interaction: FakeInteraction) -> None:
        """Kill one interaction token now, before its 15 minutes are up (Discord sometimes does)."""
        interaction.token_killed = True

    def token_alive(self, interaction: FakeInteraction) -> bool:
        """Whether webhook routes still accept this interaction's token."""
        if interaction.token_killed or interaction.sent_at is None:
            return not interaction.token_killed
        return self.now() - interaction.sent_at <= self.token_lifetime

    def refuse_dms(self, user: JSON, *, refuse: bool = True) -> None:
        """``user`` no longer accepts DMs from the bot: posts in their DM channel answer 403 code 50007."""
        if refuse:
            self._dm_refusers.add(user["id"])
        else:
            self._dm_refusers.discard(user["id"])

    async def set_bot_channel_permissions(self, channel_id: str | int, *, allow: int = 0, deny: int = 0) -> JSON:
        """Give the bot its own overwrite in a guild channel (replacing any earlier one); returns the channel.

        Interactions from the channel then carry the resulting ``app_permissions``, bot-token message routes
        there enforce them, and a connected bot gets CHANNEL_UPDATE so its cache agrees.
        """
        channel = self._channels[str(channel_id)]
        if channel.get("guild_id") is None:
            raise ValueError("permission overwrites exist only in guild channels")
        bot_id = self.bot_user["id"]
        overwrites = [o for o in channel["permission_overwrites"] if o["id"] != bot_id]
        overwrites.append({"id": bot_id, "type": 1, "allow": str(allow), "deny": str(deny)})
        channel["permission_overwrites"] = overwrites
        if self._sessions:
            await self.dispatch("CHANNEL_UPDATE", copy.deepcopy(channel))
        return channel

    def channel_permissions(self, user_id: str, channel_id: str | int) -> int:
        """A member's permissions in a guild channel (guild roles, then the channel's overwrites)."""
        channel = self._channels[str(channel_id)]
        gid = channel["guild_id"]
        guild = self._guilds[gid]
        base = self.permissions(user_id, gid)
        if guild["owner_id"] == user_id:
            return base
        member = self._members.get((gid, user_id))
        return channel_permissions(
            base,
            channel.get("permission_overwrites") or [],
            everyone_id=gid,
            role_ids=member["roles"] if member else [],
            member_id=user_id,
        )

    def _refusal(self, refusal: Refusal | None) -> _Reply | None:
        return None if refusal is None else _Reply(refusal[0], refusal[1])

    def _message_refusal(self, payload: Any, files: list[RecordedFile], limit: int) -> _Reply | None:
        """The rules every message write obeys, on any route: lengths, then the upload size."""
        return self._refusal(form_errors(payload) or upload_refusal((len(f.data) for f in files), limit))

    def _channel_refusal(self, channel: JSON, req: _Req) -> _Reply | None:
        """The bot-token channel rules: permissions in a guild channel, accepted DMs in a DM channel."""
        if channel.get("guild_id") is None:
            recipient = channel["recipients"][0]["id"]
            if req.method == "POST" and recipient in self._dm_refusers:
                return self._refusal(cannot_dm())
            return None
        perms = self.channel_permissions(self.bot_user["id"], channel["id"])
        return self._refusal(
            message_permission_refusal(perms, method=req.method, payload=req.json, has_files=bool(req.files))
        )

    # ------------------------------------------------------------------ world building

    def _register_user(self, user: JSON) -> JSON:
        self._users[user["id"]] = user
        return user

    def make_user(self, username: str, *, bot: bool = False, global_name: str | None = None) -> JSON:
        """A new user (not a guild member; see :meth:`add_member`)."""
        return self._register_user(make_user(self.snowflake(), username, bot=bot, global_name=global_name))

    def set_locale(self, user: JSON, locale: str) -> None:
        """The member switches their Discord client to ``locale`` ("de", "en-US" …): later interactions carry it."""
        self.user_locales[str(user["id"])] = locale

    def add_member(
        self, user: JSON, *, admin: bool = False, role_ids: list[str] | None = None, guild_id: str | None = None
    ) -> JSON:
        gid = guild_id or self.guild_id
        self._register_user(user)
        roles = list(role_ids or [])
        if admin:
            roles.append(self._guilds[gid]["admin_role_id"])
        member = make_member(user, roles)
        self._members[(gid, user["id"])] = member
        return member

    def add_guild(self, name: str, *, shard: tuple[int, int] | None = None) -> str:
        """A guild with the bot, the owner (admin) and the member in it and one text channel; returns its id.

        ``shard=(shard_id, shard_count)`` picks an id Discord routes to that shard. Add guilds before the bot
        connects (READY lists the guilds of each shard).
        """
        gid = self.snowflake.on_shard(*shard) if shard is not None else self.snowflake()
        admin_role_id, bot_role_id = self.snowflake(), self.snowflake()
        self._guilds[gid] = {
            "id": gid,
            "name": name,
            "owner_id": self.owner_user["id"],
            "joined_at": iso_now(),
            "channel_ids": [],
            "admin_role_id": admin_role_id,
            "bot_role_id": bot_role_id,
            "roles": [
                make_role(gid, "@everyone", EVERYONE_PERMISSIONS, position=0),
                make_role(
                    bot_role_id,
                    "imagine-bot",
                    BOT_ROLE_PERMISSIONS,
                    position=1,
                    managed=True,
                    bot_id=self.bot_user["id"],
                ),
                make_role(admin_role_id, "Admin", ADMINISTRATOR, position=2),
            ],
        }
        self.add_text_channel("general", guild_id=gid)
        self.add_member(self.owner_user, admin=True, guild_id=gid)
        self.add_member(self.member_user, guild_id=gid)
        self.add_member(self.bot_user, role_ids=[bot_role_id], guild_id=gid)
        return gid

    def member(self, user_id: str, guild_id: str | None = None) -> JSON | None:
        return self._members.get((guild_id or self.guild_id, str(user_id)))

    def add_role(self, name: str, permissions: int, *, guild_id: str | None = None) -> JSON:
        guild = self._guilds[guild_id or self.guild_id]
        role = make_role(self.snowflake(), name, permissions, position=len(guild["roles"]))
        guild["roles"].append(role)
        return role

    def guild_channel_ids(self, guild_id: str | None = None) -> list[str]:
        """The ids of a guild's channels."""
        return list(self._guilds[guild_id or self.guild_id]["channel_ids"])

    def add_text_channel(self, name: str, *, guild_id: str | None = None) -> JSON:
        gid = guild_id or self.guild_id
        guild = self._guilds[gid]
        channel = make_text_channel(self.snowflake(), gid, name, position=len(guild["channel_ids"]))
        self._channels[channel["id"]] = channel
        guild["channel_ids"].append(channel["id"])
        return channel

    def dm_channel(self, user: JSON) -> JSON:
        """The (created on demand) DM channel between the bot and ``user``."""
        for channel in self._channels.values():
            if channel["type"] == 1 and channel["recipients"][0]["id"] == user["id"]:
                return channel
        channel = make_dm_channel(self.snowflake(), user)
        self._channels[channel["id"]] = channel
        return channel

    def channel(self, channel_id: str) -> JSON | None:
        return self._channels.get(str(channel_id))

    def guild_payload(self, guild_id: str | None = None) -> JSON:
        """The full GUILD_CREATE payload for a guild."""
        guild = self._guilds[guild_id or self.guild_id]
        gid = guild["id"]
        members = [copy.deepcopy(m) for (g, _), m in self._members.items() if g == gid]
        channels = [copy.deepcopy(self._channels[c]) for c in guild["channel_ids"]]
        return make_guild(
            gid,
            guild["name"],
            owner_id=guild["owner_id"],
            roles=copy.deepcopy(guild["roles"]),
            channels=channels,
            members=members,
            joined_at=guild["joined_at"],
        )

    def permissions(self, user_id: str, guild_id: str | None = None) -> int:
        """Guild-level permissions of a member (see :meth:`channel_permissions` for one channel)."""
        guild = self._guilds[guild_id or self.guild_id]
        if guild["owner_id"] == user_id:
            return ALL_PERMISSIONS
        member = self._members.get((guild["id"], user_id))
        role_ids = {guild["id"], *(member["roles"] if member else [])}
        perms = 0
        for role in guild["roles"]:
            if role["id"] in role_ids:
                perms |= int(role["permissions"])
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def add_attachment(
        self, filename: str, data: bytes, content_type: str | None = None, *, channel_id: str | None = None
    ) -> JSON:
        """An attachment (as in ``resolved.attachments`` / message ``attachments``) served by the fake."""
        attachment = self._store_file(channel_id or self.channel_id, filename, data, content_type)
        self._attachments[attachment["id"]] = attachment
        return attachment

    def _store_file(
        self,
        channel_id: str,
        filename: str,
        data: bytes,
        content_type: str | None,
        *,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> JSON:
        attachment_id = self.snowflake()
        url = f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{urllib.parse.quote(filename, safe='')}"
        attachment = make_attachment(
            attachment_id,
            filename,
            data,
            url=url,
            content_type=content_type,
            description=description,
            ephemeral=ephemeral,
        )
        self._files[(channel_id, attachment_id)] = _StoredFile(filename, attachment["content_type"], data)
        return attachment

    def file_bytes(self, url_or_attachment: str | JSON) -> bytes:
        """The bytes behind an attachment URL served by the fake (no HTTP round trip)."""
        url = url_or_attachment if isinstance(url_or_attachment, str) else url_or_attachment["url"]
        parts = yarl.URL(url).path.split("/")
        if len(parts) < 5 or parts[1] != "attachments":
            raise KeyError(url)
        return self._files[(parts[2], parts[3])].data

    # ------------------------------------------------------------------ messages / interactions lookup

    def message(self, message_id: str | int) -> JSON | None:
        return self._messages.get(str(message_id))

    def channel_messages(self, channel_id: str | None = None, *, include_ephemeral: bool = True) -> list[JSON]:
        """Messages in a channel, oldest first."""
        cid = str(channel_id or self.channel_id)
        return [
            m
            for m in self._messages.values()
            if m["channel_id"] == cid and (include_ephemeral or not m["flags"] & FLAG_EPHEMERAL)
        ]

    def interaction(self, interaction_id: str) -> FakeInteraction:
        return self._interactions_by_id[interaction_id]

    def original_message(self, interaction: FakeInteraction) -> JSON | None:
        mid = interaction.original_message_id
        return None if mid is None else self._messages.get(mid)

    def followup_messages(self, interaction: FakeInteraction) -> list[JSON]:
        return [self._messages[m] for m in interaction.followup_message_ids if m in self._messages]

    def modal(self, custom_id: str) -> JSON | None:
        """The data of the last modal the bot opened with ``custom_id``."""
        return self._modals.get(custom_id)

    def commands(self, guild_id: str | None = None) -> list[JSON]:
        """Application commands the bot synced (global when ``guild_id`` is None)."""
        return list(self._commands.get(guild_id, []))

    @property
    def intents(self) -> int | None:
        """Intents of the last IDENTIFY."""
        return None if self._latest is None else self._latest.intents

    @property
    def session_id(self) -> str | None:
        """The last IDENTIFY's session id."""
        return None if self._latest is None else self._latest.id

    @property
    def events(self) -> list[JSON]:
        """Dispatch frames of the last IDENTIFY's session (what a RESUME of it replays)."""
        return [] if self._latest is None else self._latest.events

    @property
    def shards(self) -> list[tuple[int, int]]:
        """``(shard_id, shard_count)`` of every gateway session, in IDENTIFY order."""
        return list(self._sessions)

    def shard_events(self, shard_id: int, shard_count: int) -> list[JSON]:
        """Dispatch frames of one shard's session."""
        return self._sessions[(shard_id, shard_count)].events

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    # ------------------------------------------------------------------ gateway

    async def _send(self, conn: _GatewayConnection, frame: JSON | str) -> bool:
        """Write one frame (or its JSON text) to a gateway connection; False if it is gone."""
        if conn.closed or conn.ws.closed:
            return False
        try:
            await conn.ws.send_str(frame if isinstance(frame, str) else _dumps(frame))
        except (ConnectionError, RuntimeError):
            conn.closed = True
            return False
        return True

    @staticmethod
    def _next_frame(session: _Session, event: str, data: Any) -> JSON:
        """The session's next dispatch frame, kept for RESUME replay."""
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(frame)
        return frame

    async def _send_to(self, session: _Session, frame: JSON | str) -> None:
        """Send to the session's live connection, if any (the frame stays in its replay buffer either way)."""
        if session.active is not None and not await self._send(session.active, frame):
            session.active = None

    async def _dispatch_locked(self, session: _Session, event: str, data: Any) -> int:
        await self._send_to(session, self._next_frame(session, event, data))
        return session.seq

    def _owners(self, guild_id: str | None) -> list[_Session]:
        return [session for session in self._sessions.values() if session.owns(guild_id)]

    async def dispatch(self, event: str, data: Any) -> int:
        """Send a dispatch event to the session of its guild's shard, with that session's next sequence number
        (queued for RESUME replay when the bot is disconnected). Returns the sequence number (0: no session owns
        the event's shard; it is kept in :attr:`undelivered`)."""
        if not self._sessions:
            raise RuntimeError("no gateway session yet (await fake.wait_until_ready() first)")
        seq = 0
        async with self._gw_lock:
            owners = self._owners(_event_guild(event, data))
            for session in owners:
                seq = await self._dispatch_locked(session, event, self._gate_event(event, copy.deepcopy(data), session))
            if not owners:
                self.undelivered.append({"t": event, "d": copy.deepcopy(data)})
        await self._notify()
        return seq

    def _gate_event(self, event: str, data: Any, session: _Session) -> Any:
        """Blank message content like Discord does for bots without the MESSAGE_CONTENT intent."""
        if not self.enforce_message_content_intent or event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            return data
        if not isinstance(data, dict):
            return data
        in_guild = "guild_id" in data
        if isinstance(data.get("referenced_message"), dict):
            # The replied-to message is a message of its own: the same rule applies to it.
            self._gate_message(data["referenced_message"], in_guild=in_guild, intents=session.intents)
        return self._gate_message(data, in_guild=in_guild, intents=session.intents)

    def _gate_message(self, data: JSON, *, in_guild: bool, intents: int | None) -> JSON:
        """Blank one message's content unless the bot wrote it, is mentioned, it is a DM, or it has the intent."""
        if intents is None or intents & INTENT_MESSAGE_CONTENT:
            return data
        bot_id = self.bot_user["id"]
        author_id = (data.get("author") or {}).get("id")
        mentioned = any(u.get("id") == bot_id for u in data.get("mentions") or [])
        if author_id == bot_id or not in_guild or mentioned:
            return data
        data.update(content="", embeds=[], attachments=[], components=[])
        data.pop("poll", None)
        return data

    async def drop_gateway(self, code: int = 4000, *, shard: tuple[int, int] | None = None) -> None:
        """Close the bot's gateway connection (the last IDENTIFY's, or ``shard``'s) with a resumable close code
        (discord.py then RESUMEs)."""
        async with self._gw_lock:
            session = self._latest if shard is None else self._sessions[shard]
            conn = None if session is None else session.active
            if session is not None:
                session.active = None
        if conn is None:
            raise RuntimeError("no active gateway connection to drop")
        conn.closed = True
        await conn.ws.close(code=code, message=b"fake discord dropped the connection")
        await self._notify()

    async def _gateway_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _GatewayConnection(ws=ws, number=len(self._connections) + 1, query=dict(request.query))
        self._connections.append(conn)
        await self._notify()
        try:
            await self._send(
                conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval}, "s": None, "t": None}
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        await self._on_gateway_frame(conn, json.loads(msg.data))
                    except Exception:
                        self.errors.append(traceback.format_exc())
                        await ws.close(code=4000, message=b"fake discord internal error")
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            conn.closed = True
            async with self._gw_lock:
                for session in self._sessions.values():
                    if session.active is conn:
                        session.active = None
            await self._notify()
        return ws

    async def _on_gateway_frame(self, conn: _GatewayConnection, frame: JSON) -> None:
        op = int(frame.get("op", -1))
        data: Any = frame.get("d")
        recorded: Any = copy.deepcopy(data)
        if isinstance(recorded, dict) and "token" in recorded:
            recorded["token"] = "<redacted>"
        loop_time = asyncio.get_running_loop().time()
        self.gateway_received.append(GatewayFrame(len(self.gateway_received), conn.number, op, recorded, loop_time))
        await self._notify()

        if op == 1:  # HEARTBEAT
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif not isinstance(data, dict):
            return
        elif op == 2:  # IDENTIFY
            await self._identify(conn, data, recorded)
        elif op == 6:  # RESUME
            await self._resume(conn, data)
        elif op == 8:  # REQUEST_GUILD_MEMBERS
            await self._request_members(data)

    async def _identify(self, conn: _GatewayConnection, data: JSON, recorded: JSON) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard_field = data.get("shard")
        try:
            shard = (0, 1) if shard_field is None else (int(shard_field[0]), int(shard_field[1]))
        except (TypeError, ValueError, IndexError):
            shard = (-1, 0)
        if not 0 <= shard[0] < shard[1]:
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        self.identify_payloads.append(recorded)
        async with self._gw_lock:
            # A new IDENTIFY for a shard replaces that shard's session (the old one gets nothing more).
            session = _Session(id=secrets.token_hex(16), intents=data.get("intents"), shard=shard, active=conn)
            self._sessions.pop(shard, None)
            self._sessions[shard] = self._latest = session
            guild_ids = [gid for gid in self._guilds if session.owns(gid)]
            ready: JSON = {
                "v": 10,
                "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"},
                "guilds": [{"id": gid, "unavailable": True} for gid in guild_ids],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.gateway_url,
                "application": {"id": self.application_id, "flags": int(self.application.get("flags", 0))},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "auth": {},
                "_trace": ["fake-discord"],
            }
            if shard_field is not None:
                ready["shard"] = list(shard)
            await self._dispatch_locked(session, "READY", ready)
            for gid in guild_ids:
                await self._dispatch_locked(session, "GUILD_CREATE", self.guild_payload(gid))
            self.ready_count += 1
        await self._notify()

    async def _resume(self, conn: _GatewayConnection, data: JSON) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        async with self._gw_lock:
            session = next((s for s in self._sessions.values() if s.id == data.get("session_id")), None)
            if session is None:
                await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
                return
            last = int(data.get("seq") or 0)
            for frame in session.events:
                if frame["s"] > last:
                    await self._send(conn, frame)
            session.seq += 1
            await self._send(conn, {"op": 0, "t": "RESUMED", "s": session.seq, "d": {"_trace": ["fake-discord"]}})
            session.active = conn
            self.resume_count += 1
        await self._notify()

    async def _request_members(self, data: JSON) -> None:
        gid = str(data.get("guild_id"))
        if gid not in self._guilds or not self._sessions:
            return
        user_ids = {str(u) for u in data.get("user_ids") or []}
        query = (data.get("query") or "").lower()
        limit = int(data.get("limit") or 0)
        members = [
            copy.deepcopy(m)
            for (g, uid), m in self._members.items()
            if g == gid and (not user_ids or uid in user_ids) and m["user"]["username"].lower().startswith(query)
        ]
        if limit:
            members = members[:limit]
        chunk: JSON = {"guild_id": gid, "members": members, "chunk_index": 0, "chunk_count": 1, "not_found": []}
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    # ------------------------------------------------------------------ events the "users" cause

    def gateway_message(self, message: JSON) -> JSON:
        """A stored (REST-shaped) message as MESSAGE_CREATE carries it (guild_id, member, mention members)."""
        out = copy.deepcopy(message)
        channel = self._channels.get(message["channel_id"])
        gid = channel.get("guild_id") if channel else None
        if gid:
            out["guild_id"] = gid
            author_member = self._members.get((gid, message["author"]["id"]))
            if author_member is not None and "webhook_id" not in message:
                out["member"] = partial_member(author_member)
            mentions = []
            for user in out.get("mentions", []):
                m = self._members.get((gid, user["id"]))
                mentions.append({**user, "member": partial_member(m)} if m else user)
            out["mentions"] = mentions
        return out

    async def send_message(
        self,
        content: str,
        *,
        author: JSON | None = None,
        channel_id: str | None = None,
        mentions: list[JSON] | None = None,
        attachments: list[JSON] | None = None,
        embeds: list[JSON] | None = None,
        components: list[JSON] | None = None,
        message_reference: JSON | None = None,
        referenced_message: JSON | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        """A user posts a message: stored (REST GET finds it) and dispatched as MESSAGE_CREATE.
        ``mentions`` defaults to the known users ``<@id>``-mentioned in ``content``; ``reply_to`` (a
        message dict) is shorthand for ``message_reference`` + ``referenced_message``."""
        author = author or self.member_user
        cid = str(channel_id or (reply_to["channel_id"] if reply_to else self.channel_id))
        channel = self._channels.get(cid)
        if channel is None:
            raise KeyError(f"unknown channel {cid}")
        if reply_to is not None:
            message_reference = {"type": 0, "message_id": reply_to["id"], "channel_id": reply_to["channel_id"]}
            referenced_message = reply_to
        if mentions is None:
            mentions = [self._users[uid] for uid in mentioned_ids(content) if uid in self._users]
        msg = make_message(
            self.snowflake(),
            cid,
            author,
            content,
            message_type=MESSAGE_REPLY if message_reference else MESSAGE_DEFAULT,
            mentions=mentions,
            attachments=attachments,
            embeds=embeds,
            components=components,
        )
        if message_reference is not None:
            ref = {k: str(v) if k.endswith("_id") else v for k, v in message_reference.items()}
            ref.setdefault("type", 0)
            ref.setdefault("channel_id", cid)
            if channel.get("guild_id"):
                ref.setdefault("guild_id", channel["guild_id"])
            msg["message_reference"] = ref
            if referenced_message is None:
                referenced_message = self._messages.get(str(ref.get("message_id")))
            msg["referenced_message"] = copy.deepcopy(referenced_message)
        self._messages[msg["id"]] = msg
        channel["last_message_id"] = msg["id"]
        await self.dispatch("MESSAGE_CREATE", self.gateway_message(msg))
        return msg

    async def delete_message(self, message_id: str | int) -> None:
        """Someone (the member, a moderator) deletes a message: gone from REST, MESSAGE_DELETE to the bot."""
        msg = self._messages[str(message_id)]
        self._delete_message(msg)
        await self._echo("MESSAGE_DELETE", msg)

    def _new_interaction(
        self,
        itype: int,
        data: JSON,
        *,
        user: JSON | None,
        channel_id: str | None,
        dm: bool,
        message: JSON | None = None,
    ) -> FakeInteraction:
        user = user or self.member_user
        self._register_user(user)
        iid = self.snowflake()
        token = f"fake-interaction-{secrets.token_hex(24)}"
        payload: JSON = {
            "id": iid,
            "application_id": self.application_id,
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": self.user_locales.get(str(user["id"]), "en-US"),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self.upload_limit,
        }
        guild_id: str | None = None
        if dm:
            channel = self.dm_channel(user)
            payload.update(
                channel_id=channel["id"],
                channel=copy.deepcopy(channel),
                user=copy.deepcopy(user),
                context=1,
                authorizing_integration_owners={"0": "0"},
                app_permissions=str(EVERYONE_PERMISSIONS),
            )
        else:
            channel = self._channels[str(channel_id or self.channel_id)]
            guild_id = channel["guild_id"]
            member = self._members.get((guild_id, user["id"])) or self.add_member(user, guild_id=guild_id)
            perms = str(self.channel_permissions(user["id"], channel["id"]))
            payload.update(
                guild_id=guild_id,
                guild={"id": guild_id, "locale": "en-US", "features": []},
                guild_locale="en-US",
                channel_id=channel["id"],
                channel={**copy.deepcopy(channel), "permissions": perms},
                member={**copy.deepcopy(member), "permissions": perms},
                context=0,
                authorizing_integration_owners={"0": guild_id},
                app_permissions=str(self.channel_permissions(self.bot_user["id"], channel["id"])),
            )
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        interaction = FakeInteraction(
            id=iid,
            token=token,
            application_id=self.application_id,
            type=itype,
            channel_id=channel["id"],
            guild_id=guild_id,
            user=user,
            payload=payload,
            message_id=message["id"] if message is not None else None,
            command_type=data.get("type") if itype == 2 else None,
        )
        self._interactions_by_id[iid] = interaction
        self._interactions_by_token[token] = interaction
        return interaction

    async def _send_interaction(self, interaction: FakeInteraction) -> FakeInteraction:
        interaction.sent_at = self.now()  # Discord's 3-second ACK clock starts when it sends the event
        interaction.shards = [session.shard[0] for session in self._owners(interaction.guild_id)]
        await self.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    async def send_at_once(self, interactions: Sequence[FakeInteraction]) -> None:
        """Send built interactions (:meth:`make_slash_command`) as one burst: every frame is made first, then all
        are written back to back (the event loop runs nothing in between unless the socket's buffer is full), so
        they reach the bot together however busy this process is; sent one by one, a burst's spread depends on how
        fast the fake gets through it."""
        event = "INTERACTION_CREATE"
        async with self._gw_lock:
            frames: list[tuple[FakeInteraction, _Session, str]] = []
            for interaction in interactions:
                owners = self._owners(interaction.guild_id)
                interaction.shards = [session.shard[0] for session in owners]
                if not owners:
                    interaction.sent_at = self.now()
                    self.undelivered.append({"t": event, "d": copy.deepcopy(interaction.payload)})
                for session in owners:
                    data = self._gate_event(event, copy.deepcopy(interaction.payload), session)
                    frames.append((interaction, session, _dumps(self._next_frame(session, event, data))))
            for interaction, session, text in frames:
                interaction.sent_at = self.now()  # Discord's 3-second ACK clock starts when it sends the event
                await self._send_to(session, text)
        await self._notify()

    def _command_ref(self, name: str, command_type: int, guild_id: str | None) -> tuple[str, str | None]:
        """(command id, data.guild_id) — from the synced commands when present (guild ones first)."""
        for scope in dict.fromkeys((guild_id, None)):
            for cmd in self._commands.get(scope, []):
                if cmd["name"] == name and int(cmd.get("type", 1)) == command_type:
                    return cmd["id"], scope
        key = (name, command_type)
        if key not in self._adhoc_command_ids:
            self._adhoc_command_ids[key] = self.snowflake()
        return self._adhoc_command_ids[key], None

    def _resolve_option(self, option: JSON, resolved: JSON, guild_id: str | None) -> JSON:
        opt = dict(option)
        value = opt.get("value")
        if "type" not in opt:
            if isinstance(value, dict) and "filename" in value:
                opt["type"] = 11
            elif isinstance(value, dict) and "username" in value:
                opt["type"] = 6
            elif isinstance(value, bool):
                opt["type"] = 5
            elif isinstance(value, int):
                opt["type"] = 4
            elif isinstance(value, float):
                opt["type"] = 10
            else:
                opt["type"] = 3
        otype = int(opt["type"])
        if otype in (1, 2):
            opt["options"] = [self._resolve_option(o, resolved, guild_id) for o in opt.get("options", [])]
            return opt
        if otype == 11:
            attachment = value if isinstance(value, dict) else self._attachments.get(str(value))
            if attachment is None:
                raise KeyError(f"unknown attachment {value!r} (use fake.add_attachment)")
            opt["value"] = attachment["id"]
            resolved.setdefault("attachments", {})[attachment["id"]] = copy.deepcopy(attachment)
        elif otype in (6, 9) and (isinstance(value, dict) or str(value) in self._users):
            user = value if isinstance(value, dict) else self._users[str(value)]
            opt["value"] = user["id"]
            resolved.setdefault("users", {})[user["id"]] = copy.deepcopy(user)
            member = self._members.get((guild_id, user["id"])) if guild_id else None
            if member is not None:
                perms = str(self.permissions(user["id"], guild_id))
                resolved.setdefault("members", {})[user["id"]] = {**partial_member(member), "permissions": perms}
        elif otype == 7 and str(value) in self._channels:
            channel = self._channels[str(value)]
            opt["value"] = channel["id"]
            resolved.setdefault("channels", {})[channel["id"]] = {**copy.deepcopy(channel), "permissions": "0"}
        return opt

    async def send_slash_command(
        self,
        name: str,
        options: list[JSON] | None = None,
        *,
        user: JSON | None = None,
        channel_id: str | None = None,
        resolved: JSON | None = None,
        guild_id: str | None = None,
        dm: bool = False,
    ) -> FakeInteraction:
        """INTERACTION_CREATE for ``/name`` (``"group sub"`` / ``"group subgroup sub"`` for subcommands).

        Options are raw option dicts; ``type`` is inferred when missing, and a ``value`` that is an
        attachment dict (``add_attachment``) or user dict is put into ``data.resolved`` automatically.
        Guild interaction by default (``channel_id`` or ``guild_id``'s first channel); ``dm=True`` for a bot DM."""
        interaction = self.make_slash_command(
            name, options, user=user, channel_id=channel_id, resolved=resolved, guild_id=guild_id, dm=dm
        )
        return await self._send_interaction(interaction)

    def make_slash_command(
        self,
        name: str,
        options: list[JSON] | None = None,
        *,
        user: JSON | None = None,
        channel_id: str | None = None,
        resolved: JSON | None = None,
        guild_id: str | None = None,
        dm: bool = False,
    ) -> FakeInteraction:
        """The interaction :meth:`send_slash_command` would send, built but not sent (see :meth:`send_at_once`)."""
        if channel_id is None and guild_id is not None:
            channel_id = self._guilds[str(guild_id)]["channel_ids"][0]
        guild_id = None if dm else self._channels[str(channel_id or self.channel_id)]["guild_id"]
        root, *path = name.split()
        command_id, command_guild = self._command_ref(root, 1, guild_id)
        res: JSON = copy.deepcopy(resolved) if resolved else {}
        opts = [self._resolve_option(o, res, guild_id) for o in options or []]
        if len(path) == 2:
            opts = [{"name": path[0], "type": 2, "options": [{"name": path[1], "type": 1, "options": opts}]}]
        elif len(path) == 1:
            opts = [{"name": path[0], "type": 1, "options": opts}]
        data: JSON = {"id": command_id, "name": root, "type": 1, "options": opts}
        if res:
            data["resolved"] = res
        if command_guild is not None:
            data["guild_id"] = command_guild
        return self._new_interaction(2, data, user=user, channel_id=channel_id, dm=dm)

    async def send_message_command(
        self, name: str, target_message: JSON, *, user: JSON | None = None
    ) -> FakeInteraction:
        """Message context-menu command (data.type 3) on ``target_message``."""
        target = self._messages.get(target_message["id"], target_message)
        channel = self._channels[target["channel_id"]]
        guild_id = channel.get("guild_id")
        command_id, command_guild = self._command_ref(name, 3, guild_id)
        resolved_message = self.gateway_message(target)
        resolved_message.pop("guild_id", None)
        data: JSON = {
            "id": command_id,
            "name": name,
            "type": 3,
            "target_id": target["id"],
            "resolved": {"messages": {target["id"]: resolved_message}},
        }
        if command_guild is not None:
            data["guild_id"] = command_guild
        interaction = self._new_interaction(2, data, user=user, channel_id=target["channel_id"], dm=guild_id is None)
        return await self._send_interaction(interaction)

    async def send_user_command(self, name: str, target_user: JSON, *, user: JSON | None = None) -> FakeInteraction:
        """User context-menu command (data.type 2) on ``target_user``."""
        command_id, command_guild = self._command_ref(name, 2, self.guild_id)
        res: JSON = {}
        self._resolve_option({"name": "target", "type": 6, "value": target_user}, res, self.guild_id)
        data: JSON = {"id": command_id, "name": name, "type": 2, "target_id": target_user["id"], "resolved": res}
        if command_guild is not None:
            data["guild_id"] = command_guild
        return await self._send_interaction(self._new_interaction(2, data, user=user, channel_id=None, dm=False))

    async def send_component_click(
        self,
        custom_id: str,
        *,
        message: JSON,
        user: JSON | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
    ) -> FakeInteraction:
        """A button click (component_type 2) or select (3/5/6/7/8 with ``values``) on ``message``
        (the fake's current copy of it is used)."""
        current = self._messages.get(message["id"], message)
        if current.get("components") and custom_id not in _custom_ids(current["components"]):
            raise ValueError(f"message {current['id']} has no component with custom_id {custom_id!r}")
        data: JSON = {"custom_id": custom_id, "component_type": component_type}
        if values is not None or component_type != 2:
            data["values"] = list(values or [])
        channel = self._channels[current["channel_id"]]
        interaction = self._new_interaction(
            3,
            data,
            user=user,
            channel_id=current["channel_id"],
            dm=channel["type"] == 1,
            message=current,
        )
        return await self._send_interaction(interaction)

    async def send_modal_submit(
        self,
        custom_id: str,
        values: dict[str, Any],
        *,
        user: JSON | None = None,
        message: JSON | None = None,
        channel_id: str | None = None,
    ) -> FakeInteraction:
        """Submit a modal. When the bot opened a modal with this custom_id (type 9 callback), the submitted
        components mirror its layout (Label type 18 -> ``component``, ActionRow type 1 -> ``components``), the
        channel/user default to the opening interaction's and, if it was a component click, its message is
        attached; otherwise each value becomes an ActionRow with a TextInput. ``values``: custom_id -> str
        (text inputs) or list[str] (selects); unknown custom_ids raise ValueError."""
        modal = self._modals.get(custom_id)
        remaining = dict(values)
        if modal is None:
            components: list[JSON] = [
                {"type": 1, "components": [{"type": 4, "custom_id": k, "value": str(v)}]} for k, v in values.items()
            ]
            remaining.clear()
        else:
            counter = iter(range(1, 1000))
            components = [_submit_component(c, remaining, counter) for c in modal.get("components", [])]
        if remaining:
            raise ValueError(f"modal {custom_id!r} has no inputs {sorted(remaining)}")
        data: JSON = {"custom_id": custom_id, "components": components}
        origin = self._modal_origins.get(custom_id)
        if origin is not None:
            user = user or origin.user
            if message is None and origin.message_id is not None:
                message = self._messages.get(origin.message_id)  # opened from a component: Discord includes it
        current = self._messages.get(message["id"], message) if message is not None else None
        if channel_id is None:
            channel_id = current["channel_id"] if current else origin.channel_id if origin else self.channel_id
        cid = str(channel_id)
        interaction = self._new_interaction(
            5, data, user=user, channel_id=cid, dm=self._channels[cid]["type"] == 1, message=current
        )
        interaction.triggered_by = origin
        return await self._send_interaction(interaction)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _http_handler(self, request: web.Request) -> web.StreamResponse:
        full_path = request.path
        is_api = full_path.startswith(API_PREFIX + "/")
        path = full_path[len(API_PREFIX) :] if is_api else full_path
        method = request.method.upper()
        query = dict(request.query.items())
        auth = request.headers.get("Authorization")
        bot_auth = auth == f"Bot {self.token}"
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        body: Any = None
        files: list[RecordedFile] = []
        received_at = asyncio.get_running_loop().time()
        try:
            body, files = await self._read_body(request)
        except ConnectionError:
            # The client went away mid-body (a bot killed or stopped during an upload): Discord never saw a
            # whole request, so nothing happens; it is no fault of the fake's and not a malformed request.
            self.dropped.append((method, path))
            await self._notify()
            return web.Response(status=400)
        except Exception:
            self.errors.append(traceback.format_exc())

        response: web.Response | None = None
        if is_api:
            reply = await self._api(method, path, query, body, files, bot_auth)
        elif method == "GET" and path.startswith("/attachments/"):
            parts = path.split("/")
            stored = self._files.get((parts[2], parts[3])) if len(parts) >= 5 else None
            if stored is None or stored.filename != "/".join(parts[4:]):
                reply = _not_found("Attachment", 0)
            else:
                reply = _Reply(200, f"<{len(stored.data)} bytes>")
                response = web.Response(body=stored.data, content_type=stored.content_type)
        else:
            reply = _Reply(404, error_body(f"Unknown route (fake discord): {method} {path}", 10000))

        if response is None and reply.body is None:
            response = web.Response(status=reply.status, headers=reply.headers)
        elif response is None:
            response = web.Response(
                status=reply.status,
                body=_dumps(reply.body).encode(),
                content_type="application/json",  # exactly this: discord.py's json_or_text compares verbatim
                headers=reply.headers,
            )
        record = RecordedRequest(
            index=len(self.requests),
            method=method,
            path=path,
            query=query,
            json=body,
            files=files,
            time=received_at,
            bot_auth=bot_auth,
            has_auth=auth is not None,
            headers=headers,
            status=reply.status,
            response=reply.body,
        )
        # Recorded before the client sees the response (so it is in `requests` once the bot's call returns), but
        # waiters only see it after the response was delivered and the client (same event loop) had a few loop
        # iterations to process it: a test that waited for a callback can then e.g. click the sent button.
        self.requests.append(record)
        self._unsettled.add(record.index)
        try:
            try:
                await response.prepare(request)
                await response.write_eof()
            except ConnectionError:
                return response  # the client went away after sending it all: the request stands, unanswered
            for _ in range(_SETTLE_ITERATIONS):
                await asyncio.sleep(0)
        finally:
            self._unsettled.discard(record.index)
            await self._notify()
        return response

    async def _read_body(self, request: web.Request) -> tuple[Any, list[RecordedFile]]:
        if not request.can_read_body:
            return None, []
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[RecordedFile] = []
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                data = await part.read(decode=False)
                if part.name == "payload_json":
                    payload = json.loads(data.decode())
                else:
                    files.append(
                        RecordedFile(part.name or "", part.filename, part.headers.get("Content-Type"), bytes(data))
                    )
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw.decode()), []
        except ValueError:
            return raw.decode(errors="replace"), []

    async def _api(
        self, method: str, path: str, query: dict[str, str], body: Any, files: list[RecordedFile], bot_auth: bool
    ) -> _Reply:
        for route_method, pattern, handler, needs_auth in self._routes():
            match = pattern.fullmatch(path)
            if match is None or route_method != method:
                continue
            if needs_auth and not bot_auth:
                return _Reply(401, error_body("401: Unauthorized", 0))
            fault = self._take_fault(method, path)
            if fault is not None:
                return fault
            await self._wait_if_held(method, path)
            req = _Req(method, path, query, body, files, {k: v for k, v in match.groupdict().items() if v is not None})
            limited = self._rate_limited(req)
            if limited is not None and limited.status != 200:
                return limited
            try:
                reply = await handler(req)
            except Exception as exc:
                self.errors.append(traceback.format_exc())
                return _Reply(400, error_body(f"fake discord internal error: {exc!r}", 0))
            if limited is not None:
                reply.headers = {**limited.headers, **reply.headers}
            return reply
        fault = self._take_fault(method, path)
        if fault is not None:
            return fault
        return _Reply(404, error_body(f"Unknown route (fake discord): {method} {path}", 10000))

    def _rate_limited(self, req: _Req) -> _Reply | None:
        """The channel write limit for a message write (None when off or not a write): a 429 to answer, or the
        headers (status 200 here) that go on the handler's reply."""
        if self.rate_limit is None or req.method not in ("POST", "PATCH", "DELETE"):
            return None
        channel_id = req.params.get("channel_id")
        token = None
        if "token" in req.params and not req.path.endswith("/callback"):
            token = req.params["token"]
            inter = self._interactions_by_token.get(token)
            channel_id = inter.channel_id if inter is not None else None
        elif not _MESSAGE_WRITE.fullmatch(req.path):
            return None
        if channel_id is None:
            return None
        verdict = self.rate_limit.take(channel_id, token=token)
        return _Reply(verdict.status or 200, verdict.body, verdict.headers)

    def _routes(self) -> list[tuple[str, re.Pattern[str], _Handler, bool]]:
        if self._route_table is not None:
            return self._route_table
        webhook = r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)"
        webhook_message = webhook + r"/messages/(?P<message_id>@original|\d+)"
        channel_message = r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)"
        reaction = channel_message + r"/reactions/(?P<emoji>[^/]+)/@me"
        global_cmds = r"/applications/(?P<app_id>\d+)/commands"
        guild_cmds = r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands"
        table: list[tuple[str, str, _Handler, bool]] = [
            ("GET", r"/users/@me", self._r_get_me, True),
            ("GET", r"/users/@me/guilds", self._r_my_guilds, True),
            ("GET", r"/users/(?P<user_id>\d+)", self._r_get_user, True),
            ("POST", r"/users/@me/channels", self._r_create_dm, True),
            ("GET", r"/oauth2/applications/@me", self._r_get_application, True),
            ("GET", r"/applications/@me", self._r_get_application, True),
            ("GET", r"/gateway", self._r_get_gateway, False),
            ("GET", r"/gateway/bot", self._r_get_gateway, True),
            ("PUT", global_cmds, self._r_put_commands, True),
            ("GET", global_cmds, self._r_get_commands, True),
            ("PUT", guild_cmds, self._r_put_commands, True),
            ("GET", guild_cmds, self._r_get_commands, True),
            ("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback", self._r_callback, False),
            ("POST", webhook, self._r_followup, False),
            ("GET", webhook_message, self._r_webhook_message, False),
            ("PATCH", webhook_message, self._r_webhook_message, False),
            ("DELETE", webhook_message, self._r_webhook_message, False),
            ("GET", r"/channels/(?P<channel_id>\d+)", self._r_get_channel, True),
            ("GET", r"/channels/(?P<channel_id>\d+)/messages", self._r_list_messages, True),
            ("POST", r"/channels/(?P<channel_id>\d+)/messages", self._r_create_message, True),
            ("GET", channel_message, self._r_channel_message, True),
            ("PATCH", channel_message, self._r_channel_message, True),
            ("DELETE", channel_message, self._r_channel_message, True),
            ("POST", r"/channels/(?P<channel_id>\d+)/typing", self._r_no_content, True),
            ("PUT", reaction, self._r_no_content, True),
            ("DELETE", reaction, self._r_no_content, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)", self._r_get_guild, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)/channels", self._r_get_guild_channels, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", self._r_get_member, True),
        ]
        self._route_table = [(m, re.compile(p), h, a) for m, p, h, a in table]
        return self._route_table

    # ------------------------------------------------------------------ message state helpers

    def _mentions_for(self, content: str, allowed: JSON | None) -> list[JSON]:
        ids = mentioned_ids(content)
        if allowed is not None:
            parse = allowed.get("parse") or []
            if "users" not in parse:
                permitted = {str(u) for u in allowed.get("users") or []}
                ids = [i for i in ids if i in permitted]
        return [copy.deepcopy(self._users[i]) for i in ids if i in self._users]

    def _attachments_for(
        self, channel_id: str, payload: JSON, files: list[RecordedFile], existing: list[JSON], ephemeral: bool
    ) -> list[JSON]:
        by_field = {f.field_name: f for f in files}
        used: set[str] = set()
        result: list[JSON] = []
        spec = payload.get("attachments")
        if spec is None:
            result = list(existing)
        else:
            existing_by_id = {str(a["id"]): a for a in existing}
            for item in spec:
                aid = str(item.get("id"))
                part = by_field.get(f"files[{aid}]")
                if part is not None and part.field_name not in used:
                    used.add(part.field_name)
                    filename = item.get("filename") or part.filename or "file"
                    result.append(
                        self._store_file(
                            channel_id,
                            filename,
                            part.data,
                            part.content_type,
                            description=item.get("description"),
                            ephemeral=ephemeral,
                        )
                    )
                elif aid in existing_by_id:
                    result.append(existing_by_id[aid])
        for part in files:
            if part.field_name not in used and part.filename is not None:
                result.append(
                    self._store_file(channel_id, part.filename, part.data, part.content_type, ephemeral=ephemeral)
                )
        return result

    def _create_bot_message(
        self,
        channel_id: str,
        payload: JSON,
        files: list[RecordedFile],
        *,
        message_type: int = MESSAGE_DEFAULT,
        extra_flags: int = 0,
        interaction: FakeInteraction | None = None,
    ) -> JSON:
        flags = (int(payload.get("flags") or 0) & SENDABLE_FLAGS) | extra_flags
        if interaction is None:
            flags &= ~FLAG_EPHEMERAL
        content = payload.get("content") or ""
        msg = make_message(
            self.snowflake(),
            channel_id,
            copy.deepcopy(self.bot_user),
            content,
            message_type=message_type,
            flags=flags,
            tts=bool(payload.get("tts")),
            mentions=self._mentions_for(content, payload.get("allowed_mentions")),
            attachments=self._attachments_for(channel_id, payload, files, [], bool(flags & FLAG_EPHEMERAL)),
            embeds=payload.get("embeds"),
            components=payload.get("components"),
        )
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        reference = payload.get("message_reference")
        if reference:
            ref = {k: str(v) if k.endswith("_id") and v is not None else v for k, v in reference.items()}
            ref.setdefault("channel_id", channel_id)
            ref.setdefault("type", 0)
            target = self._messages.get(str(ref.get("message_id")))
            msg["message_reference"] = ref
            msg["referenced_message"] = copy.deepcopy(target)
            if ref["type"] == 0:
                msg["type"] = MESSAGE_REPLY
                replied = (payload.get("allowed_mentions") or {}).get("replied_user", True)
                if target is not None and replied and all(u["id"] != target["author"]["id"] for u in msg["mentions"]):
                    msg["mentions"].append(copy.deepcopy(target["author"]))
        if interaction is not None:
            msg["webhook_id"] = self.application_id
            msg["application_id"] = self.application_id
            msg["interaction_metadata"] = self._interaction_metadata(interaction)
            if interaction.type == 2:
                msg["interaction"] = {
                    "id": interaction.id,
                    "type": interaction.type,
                    "name": interaction.payload["data"]["name"],
                    "user": copy.deepcopy(interaction.user),
                }
        self._messages[msg["id"]] = msg
        channel = self._channels.get(channel_id)
        if channel is not None and not flags & FLAG_EPHEMERAL:
            channel["last_message_id"] = msg["id"]
        return msg

    def _interaction_metadata(self, interaction: FakeInteraction) -> JSON:
        meta: JSON = {
            "id": interaction.id,
            "type": interaction.type,
            "user": copy.deepcopy(interaction.user),
            "authorizing_integration_owners": dict(interaction.payload["authorizing_integration_owners"]),
        }
        data = interaction.payload["data"]
        if interaction.type == 2:
            meta["name"] = data["name"]
            meta["command_type"] = data.get("type", 1)
            if data.get("type") == 3:
                meta["target_message_id"] = data["target_id"]
            elif data.get("type") == 2:
                meta["target_user"] = copy.deepcopy(self._users.get(data["target_id"]))
        elif interaction.type == 3 and interaction.message_id:
            meta["interacted_message_id"] = interaction.message_id
        elif interaction.type == 5 and interaction.triggered_by is not None:
            meta["triggering_interaction_metadata"] = self._interaction_metadata(interaction.triggered_by)
        if interaction.original_message_id:
            meta["original_response_message_id"] = interaction.original_message_id
        return meta

    def _edit_message(self, msg: JSON, payload: JSON, files: list[RecordedFile]) -> JSON:
        was_loading = bool(msg["flags"] & FLAG_LOADING)
        if "content" in payload:
            msg["content"] = payload["content"] or ""
            msg["mentions"] = self._mentions_for(msg["content"], payload.get("allowed_mentions"))
        if "embeds" in payload:
            msg["embeds"] = [normalize_embed(e) for e in payload["embeds"] or []]
        if "components" in payload:
            msg["components"] = list(payload["components"] or [])
        if payload.get("flags") is not None:
            keep = msg["flags"] & FLAG_EPHEMERAL
            msg["flags"] = (int(payload["flags"]) & SENDABLE_FLAGS & ~FLAG_EPHEMERAL) | keep
        if "attachments" in payload or files:
            ephemeral = bool(msg["flags"] & FLAG_EPHEMERAL)
            msg["attachments"] = self._attachments_for(msg["channel_id"], payload, files, msg["attachments"], ephemeral)
        msg["flags"] &= ~FLAG_LOADING
        if not was_loading:
            msg["edited_timestamp"] = iso_now()
        return msg

    async def _echo(self, event: str, msg: JSON) -> None:
        if not self.echo_messages or not self._sessions or msg["flags"] & FLAG_EPHEMERAL:
            return
        if event == "MESSAGE_DELETE":
            data: JSON = {"id": msg["id"], "channel_id": msg["channel_id"]}
            channel = self._channels.get(msg["channel_id"])
            if channel and channel.get("guild_id"):
                data["guild_id"] = channel["guild_id"]
            await self.dispatch(event, data)
        else:
            await self.dispatch(event, self.gateway_message(msg))

    def _delete_message(self, msg: JSON) -> None:
        self._messages.pop(msg["id"], None)
        self.deleted_messages.append(msg)

    # ------------------------------------------------------------------ REST handlers

    async def _r_no_content(self, req: _Req) -> _Reply:
        return _Reply(204)

    async def _r_get_me(self, req: _Req) -> _Reply:
        return _Reply(200, {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})

    async def _r_my_guilds(self, req: _Req) -> _Reply:
        """GET /users/@me/guilds: partial guilds the bot is a member of, with its guild-level permissions."""
        bot_id = self.bot_user["id"]
        guilds = [
            {
                "id": gid,
                "name": guild["name"],
                "icon": None,
                "owner": guild["owner_id"] == bot_id,
                "permissions": str(self.permissions(bot_id, gid)),
                "features": [],
            }
            for gid, guild in self._guilds.items()
            if (gid, bot_id) in self._members
        ]
        return _Reply(200, guilds)

    async def _r_get_user(self, req: _Req) -> _Reply:
        user = self._users.get(req.params["user_id"])
        return _Reply(200, user) if user else _not_found("User", 10013)

    async def _r_create_dm(self, req: _Req) -> _Reply:
        user = self._users.get(str((req.json or {}).get("recipient_id")))
        if user is None:
            return _not_found("User", 10013)
        return _Reply(200, self.dm_channel(user))

    async def _r_get_application(self, req: _Req) -> _Reply:
        return _Reply(200, {**self.application, "bot": self.bot_user})

    async def _r_get_gateway(self, req: _Req) -> _Reply:
        body: JSON = {"url": self.gateway_url}
        if req.path.endswith("/bot"):
            body["shards"] = 1
            body["session_start_limit"] = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _Reply(200, body)

    async def _r_put_commands(self, req: _Req) -> _Reply:
        if req.params["app_id"] != self.application_id:
            return _not_found("Application", 10002)
        refused = command_errors(req.json)
        if refused is not None:
            return _Reply(*refused)
        scope = req.params.get("guild_id")
        previous = {(c["name"], int(c.get("type", 1))): c["id"] for c in self._commands.get(scope, [])}
        stored: list[JSON] = []
        for cmd in req.json or []:
            ctype = int(cmd.get("type", 1))
            out = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **cmd,
                "id": previous.get((cmd["name"], ctype)) or self.snowflake(),
                "application_id": self.application_id,
                "version": self.snowflake(),
                "type": ctype,
            }
            if scope is not None:
                out["guild_id"] = scope
            stored.append(out)
        self._commands[scope] = stored
        return _Reply(200, copy.deepcopy(stored))

    async def _r_get_commands(self, req: _Req) -> _Reply:
        return _Reply(200, copy.deepcopy(self._commands.get(req.params.get("guild_id"), [])))

    async def _r_callback(self, req: _Req) -> _Reply:
        inter = self._interactions_by_id.get(req.params["interaction_id"])
        if inter is None or inter.token != req.params["token"]:
            return _not_found("interaction", 10062)
        if inter.response_type is not None:
            return _Reply(400, error_body("Interaction has already been acknowledged.", 40060))
        if inter.sent_at is not None and self.now() - inter.sent_at > self.ack_deadline:
            status, body = unknown_interaction()
            return _Reply(status, body)
        payload = req.json or {}
        cb_type = int(payload.get("type", 0))
        data: JSON = payload.get("data") or {}
        if cb_type in (4, 7):
            refused = self._message_refusal(data, req.files, inter.upload_limit)
            if refused is not None:
                return refused
        inter.response_type = cb_type
        msg: JSON | None = None
        if cb_type in (4, 5):
            kind = MESSAGE_DEFAULT
            if inter.type == 2:
                kind = MESSAGE_CHAT_INPUT_COMMAND if inter.command_type == 1 else MESSAGE_CONTEXT_MENU_COMMAND
            if cb_type == 4:
                msg = self._create_bot_message(inter.channel_id, data, req.files, message_type=kind, interaction=inter)
            else:
                loading = {"content": "", "flags": int(data.get("flags") or 0) & FLAG_EPHEMERAL}
                msg = self._create_bot_message(
                    inter.channel_id, loading, [], message_type=kind, extra_flags=FLAG_LOADING, interaction=inter
                )
            inter.original_message_id = msg["id"]
            await self._echo("MESSAGE_CREATE", msg)
        elif cb_type in (6, 7) and inter.message_id is not None:
            inter.original_message_id = inter.message_id
            target = self._messages.get(inter.message_id)
            if cb_type == 7 and target is not None:
                msg = self._edit_message(target, data, req.files)
                await self._echo("MESSAGE_UPDATE", msg)
        elif cb_type == 9:
            inter.modal = copy.deepcopy(data)
            self._modals[str(data.get("custom_id"))] = inter.modal
            self._modal_origins[str(data.get("custom_id"))] = inter

        if req.query.get("with_response", "").lower() not in ("1", "true"):
            return _Reply(204)
        interaction_info: JSON = {"id": inter.id, "type": inter.type}
        resource: JSON = {"type": cb_type}
        if msg is not None:
            interaction_info["response_message_id"] = msg["id"]
            interaction_info["response_message_loading"] = bool(msg["flags"] & FLAG_LOADING)
            interaction_info["response_message_ephemeral"] = bool(msg["flags"] & FLAG_EPHEMERAL)
            resource["message"] = copy.deepcopy(msg)
        return _Reply(200, {"interaction": interaction_info, "resource": resource})

    def _webhook_interaction(self, req: _Req) -> FakeInteraction | None:
        inter = self._interactions_by_token.get(req.params["token"])
        if inter is None or inter.application_id != req.params["app_id"]:
            return None
        return inter

    def _webhook_refusal(self, inter: FakeInteraction, req: _Req) -> _Reply | None:
        """Interaction webhooks need a live token, not channel permissions; writes obey the message rules."""
        if not self.token_alive(inter):
            return self._refusal(invalid_token())
        if req.method in ("POST", "PATCH"):
            return self._message_refusal(req.json, req.files, inter.upload_limit)
        return None

    async def _r_followup(self, req: _Req) -> _Reply:
        inter = self._webhook_interaction(req)
        if inter is None or inter.response_type is None:
            return _not_found("Webhook", 10015)
        payload = req.json or {}
        refused = self._webhook_refusal(inter, req)
        if refused is not None:
            return refused
        original = self.original_message(inter)
        if inter.response_type == 5 and original is not None and original["flags"] & FLAG_LOADING:
            # Discord: the first follow-up after a deferred response replaces the loading message.
            msg = self._edit_message(original, payload, req.files)
            await self._echo("MESSAGE_UPDATE", msg)
        else:
            msg = self._create_bot_message(inter.channel_id, payload, req.files, interaction=inter)
            inter.followup_message_ids.append(msg["id"])
            await self._echo("MESSAGE_CREATE", msg)
        if req.query.get("wait", "").lower() in ("1", "true"):
            return _Reply(200, copy.deepcopy(msg))
        return _Reply(204)

    async def _r_webhook_message(self, req: _Req) -> _Reply:
        inter = self._webhook_interaction(req)
        if inter is None:
            return _not_found("Webhook", 10015)
        refused = self._webhook_refusal(inter, req)
        if refused is not None:
            return refused
        mid = req.params["message_id"]
        if mid == "@original":
            mid = inter.original_message_id or ""
        elif mid != inter.original_message_id and mid not in inter.followup_message_ids:
            return _not_found("Message", 10008)
        msg = self._messages.get(mid)
        if msg is None:
            return _not_found("Message", 10008)
        if req.method == "GET":
            # REST reads are subject to the MESSAGE_CONTENT rule just like gateway events.
            gated = copy.deepcopy(msg)
            if self.enforce_message_content_intent:
                in_guild = self._channels[msg["channel_id"]].get("guild_id") is not None
                self._gate_message(gated, in_guild=in_guild, intents=self.intents)
            return _Reply(200, gated)
        if req.method == "DELETE":
            self._delete_message(msg)
            await self._echo("MESSAGE_DELETE", msg)
            return _Reply(204)
        self._edit_message(msg, req.json or {}, req.files)
        await self._echo("MESSAGE_UPDATE", msg)
        return _Reply(200, copy.deepcopy(msg))

    async def _r_get_channel(self, req: _Req) -> _Reply:
        channel = self._channels.get(req.params["channel_id"])
        return _Reply(200, copy.deepcopy(channel)) if channel else _not_found("Channel", 10003)

    async def _r_list_messages(self, req: _Req) -> _Reply:
        cid = req.params["channel_id"]
        channel = self._channels.get(cid)
        if channel is None:
            return _not_found("Channel", 10003)
        refused = self._channel_refusal(channel, req)
        if refused is not None:
            return refused
        if channel.get("guild_id") and not self.channel_permissions(self.bot_user["id"], cid) & READ_MESSAGE_HISTORY:
            return _Reply(200, [])  # Discord: without READ_MESSAGE_HISTORY the history is simply empty
        msgs = self.channel_messages(cid, include_ephemeral=False)
        if "before" in req.query:
            msgs = [m for m in msgs if int(m["id"]) < int(req.query["before"])]
        if "after" in req.query:
            msgs = [m for m in msgs if int(m["id"]) > int(req.query["after"])]
        limit = int(req.query.get("limit", 50))
        newest_first = list(reversed(msgs))[:limit]
        return _Reply(200, copy.deepcopy(newest_first))

    async def _r_create_message(self, req: _Req) -> _Reply:
        cid = req.params["channel_id"]
        channel = self._channels.get(cid)
        if channel is None:
            return _not_found("Channel", 10003)
        refused = self._channel_refusal(channel, req)
        if refused is not None:
            return refused
        payload = req.json or {}
        if not (payload.get("content") or payload.get("embeds") or req.files or payload.get("components")):
            return _Reply(400, error_body("Cannot send an empty message", 50006))
        refused = self._message_refusal(payload, req.files, self.upload_limit)
        if refused is not None:
            return refused
        msg = self._create_bot_message(cid, payload, req.files)
        await self._echo("MESSAGE_CREATE", msg)
        return _Reply(200, copy.deepcopy(msg))

    async def _r_channel_message(self, req: _Req) -> _Reply:
        channel = self._channels.get(req.params["channel_id"])
        if channel is None:
            return _not_found("Channel", 10003)
        refused = self._channel_refusal(channel, req)
        if refused is not None:
            return refused
        msg = self._messages.get(req.params["message_id"])
        if msg is None or msg["channel_id"] != req.params["channel_id"] or msg["flags"] & FLAG_EPHEMERAL:
            return _not_found("Message", 10008)
        if req.method == "GET":
            # REST reads are subject to the MESSAGE_CONTENT rule just like gateway events.
            gated = copy.deepcopy(msg)
            if self.enforce_message_content_intent:
                in_guild = self._channels[msg["channel_id"]].get("guild_id") is not None
                self._gate_message(gated, in_guild=in_guild, intents=self.intents)
            return _Reply(200, gated)
        if req.method == "DELETE":
            self._delete_message(msg)
            await self._echo("MESSAGE_DELETE", msg)
            return _Reply(204)
        if msg["author"]["id"] != self.bot_user["id"]:
            return _Reply(403, error_body("Cannot edit a message authored by another user", 50005))
        refused = self._message_refusal(req.json, req.files, self.upload_limit)
        if refused is not None:
            return refused
        self._edit_message(msg, req.json or {}, req.files)
        await self._echo("MESSAGE_UPDATE", msg)
        return _Reply(200, copy.deepcopy(msg))

    async def _r_get_guild(self, req: _Req) -> _Reply:
        if req.params["guild_id"] not in self._guilds:
            return _not_found("Guild", 10004)
        guild = self.guild_payload(req.params["guild_id"])
        for key in ("channels", "members", "threads", "presences", "voice_states", "joined_at", "member_count"):
            guild.pop(key, None)
        return _Reply(200, guild)

    async def _r_get_guild_channels(self, req: _Req) -> _Reply:
        guild = self._guilds.get(req.params["guild_id"])
        if guild is None:
            return _not_found("Guild", 10004)
        return _Reply(200, [copy.deepcopy(self._channels[c]) for c in guild["channel_ids"]])

    async def _r_get_member(self, req: _Req) -> _Reply:
        member = self._members.get((req.params["guild_id"], req.params["user_id"]))
        return _Reply(200, copy.deepcopy(member)) if member else _not_found("Member", 10007)


# ---------------------------------------------------------------------- module helpers


def _method_ok(wanted: str, actual: str) -> bool:
    return wanted == "*" or wanted.upper() == actual.upper()


def _custom_ids(components: list[JSON]) -> set[str]:
    found: set[str] = set()
    for comp in components:
        if "custom_id" in comp:
            found.add(str(comp["custom_id"]))
        for key in ("components", "accessory", "component"):
            child = comp.get(key)
            if isinstance(child, list):
                found |= _custom_ids(child)
            elif isinstance(child, dict):
                found |= _custom_ids([child])
    return found


def _submit_component(comp: JSON, values: dict[str, Any], counter: Iterator[int]) -> JSON:
    """One component of a modal-submit payload, mirroring the modal the bot sent."""
    ctype = int(comp["type"])
    cid = comp.get("id") or next(counter)
    if ctype == 1:  # ActionRow (legacy modal layout)
        return {"type": 1, "id": cid, "components": [_submit_component(c, values, counter) for c in comp["components"]]}
    if ctype == 18:  # Label (discord.py 2.6+): {"component": <input>}
        return {"type": 18, "id": cid, "component": _submit_component(comp["component"], values, counter)}
    if ctype == 10:  # TextDisplay
        return {"type": 10, "id": cid, "content": comp.get("content", "")}
    custom_id = str(comp.get("custom_id"))
    out: JSON = {"type": ctype, "id": cid, "custom_id": custom_id}
    given = values.pop(custom_id, None)
    if ctype == 4:  # TextInput
        out["value"] = str(given) if given is not None else str(comp.get("value") or "")
    elif ctype == 21:  # RadioGroup
        out["value"] = given
    elif ctype == 23:  # Checkbox
        out["value"] = bool(given)
    else:  # selects (3, 5-8), file upload (19), checkbox group (22)
        out["values"] = [str(v) for v in given] if given is not None else []
    return out
