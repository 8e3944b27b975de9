"""The fake Discord's records and small helpers: what it recorded, what it holds, how it routes (shared by the
modules of ``FakeDiscord``)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.discord_payloads import (
    JSON,
    error_body,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from aiohttp import web


API_PREFIX = "/api/v10"
# Loop iterations the fake yields after writing an HTTP response before recording it (see _http_handler).
SETTLE_ITERATIONS = 20
# Bot-token routes that write a message (create, edit, delete): what the channel write limit counts.
MESSAGE_WRITE = re.compile(r"/channels/\d+/messages(?:/\d+)?")


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
class Fault:
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
class StoredFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Reply:
    status: int
    body: Any = None  # None -> empty body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[RecordedFile]
    params: dict[str, str]


@dataclass(eq=False)
class GatewayConnection:
    ws: web.WebSocketResponse
    number: int
    query: dict[str, str]
    closed: bool = False


@dataclass(eq=False)
class Session:
    """One gateway session, i.e. one shard: its own sequence numbers and RESUME replay buffer."""

    id: str
    intents: int | None
    shard: tuple[int, int]  # (shard_id, shard_count); (0, 1) when IDENTIFY carried no shard
    active: GatewayConnection | None
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


def event_guild(event: str, data: Any) -> str | None:
    """The guild a dispatch event belongs to (GUILD_CREATE/UPDATE/DELETE carry it as ``id``)."""
    if not isinstance(data, dict):
        return None
    if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        return str(data["id"])
    guild_id = data.get("guild_id")
    return None if guild_id is None else str(guild_id)


Handler = Callable[[Req], "Awaitable[Reply]"]


def not_found(what: str, code: int) -> Reply:
    return Reply(404, error_body(f"Unknown {what}", code))


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def method_ok(wanted: str, actual: str) -> bool:
    return wanted == "*" or wanted.upper() == actual.upper()
