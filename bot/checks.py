"""``imagine-bot check``: is this installation ready? One OK / WARN / FAIL line per item, each FAIL with its fix.

It talks to the same endpoints the bot uses (``discord.api_base_url`` through discord.py's own HTTP client, the
configured reAPI base URL, ``database.url``) and changes nothing there: no gateway connection, no command sync,
no reAPI submit. Opening the database applies pending migrations, exactly as the bot's start would.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import yarl

from bot.reapi import ReapiClient, ReapiError, ReapiStatusError, RetryPolicy, TaskNotFound, Unauthorized
from bot.store import open_store
from bot.store.migrations import migrations_for

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bot.config import Settings

__all__ = [
    "INVITE_PERMISSIONS",
    "INVITE_SCOPES",
    "Finding",
    "Status",
    "application_id",
    "exit_code",
    "invite_url",
    "render",
    "run_checks",
    "secrets_of",
]

INVITE_SCOPES = ("bot", "applications.commands")
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)
"""What the bot needs in a channel: see it, post and edit results there (and in threads), with embeds and files."""

# Application flags: the privileged Message Content intent, enabled (verified apps) or limited (unverified apps).
_MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)
_TEXT_CHANNEL_TYPES = frozenset({0, 5})  # text, announcement
_GUILD_PAGE = 200  # Discord's page size for GET /users/@me/guilds
_TIMEOUT = 30.0  # seconds for each part, so an unresponsive endpoint cannot hang the check
_PORTAL = "https://discord.com/developers/applications"


class Status(enum.StrEnum):
    """How one checked item stands."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report: what was checked, what was found and, unless OK, how to fix it."""

    status: Status
    item: str
    detail: str
    fix: str = ""


