"""Every refusal a member reads: why the bot did not take a request (the engine's reasons, worded), nothing stored
or charged.

A sibling of ``bot.surface.texts`` under the same rule: the reporter (``bot.surface.reporting``) decides where the
words go, never what they say.
"""

from __future__ import annotations

import math

from bot.engine.credits import refill_time
from bot.engine.errors import (
    Banned,
    CooldownActive,
    FetchFailure,
    InsufficientCredits,
    InvalidOptions,
    MemberPaused,
    ModelRefused,
    ModelUnavailable,
    NsfwNotAllowed,
    QueueFull,
    ReapiPaused,
    Refusal,
    SettingProblem,
    SettingRejected,
    SourceProblem,
    SourceRefused,
    SpendCapReached,
    TermBlocked,
    UnavailableHere,
)
from bot.surface import texts_models
from bot.surface.i18n import _, translate_module
from bot.surface.texts import credits_text

__all__ = ["banned_where", "refusal_text"]


# -- refusals (the engine's reasons, worded) ------------------------------------------------------------------

_SOURCE_TEXTS: dict[SourceProblem, str] = {
    SourceProblem.URL_TOO_LONG: "`{url}` is {length:,} characters long; links can be at most {limit:,}.",
    SourceProblem.NOT_A_URL: "`{url}` is not a valid URL.",
    SourceProblem.BAD_SCHEME: "`{url}`: only http:// and https:// image links work (this one uses {scheme}).",
    SourceProblem.CREDENTIALS: "`{url}`: links with a user name or password are not accepted.",
    SourceProblem.NO_HOST: "`{url}` has no host name.",
    SourceProblem.LOCALHOST: "`{url}` points at this machine; use a public image link.",
    SourceProblem.PRIVATE_ADDRESS: "`{url}` points at a private or reserved address; use a public image link.",
    SourceProblem.NO_IMAGES: "Give me at least one image: attach it, or paste its link in `urls`.",
    SourceProblem.TOO_MANY: "You gave {count} images; I can combine at most {limit} at once.",
    SourceProblem.WRONG_TYPE: "{image} is `{declared}`; only JPEG, PNG or WebP images can be edited.",
    SourceProblem.TOO_LARGE: "{image} is {size_mb:.1f} MB; the limit is {limit_mb} MB.",
    SourceProblem.LARGER_THAN: "{image} is larger than {limit_mb} MB.",
    SourceProblem.NOT_AN_IMAGE: "{image} is not a JPEG, PNG or WebP image.",
    SourceProblem.HTTP_STATUS: "{image} could not be fetched (HTTP {status}).",
    SourceProblem.UNREACHABLE: "{image} could not be fetched ({why}).",
    SourceProblem.TOO_MANY_REDIRECTS: "{image} redirects too many times.",
}

_FETCH_TEXTS: dict[FetchFailure, str] = {
    FetchFailure.TIMEOUT: "timed out",
    FetchFailure.PRIVATE: "`{host}` points at a private or reserved address; use a public image link",
    FetchFailure.DNS: "the name `{host}` could not be found",
    FetchFailure.CERTIFICATE: "`{host}` has no valid HTTPS certificate",
    FetchFailure.UNREACHABLE: "`{host}` could not be reached",
    FetchFailure.BROKEN: "the connection broke off",
    FetchFailure.UNUSABLE: "the server's answer was not usable",
}


def _shown_url(url: str) -> str:
    # Shown inside `code`: a backtick in the link must not end it and let the rest render as Markdown.
    return (url if len(url) <= 80 else url[:77] + "…").replace("`", "ˋ")


def _source_text(refusal: SourceRefused) -> str:
    facts = dict(refusal.facts)
    if "url" in facts:
        facts["url"] = _shown_url(str(facts["url"]))
    if "host" in facts:
        facts["host"] = _shown_url(str(facts["host"]))
    if "size" in facts:
        facts["size_mb"] = int(facts["size"]) / 1048576
    if "limit" in facts and refusal.problem in (SourceProblem.TOO_LARGE, SourceProblem.LARGER_THAN):
        facts["limit_mb"] = int(facts["limit"]) // 1048576
    if "why" in facts:
        facts["why"] = _(_FETCH_TEXTS[FetchFailure(facts["why"])]).format(**facts)
    return _(_SOURCE_TEXTS[refusal.problem]).format(**facts)


def banned_where(scope: str) -> str:
    """Where a ban applies, in words: a refusal's and /credits' banned line share it."""
    return _("on this bot") if scope == "global" else _("in this server")


