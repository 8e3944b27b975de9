"""One server's settings (``/settings``) and the rules for changing them within the operator's limits.

A server's admins may restrict the channels the bot works in, pick a default model and aspect ratio, set the cost
per image and the allowance (within ``[servers]`` limits), add blocked terms, choose the NSFW rule, turn
reply-to-edit off and name a log channel for moderator alerts. Unset values fall back to the operator's config.
Settings are stored as one JSON document per server; unknown keys are ignored so that older processes can read
what newer ones wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from bot.engine.errors import SettingProblem, SettingRejected
from bot.engine.moderation import NsfwRule, clean_term

if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = [
    "ChannelMode",
    "GuildSettings",
    "Limits",
    "clamp",
]


class ChannelMode(StrEnum):
    """Where in a server the bot may be used."""

    EVERYWHERE = "everywhere"
    ONLY_LISTED = "only_listed"  # an allow-list
    EXCEPT_LISTED = "except_listed"  # a deny-list


@dataclass(frozen=True, slots=True)
class Limits:
    """What the operator lets a server choose (from ``[servers]``, ``[credits]`` and the enabled models)."""

    models: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    min_cost: int
    max_cost: int
    max_allowance: int
    max_terms: int
    max_channels: int


def clamp(value: int, low: int, high: int) -> int:
    """``value`` within ``low`` and ``high`` (a server's value after the operator tightened the limits)."""
    return max(low, min(high, value))


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """What one server's admins set; ``None`` everywhere means "the operator's default"."""

    channel_mode: ChannelMode = ChannelMode.EVERYWHERE
    channels: frozenset[int] = field(default_factory=frozenset)
    model: str | None = None
    aspect_ratio: str | None = None
    cost_per_image: int | None = None
    allowance: int | None = None
    blocked_terms: tuple[str, ...] = ()
    nsfw_rule: NsfwRule | None = None
    reply_edit: bool = True
    log_channel_id: int | None = None

    # -- storage ----------------------------------------------------------------------------------

    def to_json(self) -> str:
        """The stored document (only what differs from the defaults)."""
        data: dict[str, Any] = {
            "channel_mode": self.channel_mode.value,
            "channels": sorted(self.channels),
            "model": self.model,
            "aspect_ratio": self.aspect_ratio,
            "cost_per_image": self.cost_per_image,
            "allowance": self.allowance,
            "blocked_terms": list(self.blocked_terms),
            "nsfw_rule": self.nsfw_rule.value if self.nsfw_rule is not None else None,
            "reply_edit": self.reply_edit,
            "log_channel_id": self.log_channel_id,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> GuildSettings:
        """Read a stored document; a value that no longer makes sense falls back to its default."""
        data = json.loads(text) if text else {}
        if not isinstance(data, dict):
            return cls()

        def number(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        def text_value(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        mode = text_value("channel_mode") or ""
        rule = text_value("nsfw_rule") or ""
        channels = data.get("channels")
        terms = data.get("blocked_terms")
        return cls(
            channel_mode=ChannelMode(mode) if mode in _MODES else ChannelMode.EVERYWHERE,
            channels=frozenset(c for c in channels if isinstance(c, int))
            if isinstance(channels, list)
            else frozenset(),
            model=text_value("model"),
            aspect_ratio=text_value("aspect_ratio"),
            cost_per_image=number("cost_per_image"),
            allowance=number("allowance"),
            blocked_terms=tuple(t for t in terms if isinstance(t, str)) if isinstance(terms, list) else (),
            nsfw_rule=NsfwRule(rule) if rule in _RULES else None,
            reply_edit=data.get("reply_edit") is not False,
            log_channel_id=number("log_channel_id"),
        )

    # -- reading ----------------------------------------------------------------------------------

    def allows_channel(self, channel_ids: Collection[int]) -> bool:
        """Whether the bot may be used in a channel (``channel_ids``: the channel and, for a thread, its parent)."""
        if self.channel_mode is ChannelMode.EVERYWHERE:
            return True
        listed = any(c in self.channels for c in channel_ids)
        return listed if self.channel_mode is ChannelMode.ONLY_LISTED else not listed

    # -- changes (each returns the new settings; SettingRejected when the value is not allowed) ---------

    def with_channel_mode(self, mode: str) -> GuildSettings:
        """Everywhere, only in the listed channels, or everywhere but them."""
        return replace(self, channel_mode=_choice(ChannelMode, mode))

    def with_channel(self, channel_id: int, *, listed: bool, limits: Limits) -> GuildSettings:
        """Add a channel to the list, or take it off."""
        channels = self.channels | {channel_id} if listed else self.channels - {channel_id}
        if channels == self.channels:
            raise SettingRejected(SettingProblem.NOTHING_TO_CHANGE)
        if len(channels) > limits.max_channels:
            raise SettingRejected(SettingProblem.TOO_MANY_CHANNELS, limit=limits.max_channels)
        return replace(self, channels=frozenset(channels))

    def with_defaults(self, *, model: str | None, aspect_ratio: str | None, limits: Limits) -> GuildSettings:
        """The default model and aspect ratio ("default" puts the operator's back)."""
        if model is None and aspect_ratio is None:
            raise SettingRejected(SettingProblem.NOTHING_TO_CHANGE)
        new = self
        if model is not None:
            if model != "default" and model not in limits.models:
                raise SettingRejected(SettingProblem.UNKNOWN_MODEL, allowed=", ".join(limits.models))
            new = replace(new, model=None if model == "default" else model)
        if aspect_ratio is not None:
            if aspect_ratio != "default" and aspect_ratio not in limits.aspect_ratios:
                raise SettingRejected(SettingProblem.UNKNOWN_ASPECT_RATIO, allowed=", ".join(limits.aspect_ratios))
            new = replace(new, aspect_ratio=None if aspect_ratio == "default" else aspect_ratio)
        return new

    def with_credits(
        self, *, cost_per_image: int | None, allowance: int | None, reset: bool, limits: Limits
    ) -> GuildSettings:
        """The cost per image and allowance in this server, within the operator's limits; ``reset``: the operator's."""
        if reset:
            return replace(self, cost_per_image=None, allowance=None)
        if cost_per_image is None and allowance is None:
            raise SettingRejected(SettingProblem.NOTHING_TO_CHANGE)
        new = self
        if cost_per_image is not None:
            if not limits.min_cost <= cost_per_image <= limits.max_cost:
                raise SettingRejected(SettingProblem.COST_OUT_OF_RANGE, low=limits.min_cost, high=limits.max_cost)
            new = replace(new, cost_per_image=cost_per_image)
        if allowance is not None:
            if not 0 <= allowance <= limits.max_allowance:
                raise SettingRejected(SettingProblem.ALLOWANCE_OUT_OF_RANGE, high=limits.max_allowance)
            new = replace(new, allowance=allowance)
        return new

    def with_term(self, raw: str, *, blocked: bool, limits: Limits) -> tuple[GuildSettings, str]:
        """Block a term, or lift it; returns the new settings and the term as stored."""
        term = clean_term(raw)
        if blocked:
            if term in self.blocked_terms:
                raise SettingRejected(SettingProblem.NOTHING_TO_CHANGE)
            if len(self.blocked_terms) >= limits.max_terms:
                raise SettingRejected(SettingProblem.TOO_MANY_TERMS, limit=limits.max_terms)
            return replace(self, blocked_terms=(*self.blocked_terms, term)), term
        if term not in self.blocked_terms:
            raise SettingRejected(SettingProblem.TERM_NOT_LISTED)
        return replace(self, blocked_terms=tuple(t for t in self.blocked_terms if t != term)), term

    def with_nsfw_rule(self, rule: str) -> GuildSettings:
        """Where NSFW-flagged prompts may be used ("default": the operator's rule)."""
        return replace(self, nsfw_rule=None if rule == "default" else _choice(NsfwRule, rule))

    def with_reply_edit(self, enabled: bool) -> GuildSettings:
        """Turn reply-to-edit (mention the bot in a reply to an image) on or off."""
        return replace(self, reply_edit=enabled)

    def with_log_channel(self, channel_id: int | None) -> GuildSettings:
        """Where moderator alerts go (``None``: nowhere)."""
        return replace(self, log_channel_id=channel_id)


_MODES = frozenset(m.value for m in ChannelMode)
_RULES = frozenset(r.value for r in NsfwRule)
_E = TypeVar("_E", bound=StrEnum)


def _choice(enum: type[_E], value: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise SettingRejected(SettingProblem.UNKNOWN_CHOICE, allowed=", ".join(e.value for e in enum)) from None
