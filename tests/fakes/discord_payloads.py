"""Discord API v10 payload builders for the fake Discord server (see ``fake_discord.py``).

Shapes follow discord.py 2.7's parsers (``state.py``, ``guild.py``, ``member.py``, ``message.py``,
``interactions.py``, ``appinfo.py``); keys those parsers index directly (``KeyError`` if missing) are
always present: user ``username``/``discriminator``/``avatar``, member ``roles``/``flags``, text channel
``name``/``position``, message ``type``/``content``, attachment ``size``/``url``/``proxy_url``,
interaction ``attachment_size_limit``, app info ``description``/``icon``/``verify_key``/...
"""

from __future__ import annotations

import datetime
import io
import mimetypes
import re
import struct
import time
from typing import Any

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
BOT_ROLE_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY | ADD_REACTIONS

# Gateway intents / message flags / interaction enums used by the fake.
INTENT_MESSAGE_CONTENT = 1 << 15
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_IS_COMPONENTS_V2 = 1 << 15
SENDABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_IS_COMPONENTS_V2

MESSAGE_DEFAULT = 0
MESSAGE_REPLY = 19
MESSAGE_CHAT_INPUT_COMMAND = 20
MESSAGE_CONTEXT_MENU_COMMAND = 23

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

_MENTION_RE = re.compile(r"<@!?(\d{15,21})>")


class SnowflakeGenerator:
    """Realistic, strictly increasing snowflakes (as strings) derived from the current time."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> str:
        now_ms = int(time.time() * 1000)
        candidate = (now_ms - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return str(self._last)

    def on_shard(self, shard_id: int, shard_count: int) -> str:
        """The next snowflake that, as a guild id, Discord routes to ``shard_id`` of ``shard_count``.

        The shard is ``(id >> 22) % shard_count``, the timestamp part: moved up to the next matching millisecond
        (at most ``shard_count - 1`` ms ahead), so ids stay strictly increasing.
        """
        if not 0 <= shard_id < shard_count:
            raise ValueError(f"no shard {shard_id} of {shard_count}")
        millis = (int(self()) >> 22) + 1  # past every id handed out so far
        millis += (shard_id - millis) % shard_count
        self._last = millis << 22
        return str(self._last)


def iso_now() -> str:
    """An ISO-8601 UTC timestamp as Discord sends them."""
    return datetime.datetime.now(datetime.UTC).isoformat()


def make_user(
    user_id: str, username: str, *, bot: bool = False, global_name: str | None = None, avatar: str | None = None
) -> JSON:
    return {
        "id": user_id,
        "username": username,
        "discriminator": "0",
        "global_name": global_name if global_name is not None else (None if bot else username.title()),
        "avatar": avatar,
        "bot": bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }


def make_role(
    role_id: str, name: str, permissions: int, *, position: int, managed: bool = False, bot_id: str | None = None
) -> JSON:
    role: JSON = {
        "id": role_id,
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "managed": managed,
        "mentionable": False,
        "flags": 0,
    }
    if bot_id is not None:
        role["tags"] = {"bot_id": bot_id}
    return role


def make_member(user: JSON, role_ids: list[str], *, joined_at: str | None = None) -> JSON:
    """A guild member *with* its user (GUILD_CREATE / interaction shape, minus ``permissions``)."""
    return {
        "user": user,
        "nick": None,
        "avatar": None,
        "banner": None,
        "roles": list(role_ids),
        "joined_at": joined_at or iso_now(),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }


def partial_member(member: JSON) -> JSON:
    """The member object without ``user`` as embedded in MESSAGE_CREATE (author member, mentions)."""
    return {k: v for k, v in member.items() if k != "user"}


def make_text_channel(channel_id: str, guild_id: str, name: str, *, position: int) -> JSON:
    return {
        "id": channel_id,
        "type": 0,
        "guild_id": guild_id,
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "topic": None,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def make_dm_channel(channel_id: str, recipient: JSON) -> JSON:
    return {"id": channel_id, "type": 1, "recipients": [recipient], "last_message_id": None, "flags": 0}


def make_guild(
    guild_id: str,
    name: str,
    *,
    owner_id: str,
    roles: list[JSON],
    channels: list[JSON],
    members: list[JSON],
    joined_at: str,
) -> JSON:
    """A full GUILD_CREATE payload (available guild, no presences/voice/threads)."""
    return {
        "id": guild_id,
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": owner_id,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "system_channel_id": channels[0]["id"] if channels else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "application_id": None,
        "features": [],
        "roles": roles,
        "emojis": [],
        "stickers": [],
        "soundboard_sounds": [],
        "channels": channels,
        "threads": [],
        "members": members,
        "member_count": len(members),
        "large": False,
        "unavailable": False,
        "lazy": True,
        "joined_at": joined_at,
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "incidents_data": None,
    }


def make_application(app_id: str, name: str, owner: JSON, *, bot: JSON | None = None) -> JSON:
    """GET /oauth2/applications/@me."""
    app: JSON = {
        "id": app_id,
        "name": name,
        "icon": None,
        "description": "imagine-bot (fake Discord)",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "owner": owner,
        "team": None,
        "flags": 0,
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "approximate_guild_count": 1,
        "integration_types_config": {"0": {}, "1": {}},
    }
    if bot is not None:
        app["bot"] = bot
    return app


def mentioned_ids(content: str) -> list[str]:
    """User ids in ``<@id>`` / ``<@!id>`` mentions, in order, without duplicates."""
    seen: list[str] = []
    for found in _MENTION_RE.findall(content or ""):
        if found not in seen:
            seen.append(found)
    return seen


def guess_content_type(filename: str, data: bytes) -> str:
    """Discord sniffs uploads; discord.py always sends ``application/octet-stream``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) for images (PNG header fast path, Pillow otherwise), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    try:
        from PIL import Image  # optional, lazily imported

        with Image.open(io.BytesIO(data)) as img:
            return int(img.width), int(img.height)
    except Exception:
        return None