def refusal_text(refusal: Refusal) -> str:
    """The ephemeral answer to a request the engine refused (nothing was stored or charged)."""
    if isinstance(refusal, SourceRefused):
        return _source_text(refusal)
    moderated = _moderation_text(refusal)
    if moderated is not None:
        return moderated
    if isinstance(refusal, Banned):
        return _("You are banned from creating images {where}. Nothing was charged.").format(
            where=banned_where(refusal.scope)
        )
    if isinstance(refusal, InsufficientCredits):
        return _("You have {balance} and an image costs {cost}. Your allowance refills {refill}.").format(
            balance=credits_text(refusal.balance),
            cost=credits_text(refusal.cost),
            refill=refill_time(refusal.next_refill_at),
        )
    if isinstance(refusal, QueueFull) and refusal.per_user:
        return _(
            "You already have {limit} images waiting. Wait for one to start (or cancel one), "
            "then try again. Nothing was charged."
        ).format(limit=refusal.limit)
    if isinstance(refusal, QueueFull):
        return _("The queue is full right now. Please try again in a minute. Nothing was charged.")
    if isinstance(refusal, SpendCapReached):
        return _("The bot has used up today's image budget. Please try again {when}. Nothing was charged.").format(
            when=refill_time(refusal.reset_at)
        )
    if isinstance(refusal, ReapiPaused) and refusal.reason == "401":
        return _(
            "The bot's reAPI key was refused, so new images are paused "
            "(until {until} at the earliest). The bot owners have been told. Nothing was charged."
        ).format(until=refill_time(refusal.until))
    if isinstance(refusal, ReapiPaused):
        return _(
            "The bot's reAPI account has run out of credits, so new images are paused "
            "(until {until} at the earliest). Nothing was charged."
        ).format(until=refill_time(refusal.until))
    if isinstance(refusal, CooldownActive):
        # A Discord timestamp, rendered in the member's own timezone and language ("in 5 seconds").
        again = refill_time(math.ceil(refusal.retry_at))
        return _("You are starting images too quickly. You can start another one {again}.").format(again=again)
    if isinstance(refusal, ModelRefused):
        return texts_models.model_refused(refusal)
    if isinstance(refusal, ModelUnavailable):
        return texts_models.model_unavailable(refusal)
    if isinstance(refusal, InvalidOptions):
        return _("Those image options are not valid, so nothing was charged.")
    return _("That request was refused. Nothing was charged.")


# -- server settings (/settings) and moderation ---------------------------------------------------------------


def _moderation_text(refusal: Refusal) -> str | None:
    """Refusals from the server's settings and the moderation rules; never repeats the term that matched."""
    if isinstance(refusal, UnavailableHere):
        return _("This server's admins don't allow the bot in this channel. Try another channel. Nothing was charged.")
    if isinstance(refusal, TermBlocked) and refusal.by_server:
        return _(
            "Your prompt contains a term that is blocked by this server's rules, so it was not sent. "
            "Please rephrase it. Nothing was charged."
        )
    if isinstance(refusal, TermBlocked):
        return _(
            "Your prompt contains a term that is blocked by the bot's rules, so it was not sent. "
            "Please rephrase it. Nothing was charged."
        )
    if isinstance(refusal, NsfwNotAllowed) and refusal.rule == "never":
        return _("Your prompt looks NSFW, and this server does not allow that. Nothing was charged.")
    if isinstance(refusal, NsfwNotAllowed):
        return _(
            "Your prompt looks NSFW: this server allows that only in age-restricted channels. Nothing was charged."
        )
    if isinstance(refusal, MemberPaused):
        return _(
            "reAPI refused {strikes} of your prompts today under its content policy, so you are paused "
            "here until {until}. Nothing was charged."
        ).format(strikes=refusal.strikes, until=refill_time(refusal.until))
    if isinstance(refusal, SettingRejected):
        return _setting_text(refusal)
    return None


def _setting_text(refusal: SettingRejected) -> str:
    facts = refusal.facts
    problem = refusal.problem
    if problem is SettingProblem.TERM_EMPTY:
        return _("The term is empty.")
    if problem is SettingProblem.TERM_TOO_LONG:
        return _("A term can be at most {limit} characters long.").format(limit=facts["limit"])
    if problem is SettingProblem.TERM_CHARACTERS:
        return _("A term may hold letters, digits, spaces, hyphens, apostrophes and `*` (any letters) only.")
    if problem is SettingProblem.TERM_TOO_SHORT:
        return _("A term needs at least two letters or digits besides `*`.")
    if problem is SettingProblem.TOO_MANY_TERMS:
        return _("This server already blocks {limit} terms, the most allowed. Unblock one first.").format(
            limit=facts["limit"]
        )
    if problem is SettingProblem.TERM_NOT_LISTED:
        return _("That term is not on this server's blocked list. `/settings show` lists them.")
    if problem is SettingProblem.TOO_MANY_CHANNELS:
        return _("The channel list can hold at most {limit} channels.").format(limit=facts["limit"])
    if problem is SettingProblem.UNKNOWN_MODEL:
        return _("That model is not available. Choose one of: {allowed}, or `default`.").format(
            allowed=facts["allowed"]
        )
    if problem is SettingProblem.UNKNOWN_ASPECT_RATIO:
        return _("That aspect ratio is not available. Choose one of: {allowed}, or `default`.").format(
            allowed=facts["allowed"]
        )
    if problem is SettingProblem.COST_OUT_OF_RANGE:
        return _("The bot owner lets servers set a cost per image from {low} to {high} credits.").format(
            low=facts["low"], high=facts["high"]
        )
    if problem is SettingProblem.ALLOWANCE_OUT_OF_RANGE:
        return _("The bot owner lets servers set an allowance from 0 to {high} credits.").format(high=facts["high"])
    if problem is SettingProblem.UNKNOWN_CHOICE:
        return _("That is not one of the choices: {allowed}.").format(allowed=facts["allowed"])
    if problem is SettingProblem.NOTHING_TO_CHANGE:
        return _("Nothing changed: that is already the setting.")
    return _("Other admins are changing the settings right now. Please try again in a moment.")


translate_module(__name__)
