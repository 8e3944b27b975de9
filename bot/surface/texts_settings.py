"""The wording of /settings and of the moderators' alerts (server admins read these; members read texts.py).

Split from ``bot.surface.texts`` only for size: the same rule holds, every sentence lives in a texts module.
"""

from __future__ import annotations

from bot.surface.i18n import _, translate_module
from bot.surface.texts import credits_text

__all__ = [
    "CHANNEL_MODE_LABELS",
    "NSFW_RULE_LABELS",
    "REPLY_EDIT_OFF",
    "SETTINGS_BLOCKED_TERMS",
    "SETTINGS_CHANNELS",
    "SETTINGS_CREDITS",
    "SETTINGS_DEFAULTS",
    "SETTINGS_LOG_CHANNEL",
    "SETTINGS_NONE",
    "SETTINGS_NO_CHANGES",
    "SETTINGS_NO_LOG_CHANNEL",
    "SETTINGS_NSFW",
    "SETTINGS_OFF",
    "SETTINGS_ON",
    "SETTINGS_ONLY",
    "SETTINGS_RECENT",
    "SETTINGS_REPLY_EDIT",
    "SETTINGS_SAVED_NOTE",
    "SETTINGS_TITLE",
    "SETTING_NAMES",
    "member_paused_alert",
    "not_one_of",
    "settings_change_line",
    "settings_changed",
    "settings_channels",
    "settings_credits",
    "settings_defaults",
    "settings_nsfw",
    "settings_terms",
]

SETTINGS_ONLY = "Only bot owners and server admins (Manage Server) can change `/settings`."
SETTINGS_TITLE = "Server settings"
SETTINGS_CHANNELS = "Channels"
SETTINGS_DEFAULTS = "Defaults"
SETTINGS_CREDITS = "Credits"
SETTINGS_BLOCKED_TERMS = "Blocked terms"
SETTINGS_NSFW = "NSFW rule"
SETTINGS_REPLY_EDIT = "Reply-to-edit"
SETTINGS_LOG_CHANNEL = "Moderator log channel"
SETTINGS_RECENT = "Recent changes"
SETTINGS_NO_CHANGES = "No changes yet."
SETTINGS_NONE = "none"
SETTINGS_ON = "on"
SETTINGS_OFF = "off"
SETTINGS_NO_LOG_CHANNEL = "none (alerts are not posted)"
SETTINGS_SAVED_NOTE = "Saved. Every bot process applies it within a few seconds."
REPLY_EDIT_OFF = "Reply-to-edit is turned off in this server. Use `/edit` or right-click → **Apps** → **Edit image**."
NSFW_RULE_LABELS = {
    "allow": "allowed everywhere",
    "age_restricted_only": "only in age-restricted channels",
    "never": "never",
}
CHANNEL_MODE_LABELS = {
    "everywhere": "everywhere",
    "only_listed": "only in",
    "except_listed": "everywhere except",
}
SETTING_NAMES = {
    "channel_mode": "channel rule",
    "channels": "channel list",
    "model": "default model",
    "aspect_ratio": "default aspect ratio",
    "credits": "credits",
    "defaults": "default model and aspect ratio",
    "blocked_terms": "blocked terms",
    "nsfw_rule": "NSFW rule",
    "reply_edit": "reply-to-edit",
    "log_channel": "moderator log channel",
}


def not_one_of(allowed: str) -> str:
    """A value that is not among an option's choices."""
    return _("That is not one of the choices: {allowed}.").format(allowed=allowed)


def settings_channels(mode: str, channels: str) -> str:
    """Where the bot works in this server, e.g. "only in #art, #memes"."""
    label = _(CHANNEL_MODE_LABELS.get(mode, mode))
    if mode == "everywhere":
        return label
    return f"{label} {channels or _(SETTINGS_NONE)}"


def settings_defaults(model: str, aspect_ratio: str, *, own_model: bool, own_ratio: bool) -> str:
    """The default model and aspect ratio, saying which are the bot owner's."""
    model_note = "" if own_model else _(" (bot default)")
    ratio_note = "" if own_ratio else _(" (bot default)")
    return _("Model: `{model}`{model_note}\nAspect ratio: `{aspect_ratio}`{ratio_note}").format(
        model=model, model_note=model_note, aspect_ratio=aspect_ratio, ratio_note=ratio_note
    )


def settings_credits(cost: int, allowance: int, *, own: bool, low: int, high: int, max_allowance: int) -> str:
    """The cost per image and allowance here, and what the bot owner lets the server choose."""
    whose = _("set by this server") if own else _("the bot's defaults")
    return _(
        "{cost} per image, {allowance} per refill ({whose}).\nAllowed: cost {low}–{high}, allowance 0–{max_allowance}."
    ).format(
        cost=credits_text(cost),
        allowance=credits_text(allowance),
        whose=whose,
        low=low,
        high=high,
        max_allowance=max_allowance,
    )


def settings_terms(count: int, shown: str) -> str:
    """How many terms the server blocks, and the list hidden behind spoilers."""
    if count == 0:
        return _("none (the bot owner's list still applies)")
    return f"{count}: {shown}"


def settings_nsfw(rule: str, *, own: bool) -> str:
    """The NSFW rule here."""
    label = _(NSFW_RULE_LABELS.get(rule, rule))
    return label if own else label + _(" (bot default)")


def settings_change_line(when: str, actor: str, setting: str, old: str, new: str) -> str:
    """One audit-log line: when, who, what changed from what to what."""
    return f"{when} {actor}: {_(SETTING_NAMES.get(setting, setting))} {old} → {new}"


def settings_changed(setting: str) -> str:
    """The admin's confirmation after a change."""
    changed = _("Changed the {setting}.").format(setting=_(SETTING_NAMES.get(setting, setting)))
    return f"{changed} {_(SETTINGS_SAVED_NOTE)}"


def member_paused_alert(user_mention: str, strikes: int, until: str) -> str:
    """The moderators' alert when a member is paused after too many content-policy failures."""
    return _(
        "{user_mention} had {strikes} prompts refused by reAPI's content policy today and is paused "
        "from creating images until {until}."
    ).format(user_mention=user_mention, strikes=strikes, until=until)


translate_module(__name__)