def make_attachment(
    attachment_id: str,
    filename: str,
    data: bytes,
    *,
    url: str,
    content_type: str | None = None,
    description: str | None = None,
    ephemeral: bool = False,
) -> JSON:
    ctype = content_type if content_type and content_type != "application/octet-stream" else None
    ctype = ctype or guess_content_type(filename, data)
    attachment: JSON = {
        "id": attachment_id,
        "filename": filename,
        "size": len(data),
        "url": url,
        "proxy_url": url,
        "content_type": ctype,
        "flags": 0,
    }
    if description is not None:
        attachment["description"] = description
    if ephemeral:
        attachment["ephemeral"] = True
    if ctype.startswith("image/"):
        size = image_size(data)
        if size is not None:
            attachment["width"], attachment["height"] = size
    return attachment


def make_message(
    message_id: str,
    channel_id: str,
    author: JSON,
    content: str,
    *,
    message_type: int = MESSAGE_DEFAULT,
    flags: int = 0,
    tts: bool = False,
    mentions: list[JSON] | None = None,
    attachments: list[JSON] | None = None,
    embeds: list[JSON] | None = None,
    components: list[JSON] | None = None,
) -> JSON:
    """A message as the REST API returns it (no ``guild_id``/``member``: those are gateway-only)."""
    return {
        "id": message_id,
        "channel_id": channel_id,
        "author": author,
        "content": content,
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": tts,
        "mention_everyone": False,
        "mentions": list(mentions or []),
        "mention_roles": [],
        "mention_channels": [],
        "attachments": list(attachments or []),
        "embeds": [normalize_embed(e) for e in embeds or []],
        "reactions": [],
        "pinned": False,
        "type": message_type,
        "flags": flags,
        "components": list(components or []),
    }


def normalize_embed(embed: JSON) -> JSON:
    out = dict(embed)
    out.setdefault("type", "rich")
    return out


def error_body(message: str, code: int) -> JSON:
    return {"message": message, "code": code}
