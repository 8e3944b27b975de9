"""Discord's rules the fake enforces: deadlines, message limits, upload size and channel permissions.

Pure functions over payloads (no server state), so each rule reads like Discord's documentation and the
fake (``fake_discord.py``) only decides *where* a rule applies. Every refusal is an error body in Discord's
JSON shape, so discord.py raises the same ``HTTPException`` subclass with the same ``.code`` as in production.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.fakes.discord_payloads import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACH_FILES,
    EMBED_LINKS,
    JSON,
    MENTION_EVERYONE,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    error_body,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "ACK_DEADLINE",
    "TOKEN_LIFETIME",
    "Refusal",
    "cannot_dm",
    "channel_permissions",
    "command_errors",
    "form_errors",
    "invalid_token",
    "message_permission_refusal",
    "rate_limited",
    "too_large",
    "unknown_interaction",
    "upload_refusal",
]

# Discord: an interaction must be acknowledged within 3 s; its token then works for 15 minutes.
ACK_DEADLINE = 3.0
TOKEN_LIFETIME = 15 * 60.0

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_FIELDS = 25
# (key path inside one embed, limit); the total counts exactly these texts.
_EMBED_TEXT_LIMITS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("title",), 256),
    (("description",), 4096),
    (("footer", "text"), 2048),
    (("author", "name"), 256),
)
_FIELD_LIMITS: tuple[tuple[str, int], ...] = (("name", 256), ("value", 1024))

# Discord: without SEND_MESSAGES these are implicitly denied in a text channel; without VIEW_CHANNEL, everything.
_NEEDS_SEND = MENTION_EVERYONE | EMBED_LINKS | ATTACH_FILES | (1 << 12)  # 1 << 12: SEND_TTS_MESSAGES

Refusal = tuple[int, JSON]
"""An HTTP status and Discord's JSON error body."""


def unknown_interaction() -> Refusal:
    """A callback later than the ACK deadline (or to an interaction Discord forgot)."""
    return 404, error_body("Unknown interaction", 10062)


def invalid_token() -> Refusal:
    """A webhook call with an interaction token past its 15 minutes (or killed early)."""
    return 401, error_body("Invalid Webhook Token", 50027)


def too_large() -> Refusal:
    """Uploads over the size limit."""
    return 413, error_body("Request entity too large", 40005)


def rate_limited(retry_after: float) -> Refusal:
    """429 over a rate limit: Discord's body, with the exact seconds to wait (its headers come with the limit)."""
    return 429, {"message": "You are being rate limited.", "retry_after": round(retry_after, 3), "global": False}


def cannot_dm() -> Refusal:
    """A DM to a member who does not accept DMs from the bot."""
    return 403, error_body("Cannot send messages to this user", 50007)


def _missing_access() -> Refusal:
    return 403, error_body("Missing Access", 50001)


def _missing_permissions() -> Refusal:
    return 403, error_body("Missing Permissions", 50013)


def _max_length(limit: int) -> JSON:
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}]}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _embed_errors(embed: JSON) -> tuple[JSON, int]:
    """Per-key errors of one embed, and the length it adds to the 6,000 total."""
    errors: JSON = {}
    total = 0
    for path, limit in _EMBED_TEXT_LIMITS:
        node: Any = embed
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        text = _text(node)
        total += len(text)
        if len(text) > limit:
            target = errors
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = _max_length(limit)
    fields = embed.get("fields") or []
    if len(fields) > MAX_FIELDS:
        errors["fields"] = _max_length(MAX_FIELDS)
    for index, field in enumerate(fields):
        for key, limit in _FIELD_LIMITS:
            text = _text(field.get(key))
            total += len(text)
            if len(text) > limit:
                errors.setdefault("fields", {}).setdefault(str(index), {})[key] = _max_length(limit)
    return errors, total


def form_errors(payload: JSON | None) -> Refusal | None:
    """400 code 50035 (Invalid Form Body) when content or embeds break Discord's length limits."""
    if not isinstance(payload, dict):
        return None
    errors: JSON = {}
    content = _text(payload.get("content"))
    if len(content) > MAX_CONTENT:
        errors["content"] = _max_length(MAX_CONTENT)
    embeds = payload.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        errors["embeds"] = _max_length(MAX_EMBEDS)
    else:
        total = 0
        per_embed: JSON = {}
        for index, embed in enumerate(embeds):
            found, size = _embed_errors(embed if isinstance(embed, dict) else {})
            total += size
            if found:
                per_embed[str(index)] = found
        if per_embed:
            errors["embeds"] = per_embed
        elif total > MAX_EMBED_TOTAL:
            message = f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"
            errors["embeds"] = {"_errors": [{"code": "MAX_EMBED_SIZE_EXCEEDED", "message": message}]}
    if not errors:
        return None
    return 400, {"message": "Invalid Form Body", "code": 50035, "errors": errors}


# Discord's locales (the keys a *_localizations map may use).
LOCALES = frozenset(
    [
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    ]
)
# Chat-input command, group and option names, localized ones too: lowercase where a letter has a lowercase form.
_NAME = re.compile(r"^[-_\w]{1,32}$")


