"""FakeDiscord's world: the users, guilds, channels, messages and files tests build, and lookups."""

from __future__ import annotations

import asyncio
import copy
import urllib.parse
from typing import Any

import yarl

from tests.fakes.discord_payloads import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    BOT_ROLE_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
    JSON,
    iso_now,
    make_application,
    make_attachment,
    make_dm_channel,
    make_guild,
    make_member,
    make_role,
    make_text_channel,
    make_user,
)
from tests.fakes.discord_rules import (
    Refusal,
    cannot_dm,
    channel_permissions,
    form_errors,
    message_permission_refusal,
    upload_refusal,
)
from tests.fakes.fake_control import FakeControl
from tests.fakes.fake_records import FakeInteraction, RecordedFile, Reply, Req, StoredFile


class FakeWorld(FakeControl):
    """Building the world and finding messages and interactions in it (a part of FakeDiscord)."""

    def _found_world(self, guild_name: str) -> None:
        """The bot's user and application, its owner, a member, and a guild with its first channel."""
        self.application_id = self.snowflake()
        self.bot_user = self._register_user(make_user(self.application_id, "imagine-bot", bot=True))
        self.owner_user = self.make_user("owner")
        self.member_user = self.make_user("member")
        self.guild_id = self.add_guild(guild_name)
        self.everyone_role_id = self.guild_id
        self.admin_role_id = self._guilds[self.guild_id]["admin_role_id"]
        self.bot_role_id = self._guilds[self.guild_id]["bot_role_id"]
        self.channel_id = self._guilds[self.guild_id]["channel_ids"][0]
        self.application = make_application(self.application_id, "imagine-bot", self.owner_user)

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
        self._files[(channel_id, attachment_id)] = StoredFile(filename, attachment["content_type"], data)
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

    def _refusal(self, refusal: Refusal | None) -> Reply | None:
        return None if refusal is None else Reply(refusal[0], refusal[1])

    def _message_refusal(self, payload: Any, files: list[RecordedFile], limit: int) -> Reply | None:
        """The rules every message write obeys, on any route: lengths, then the upload size."""
        return self._refusal(form_errors(payload) or upload_refusal((len(f.data) for f in files), limit))

    def _channel_refusal(self, channel: JSON, req: Req) -> Reply | None:
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
