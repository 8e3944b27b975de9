"""The fake Discord's state: everything it knows and records, read by every part of ``FakeDiscord``, and where
it listens."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tests.fakes.discord_payloads import (
    ATTACHMENT_SIZE_LIMIT,
    JSON,
    SnowflakeGenerator,
)
from tests.fakes.discord_rules import (
    ACK_DEADLINE,
    TOKEN_LIFETIME,
)
from tests.fakes.fake_records import (
    API_PREFIX,
    FakeInteraction,
    Fault,
    GatewayConnection,
    GatewayFrame,
    Handler,
    HeldRequest,
    RecordedRequest,
    Session,
    StoredFile,
)

if TYPE_CHECKING:
    import re

    from aiohttp import web

    from tests.fakes.discord_ratelimit import ChannelWriteLimiter

__all__ = ["FakeState"]


class FakeState:
    """The state of a fake Discord (see ``tests/fakes/fake_discord.py``); the parts built on it add behaviour."""

    # Set by FakeWorld when it founds the world (the bot's user, its owner, a member, a guild and its channel).
    application_id: str
    bot_user: JSON
    owner_user: JSON
    member_user: JSON
    guild_id: str
    everyone_role_id: str
    admin_role_id: str
    bot_role_id: str
    channel_id: str
    application: JSON

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
        self._faults: list[Fault] = []
        self._holds: list[HeldRequest] = []
        self._unsettled: set[int] = set()

        # --- server
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

        # --- gateway
        self._gw_lock = asyncio.Lock()
        self._connections: list[GatewayConnection] = []
        self._sessions: dict[tuple[int, int], Session] = {}  # by (shard_id, shard_count)
        self._latest: Session | None = None  # the last IDENTIFY's session (the only one without sharding)
        self.undelivered: list[JSON] = []  # dispatch events no session's shard owned (nobody received them)

        # --- world state
        self._users: dict[str, JSON] = {}
        self._guilds: dict[str, JSON] = {}  # id -> {id, name, owner_id, roles, channel_ids, joined_at}
        self._members: dict[tuple[str, str], JSON] = {}
        self._channels: dict[str, JSON] = {}
        self._messages: dict[str, JSON] = {}
        self._files: dict[tuple[str, str], StoredFile] = {}
        self._attachments: dict[str, JSON] = {}  # test-provided attachments (add_attachment), by id
        self._interactions_by_id: dict[str, FakeInteraction] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}
        self._modals: dict[str, JSON] = {}
        self._modal_origins: dict[str, FakeInteraction] = {}
        self._commands: dict[str | None, list[JSON]] = {}  # None = global
        self._adhoc_command_ids: dict[tuple[str, int], str] = {}
        # Each member's client language (Discord sends it as every interaction's `locale`); unset: en-US.
        self.user_locales: dict[str, str] = {}
        self._route_table: list[tuple[str, re.Pattern[str], Handler, bool]] | None = None

        self._found_world(guild_name)

    def _found_world(self, guild_name: str) -> None:
        """Create the users, guild and channel every test starts with (``FakeWorld``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ where it listens

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