def invite_url(app_id: int) -> str:
    """The OAuth2 URL that adds the bot with its slash commands and exactly the permissions it needs."""
    return discord.utils.oauth_url(app_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret in the settings (token, reAPI key, database password), to be redacted from any output."""
    found = [settings.discord.token.get_secret_value(), settings.reapi.api_key.get_secret_value()]
    with contextlib.suppress(ValueError):
        found.append(yarl.URL(settings.database.url).password or "")
    return [s for s in found if s]


def render(findings: Iterable[Finding], *, secrets: Iterable[str] = ()) -> str:
    """The report as text: a status column, the item, what was found, and an indented fix under each problem."""
    rows = list(findings)
    width = max((len(f.item) for f in rows), default=0)
    lines = []
    for finding in rows:
        lines.append(f"{finding.status.value:<4}  {finding.item:<{width}}  {finding.detail}")
        if finding.fix and finding.status is not Status.OK:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {finding.fix}")
    text = "\n".join(lines)
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when nothing failed (warnings allowed), 1 when anything did."""
    return 1 if any(f.status is Status.FAIL for f in findings) else 0


async def run_checks(settings: Settings) -> list[Finding]:
    """Check the database, Discord (token, application, intents, guild permissions) and reAPI, in that order."""
    findings = [await _check_database(settings)]
    findings += await _check_discord(settings)
    findings.append(await _check_reapi(settings))
    return findings


async def application_id(settings: Settings) -> int:
    """The application id behind ``discord.token`` (GET /oauth2/applications/@me).

    Raises
    ------
    discord.LoginFailure
        Discord refused the token.
    """
    http = _http(settings)
    try:
        await http.static_login(settings.discord.token.get_secret_value())
        return int((await http.application_info())["id"])
    finally:
        await http.close()


# -- database ---------------------------------------------------------------------------------------------------


async def _check_database(settings: Settings) -> Finding:
    url = settings.database.url
    backend = "sqlite" if url.startswith("sqlite:") else "postgres"
    newest = migrations_for(backend)[-1][0]
    try:
        store = await asyncio.wait_for(open_store(url), _TIMEOUT)
    except Exception as exc:  # any driver error (refused, auth, unwritable folder, bad URL) means "cannot open"
        return Finding(
            Status.FAIL,
            "database",
            f"cannot open database.url ({backend}): {_brief(exc)}",
            "check database.url; for SQLite that the folder is writable, for PostgreSQL that the server runs, "
            "is reachable from here and accepts these credentials",
        )
    try:
        version = await store.schema_version()
    finally:
        await store.close()
    if version > newest:
        return Finding(
            Status.FAIL,
            "database",
            f"schema version {version} is newer than this imagine-bot knows ({newest})",
            "a newer imagine-bot used this database: upgrade imagine-bot (downgrading is not supported)",
        )
    return Finding(Status.OK, "database", f"{backend} reachable, schema version {version} (current)")


# -- Discord ----------------------------------------------------------------------------------------------------


def _http(settings: Settings) -> discord.http.HTTPClient:
    from bot.surface.app import redirect_discord

    redirect_discord(settings)
    return discord.http.HTTPClient(asyncio.get_running_loop())


async def _check_discord(settings: Settings) -> list[Finding]:
    http = _http(settings)
    try:
        return await asyncio.wait_for(_discord_findings(settings, http), _TIMEOUT * 2)
    except discord.LoginFailure:
        return [
            Finding(
                Status.FAIL,
                "Discord token",
                "Discord refused discord.token (401 Unauthorized)",
                f"copy a fresh token from {_PORTAL} → your app → Bot → Reset Token into IMAGINEBOT_DISCORD__TOKEN",
            )
        ]
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return [
            Finding(
                Status.FAIL,
                "Discord",
                f"cannot reach Discord at {settings.discord.api_base_url}: {_brief(exc)}",
                "check the network, a proxy, or discord.api_base_url",
            )
        ]
    except discord.HTTPException as exc:
        return [
            Finding(
                Status.FAIL,
                "Discord",
                f"Discord answered {exc.status} ({exc.code})",
                "try again later; see https://discordstatus.com",
            )
        ]
    finally:
        await http.close()


async def _discord_findings(settings: Settings, http: discord.http.HTTPClient) -> list[Finding]:
    me = await http.static_login(settings.discord.token.get_secret_value())
    found = [Finding(Status.OK, "Discord token", f"valid: bot user {me['username']} (id {me['id']})")]
    app = await http.application_info()
    app_id = int(app["id"])
    if app.get("interactions_endpoint_url"):
        found.append(
            Finding(
                Status.FAIL,
                "application",
                f"{app['name']} (id {app_id}) sends interactions to an endpoint URL, not to the bot",
                f"clear Interactions Endpoint URL in {_PORTAL} → your app → General Information",
            )
        )
    else:
        found.append(Finding(Status.OK, "application", f"{app['name']} (id {app_id})"))
    found.append(_intents(settings, int(app.get("flags") or 0)))
    found += await _guilds(http, int(me["id"]), app_id)
    return found


def _intents(settings: Settings, flags: int) -> Finding:
    if not settings.discord.message_content_intent:
        return Finding(Status.OK, "intents", "no privileged intent needed (discord.message_content_intent = false)")
    if flags & _MESSAGE_CONTENT_FLAGS:
        return Finding(Status.OK, "intents", "Message Content intent enabled, as discord.message_content_intent asks")
    return Finding(
        Status.FAIL,
        "intents",
        "discord.message_content_intent = true but the Message Content intent is not enabled for the app",
        f"enable it in {_PORTAL} → your app → Bot → Privileged Gateway Intents, "
        "or set discord.message_content_intent = false",
    )


async def _guilds(http: discord.http.HTTPClient, bot_id: int, app_id: int) -> list[Finding]:
    guilds = await http.get_guilds(_GUILD_PAGE, with_counts=False)
    if not guilds:
        return [Finding(Status.WARN, "servers", "the bot is in no server yet", f"invite it: {invite_url(app_id)}")]
    found = []
    if len(guilds) >= _GUILD_PAGE:
        found.append(Finding(Status.WARN, "servers", f"only the first {_GUILD_PAGE} servers are checked"))
    for partial in guilds:
        guild = await http.get_guild(partial["id"], with_counts=False)
        member = await http.get_member(partial["id"], bot_id)
        channels = await http.get_all_guild_channels(partial["id"])
        found.append(_guild_finding(guild, member, channels, bot_id, app_id))
    return found


def _guild_finding(guild: Any, member: Any, channels: list[Any], bot_id: int, app_id: int) -> Finding:
    item = f"server {guild['name']}"
    role_ids = {str(r) for r in member.get("roles", [])}
    base = _guild_permissions(guild, role_ids, bot_id)
    missing = _missing(base)
    if missing:
        return Finding(
            Status.FAIL,
            item,
            f"the bot's roles lack {missing} (server id {guild['id']})",
            f"give its role these permissions in Server Settings → Roles, or re-invite it: {invite_url(app_id)}",
        )
    lacking: list[str] = []
    visible = hidden = 0
    for channel in channels:
        if int(channel.get("type", 0)) not in _TEXT_CHANNEL_TYPES:
            continue
        perms = _channel_permissions(base, channel, guild, role_ids, bot_id)
        if not perms.view_channel:
            hidden += 1
            continue
        visible += 1
        gap = _missing(perms)
        if gap:
            lacking.append(f"#{channel.get('name', channel['id'])}: {gap}")
    if lacking:
        return Finding(
            Status.FAIL,
            item,
            "the bot sees but cannot fully use " + "; ".join(lacking),
            "allow these permissions for the bot's role in each channel's settings "
            "(or deny it View Channel there, so members do not use the bot in that channel)",
        )
    note = f" ({hidden} hidden from the bot)" if hidden else ""
    return Finding(Status.OK, item, f"all needed permissions in {visible} text channel(s){note}")


def _guild_permissions(guild: Any, role_ids: set[str], bot_id: int) -> discord.Permissions:
    if str(guild.get("owner_id")) == str(bot_id):
        return discord.Permissions.all()
    value = 0
    for role in guild.get("roles", []):
        # The @everyone role has the guild's id and applies to every member.
        if str(role["id"]) == str(guild["id"]) or str(role["id"]) in role_ids:
            value |= int(role["permissions"])
    perms = discord.Permissions(value)
    return discord.Permissions.all() if perms.administrator else perms


def _channel_permissions(
    base: discord.Permissions, channel: Any, guild: Any, role_ids: set[str], bot_id: int
) -> discord.Permissions:
    """Discord's order: @everyone overwrite, then the member's role overwrites together, then its own."""
    if base.administrator:
        return base
    value = base.value
    overwrites = {str(o["id"]): o for o in channel.get("permission_overwrites") or []}
    everyone = overwrites.get(str(guild["id"]))
    if everyone is not None:
        value = (value & ~int(everyone["deny"])) | int(everyone["allow"])
    allow = deny = 0
    for role_id in role_ids:
        overwrite = overwrites.get(role_id)
        if overwrite is not None and int(overwrite.get("type", 0)) == 0:
            allow |= int(overwrite["allow"])
            deny |= int(overwrite["deny"])
    value = (value & ~deny) | allow
    own = overwrites.get(str(bot_id))
    if own is not None and int(own.get("type", 1)) == 1:
        value = (value & ~int(own["deny"])) | int(own["allow"])
    return discord.Permissions(value)


def _missing(perms: discord.Permissions) -> str:
    names = [name for name, wanted in INVITE_PERMISSIONS if wanted and not getattr(perms, name)]
    return ", ".join(name.replace("_", " ").title() for name in names)


# -- reAPI ------------------------------------------------------------------------------------------------------


async def _check_reapi(settings: Settings) -> Finding:
    reapi = settings.reapi
    if reapi.use_simulator:
        return Finding(
            Status.WARN,
            "reAPI",
            "simulator mode: images come from the built-in simulator and nothing is spent",
            "set reapi.api_key (IMAGINEBOT_REAPI__API_KEY) and leave reapi.simulate unset to generate real images",
        )
    # A poll of a made-up task is harmless and free: 404 means the key was accepted, 401 that it was refused.
    once = RetryPolicy(max_attempts=1, base_delay=0, max_delay=0, max_retry_after=0)
    try:
        client = ReapiClient(
            base_url=reapi.base_url,
            api_key=reapi.api_key.get_secret_value(),
            model=reapi.model,
            timeout=aiohttp.ClientTimeout(total=_TIMEOUT),
            poll_policy=once,
        )
    except ValueError as exc:
        return Finding(Status.FAIL, "reAPI", f"cannot use the settings: {exc}", "check reapi.base_url and the key")
    async with client:
        try:
            await client.get_task(f"task_imaginebot_check_{secrets.token_hex(8)}")
        except TaskNotFound:
            return Finding(Status.OK, "reAPI", f"key accepted by {reapi.base_url}")
        except Unauthorized:
            return Finding(
                Status.FAIL,
                "reAPI",
                f"{reapi.base_url} refused reapi.api_key (401)",
                "copy a valid key (rk_live_…) from your reAPI dashboard into IMAGINEBOT_REAPI__API_KEY",
            )
        except ReapiStatusError as exc:
            return Finding(
                Status.FAIL,
                "reAPI",
                f"{reapi.base_url} answered {exc.status}",
                "check reapi.base_url; if it is right, try again later",
            )
        except ReapiError as exc:
            return Finding(
                Status.FAIL,
                "reAPI",
                f"cannot reach {reapi.base_url}: {type(exc).__name__}",
                "check the network, a proxy, or reapi.base_url",
            )
    return Finding(Status.OK, "reAPI", f"key accepted by {reapi.base_url}")


def _brief(exc: BaseException) -> str:
    """An exception as one short line: its type and first line (driver messages can be long)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