def _name_problem(name: Any, *, chat_input: bool) -> str | None:
    if not isinstance(name, str) or not name:
        return "empty name"
    if not chat_input:  # a menu's name: 1 to 32 characters, spaces and capitals allowed
        return None if len(name) <= 32 else f"name too long: {name!r}"
    if not _NAME.fullmatch(name) or name != name.lower():
        return f"invalid name {name!r}"
    return None


def _localized(thing: JSON, key: str, check: Any, where: str) -> list[str]:
    problems = []
    default = thing.get(key)
    found = check(default)
    if found:
        problems.append(f"{where}.{key}: {found}")
    for locale, text in (thing.get(f"{key}_localizations") or {}).items():
        if locale not in LOCALES:
            problems.append(f"{where}.{key}_localizations: unknown locale {locale!r}")
        found = check(text)
        if found:
            problems.append(f"{where}.{key}_localizations.{locale}: {found}")
    return problems


def _length(low: int, high: int) -> Any:
    def check(text: Any) -> str | None:
        ok = isinstance(text, str) and low <= len(text) <= high
        return None if ok else f"must be {low} to {high} characters: {text!r}"

    return check


def _option_problems(option: JSON, where: str) -> list[str]:
    problems = _localized(option, "name", lambda n: _name_problem(n, chat_input=True), where)
    problems += _localized(option, "description", _length(1, 100), where)
    for index, choice in enumerate(option.get("choices") or []):
        problems += _localized(choice, "name", _length(1, 100), f"{where}.choices.{index}")
    for index, sub in enumerate(option.get("options") or []):
        problems += _option_problems(sub, f"{where}.options.{index}")
    return problems


def command_errors(commands: Any) -> Refusal | None:
    """400 code 50035 when a command breaks Discord's naming rules (its localizations included).

    Chat-input names match ``^[-_\\p{L}\\p{N}]{1,32}$`` and are lowercase; descriptions and choice names hold 1 to
    100 characters; menus (user/message commands) have no description and may use spaces and capitals.
    """
    problems: list[str] = []
    for index, command in enumerate(commands if isinstance(commands, list) else []):
        chat_input = int(command.get("type", 1)) == 1
        where = str(index)
        problems += _localized(command, "name", lambda n, c=chat_input: _name_problem(n, chat_input=c), where)
        if chat_input:
            problems += _localized(command, "description", _length(1, 100), where)
        for number, option in enumerate(command.get("options") or []):
            problems += _option_problems(option, f"{where}.options.{number}")
    if not problems:
        return None
    errors = {"_errors": [{"code": "BASE_TYPE_INVALID", "message": problem} for problem in problems]}
    return 400, {"message": "Invalid Form Body", "code": 50035, "errors": errors}


def upload_refusal(sizes: Iterable[int], limit: int) -> Refusal | None:
    """413 code 40005 when the uploaded files together exceed ``limit`` bytes."""
    return too_large() if sum(sizes) > limit else None


def channel_permissions(
    base: int, overwrites: Sequence[JSON], *, everyone_id: str, role_ids: Iterable[str], member_id: str
) -> int:
    """A member's permissions in a text channel: guild permissions, then the channel's overwrites.

    Discord's order: the @everyone overwrite, then all of the member's role overwrites together, then the
    member's own overwrite; ADMINISTRATOR bypasses them; without VIEW_CHANNEL nothing is left, and without
    SEND_MESSAGES neither are the permissions that only qualify a message (embeds, files, mentions, TTS).
    """
    if base & ADMINISTRATOR:
        return ALL_PERMISSIONS
    by_target = {str(o["id"]): o for o in overwrites}
    perms = base
    everyone = by_target.get(everyone_id)
    if everyone is not None:
        perms = (perms & ~int(everyone["deny"])) | int(everyone["allow"])
    allow = deny = 0
    for role_id in role_ids:
        overwrite = by_target.get(role_id)
        if overwrite is not None and int(overwrite.get("type", 0)) == 0 and role_id != everyone_id:
            allow |= int(overwrite["allow"])
            deny |= int(overwrite["deny"])
    perms = (perms & ~deny) | allow
    own = by_target.get(member_id)
    if own is not None and int(own.get("type", 1)) == 1:
        perms = (perms & ~int(own["deny"])) | int(own["allow"])
    if not perms & VIEW_CHANNEL:
        return 0
    if not perms & SEND_MESSAGES:
        perms &= ~_NEEDS_SEND
    return perms


def message_permission_refusal(perms: int, *, method: str, payload: JSON | None, has_files: bool) -> Refusal | None:
    """403 for a bot-token message request the bot's channel permissions don't allow.

    Any message route needs VIEW_CHANNEL (else 50001 Missing Access); posting needs SEND_MESSAGES, and a post
    or edit that carries embeds needs EMBED_LINKS and one that uploads files ATTACH_FILES (else 50013).
    """
    if not perms & VIEW_CHANNEL:
        return _missing_access()
    if method == "POST" and not perms & SEND_MESSAGES:
        return _missing_permissions()
    if method not in ("POST", "PATCH"):
        return None
    body = payload if isinstance(payload, dict) else {}
    if body.get("embeds") and not perms & EMBED_LINKS:
        return _missing_permissions()
    if has_files and not perms & ATTACH_FILES:
        return _missing_permissions()
    return None
