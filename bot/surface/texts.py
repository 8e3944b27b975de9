"""Every sentence a member reads, in one place so a translator edits one file.

Constants are fixed wording; functions fill in the facts (numbers, names, times). Builders elsewhere
(``bot.surface.ui``, ``bot.surface.account_ui``, the cogs) decide where the words go, never what they say.
Command names and option descriptions stay with the commands: discord.py reads them from decorators and docstrings.
The engine's owner alerts (``bot.engine.spend``) stay in the engine, which must not import the surface.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

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
from bot.engine.failures import FailureCode, JobFailure
from bot.engine.progress import Progress, Stage
from bot.surface import texts_models
from bot.surface.i18n import _, translate_module

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ASPECT_LABELS",
    "BUTTON_LABELS",
    "PERMISSION_NAMES",
    "channel_refused_alert",
    "credits_text",
    "dm_delivery_note",
    "failure_reason",
    "failure_text",
    "permission_name",
    "progress_text",
    "refusal_text",
    "shorten",
]


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def credits_text(n: int) -> str:
    """``1 credit`` / ``5 credits`` in the member's language (the engine's own is English, for logs and the CLI)."""
    return (_("{n} credit") if n == 1 else _("{n} credits")).format(n=n)


# -- progress (the placeholder while a job runs) ---------------------------------------------------------------

SIMULATED = "simulated: no reAPI call was made"
QUEUED = "⏳ Queued"


def progress_text(progress: Progress, *, simulated: bool = False) -> str:
    """The placeholder line for a progress snapshot, e.g. '🎨 Generating… started <t:…:R>, usually ready <t:…:R>'.

    Discord renders ``<t:…:R>`` as "12 seconds ago" / "in 8 seconds" and keeps it current on every client, so a
    running job's line stays the same text and is edited only when its stage changes.
    """
    if progress.stage is Stage.QUEUED:
        if progress.position is None:
            line = _(QUEUED)
        elif progress.position_to is None:
            line = _("⏳ Queued: position {position}").format(position=progress.position)
        else:
            line = _("⏳ Queued: position {position}–{position_to}").format(
                position=progress.position, position_to=progress.position_to
            )
    elif progress.stage is Stage.SUBMITTING:
        line = _("📤 Submitting to reAPI…")
    elif progress.stage is Stage.GENERATING:
        line = _("🎨 Generating…")
        if progress.started_at is not None and progress.estimate:
            line = _("🎨 Generating… started {started}, usually ready {ready}").format(
                started=refill_time(progress.started_at), ready=refill_time(progress.started_at + progress.estimate)
            )
        elif progress.started_at is not None:
            line = _("🎨 Generating… started {started}").format(started=refill_time(progress.started_at))
    else:
        line = _("📥 Done: uploading the image…")
    if simulated:
        line += f"\n-# {_(SIMULATED)}"
    return line


# -- results (the embed under a finished image) -----------------------------------------------------------------

RESULT_SOURCES = "Sources"
RESULT_REQUESTED_BY = "Requested by"


def result_aspect(aspect_ratio: str) -> str:
    """The footer part naming the image's aspect ratio."""
    return _("aspect {aspect_ratio}").format(aspect_ratio=aspect_ratio)


def result_parent(parent_job_id: str) -> str:
    """The footer part naming the job an edit or reroll came from."""
    return _("from job {parent_job_id}").format(parent_job_id=parent_job_id)


def source_link_label(link: str, n: int) -> str:
    """The text of the ``n``-th source link: a Discord message, or an image elsewhere."""
    return (_("message {n}") if "/channels/" in link else _("image {n}")).format(n=n)


def more_sources(count: int) -> str:
    """The last line of a source list cut short."""
    return _("… and {count} more").format(count=count)


def dm_delivery_note(channel_id: int, missing: str) -> str:
    """The text of a result sent by DM because the channel refused the bot."""
    return _(
        "I couldn't post your image in <#{channel_id}>: I'm missing {missing} there. "
        "Here it is instead; the server's admins have been told."
    ).format(channel_id=channel_id, missing=missing)


# Discord's own names for the permissions the bot needs, as a member sees them in the server settings.
PERMISSION_NAMES = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "send_messages_in_threads": "Send Messages in Threads",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
}
MISSING_CHANNEL_GONE = "access (the channel is gone)"
MISSING_UNKNOWN = "a permission (Discord answered Missing Permissions)"


def permission_name(flag: str) -> str:
    """The name a member knows a permission by (``flag`` is discord.py's attribute name)."""
    return _(PERMISSION_NAMES[flag])


def missing_permissions(names: Sequence[str]) -> str:
    """Several missing permissions in one phrase (for the DM note and the owners' alert)."""
    return _(" and ").join(names)


# -- failures (the placeholder when a job ends without an image) ------------------------------------------------

_FAILURE_REASONS: dict[FailureCode, str] = {
    FailureCode.CANCELLED: "Cancelled.",
    FailureCode.REAPI_PAUSED: "The bot's reAPI account ran out of credits before this job was sent.",
    FailureCode.REAPI_400: "reAPI rejected the request.",
    FailureCode.REAPI_401: (
        "The bot is not set up correctly (its reAPI key was refused). The bot owners have been told."
    ),
    FailureCode.REAPI_402: "The bot's reAPI account is out of credits. The bot owner has to top it up.",
    FailureCode.REAPI_UNAVAILABLE: "reAPI is busy or unreachable right now. Please try again shortly.",
    FailureCode.OUTCOME_UNKNOWN: (
        "reAPI did not confirm the request. To avoid paying twice it was not sent again. You can try again."
    ),
    FailureCode.REAPI_SERVER_ERROR: (
        "reAPI failed while taking this request (an error on reAPI's side). It was not sent again, so that "
        "nobody pays twice. You can try again."
    ),
    FailureCode.INTERRUPTED_SUBMIT: (
        "The bot restarted while sending this request. To avoid paying twice it was not re-sent. You can try again."
    ),
    FailureCode.CONTENT_POLICY: "reAPI's content filter refused this request. Try rewording it.",
    FailureCode.TASK_FAILED: "reAPI could not make this image.",
    FailureCode.TASK_LOST: "reAPI no longer knows this task.",
    FailureCode.TIMEOUT: "reAPI did not finish in time.",
    FailureCode.NO_OUTPUT: "reAPI finished but returned no image.",
    FailureCode.DOWNLOAD_FAILED: "The finished image could not be downloaded from reAPI.",
    FailureCode.TOO_LARGE: "The image is too large to upload here.",
    FailureCode.DISCORD: "The image could not be posted on Discord.",
    FailureCode.INTERNAL: "Something went wrong on our side.",
}


def failure_reason(code: FailureCode | str, detail: str | None = None) -> str:
    """One sentence (or two) saying why a job failed; ``detail`` is escaped, it may come from reAPI."""
    try:
        code = FailureCode(code)
    except ValueError:
        return _("It failed.")
    reason = _(_FAILURE_REASONS[code])
    if code is FailureCode.REAPI_PAUSED and detail == "401":
        return _("The bot's reAPI key was refused, so new images are paused. The bot owners have been told.")
    if not detail:
        return reason
    shown = discord.utils.escape_mentions(discord.utils.escape_markdown(shorten(detail, 300)))
    if code is FailureCode.REAPI_400:
        return _("reAPI rejected the request: {detail}").format(detail=shown)
    if code is FailureCode.TASK_FAILED:
        return _("reAPI could not make this image ({detail}).").format(detail=shown)
    if code is FailureCode.INTERNAL:
        return _("Something went wrong on our side (error id {detail}).").format(detail=shown)
    return reason


def failure_text(failure: JobFailure, *, refunded: int) -> str:
    """The placeholder text when a job ends without an image."""
    text = f"❌ {failure_reason(failure.code, failure.detail)}"
    if refunded:
        refund = _("Your {n} credit was refunded.") if refunded == 1 else _("Your {n} credits were refunded.")
        text += "\n" + refund.format(n=refunded)
    return text


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


def _banned_where(scope: str) -> str:
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
            where=_banned_where(refusal.scope)
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


# -- errors the tree's reporter words ---------------------------------------------------------------------------

SERVER_ONLY = "This command only works in a server."
NOT_ALLOWED_HERE = "You are not allowed to use this here."


def unexpected_error(error_id: str) -> str:
    """The apology for an error nobody foresaw; ``error_id`` finds it in the log."""
    return _("Sorry, something went wrong on our side (error id `{error_id}`).").format(error_id=error_id)


# -- input checks -----------------------------------------------------------------------------------------------

PROMPT_EMPTY = "Your prompt is empty. Describe what you want, e.g. `a fox in the snow`."
PROMPT_NOT_TEXT = "The prompt must be text."


def prompt_too_long(length: int, limit: int) -> str:
    """A prompt past the length limit."""
    return _("Your prompt is {length:,} characters; the limit is {limit:,}.").format(length=length, limit=limit)


def unknown_aspect_ratio(shown: str, allowed: str) -> str:
    """An aspect ratio typed by hand (in a modal) that reAPI does not offer; ``shown`` is already made safe."""
    return _("`{shown}` is not an aspect ratio I know. Use one of: {allowed}.").format(shown=shown, allowed=allowed)


def aspect_ratio_not_listed(allowed: str) -> str:
    """An aspect ratio option outside the offered choices (only a modified client can send one)."""
    return _("That is not an aspect ratio I know. Pick one from the list: {allowed}.").format(allowed=allowed)


def number_out_of_range(name: str, low: int, high: int) -> str:
    """A whole-number option outside its bounds."""
    return _("`{name}` must be a whole number from {low:,} to {high:,}.").format(name=name, low=low, high=high)


def text_out_of_range(name: str, low: int, high: int) -> str:
    """A text option too short or too long."""
    return _("`{name}` must be a text of {low:,} to {high:,} characters.").format(name=name, low=low, high=high)


def not_a_flag(name: str) -> str:
    """A true/false option that is neither."""
    return _("`{name}` must be true or false.").format(name=name)


# The choice names of the aspect ratio option (the values are reAPI's and are not translated).
ASPECT_LABELS = {
    "auto": "auto (the model decides)",
    "1:1": "1:1 square",
    "16:9": "16:9 widescreen",
    "9:16": "9:16 phone / story",
    "4:3": "4:3 classic",
    "3:4": "3:4 portrait",
    "3:2": "3:2 photo",
    "2:3": "2:3 portrait photo",
    "21:9": "21:9 cinema",
}


def permissions_heads_up(missing: Sequence[str]) -> str:
    """Tell a member the result may not reach this channel, and what to ask an admin for."""
    names = ", ".join(f"**{name}**" for name in missing)
    return _(
        "Heads-up: I lack {names} in this channel. Your image is on its way and shows up here if it is ready "
        "within 15 minutes; after that I can't post here and will try to send it to you by DM instead. "
        "A server admin can give me these permissions."
    ).format(names=names)


# -- result buttons and the edit modal ----------------------------------------------------------------------------

BUTTON_LABELS = {
    "reroll": "Reroll",
    "edit": "Edit",
    "ref": "Use as reference",
    "delete": "Delete",
    "cancel": "Cancel",
}
IMAGE_GONE = "This image is no longer on record, so its buttons don't work any more."
IMAGE_MISSING = "I can't find the image on this message any more."
JOB_GONE = "This job no longer exists, so there is nothing to cancel."
ALREADY_STARTED = "It is already being generated (or finished), so it can't be cancelled now."
ACTION_DELETE = "delete it"
ACTION_CANCEL = "cancel it"
SOURCE_THIS_IMAGE = "this image"


def requester_only(action: str) -> str:
    """Someone other than the requester (or a moderator) pressed a button; ``action`` is one of ``ACTION_*``."""
    return _("Only the person who asked for this image, or a moderator, can {action}.").format(action=action)


MODAL_EDIT_TITLE = "Edit image"
MODAL_EDIT_THIS_TITLE = "Edit this image"
MODAL_REFERENCE_TITLE = "Use as reference"
MODAL_EDIT_QUESTION = "What should change?"
MODAL_REFERENCE_QUESTION = "What should the new image show?"
MODAL_INSTRUCTION_PLACEHOLDER = "e.g. make it night-time and add falling snow"
MODAL_ASPECT_LABEL = "Aspect ratio"
MODAL_ASPECT_PLACEHOLDER = "auto, 1:1, 16:9, 9:16 …"


# -- editing from a message ---------------------------------------------------------------------------------------

NO_IMAGE_IN_MESSAGE = "That message has no image I can edit (JPEG, PNG or WebP)."
REPLIED_MESSAGE_GONE = "I can't find the message you replied to any more."
REPLIED_MESSAGE_NO_IMAGE = "The message you replied to has no image I can edit."
INTENT_HINT = (
    "I can't see the images in other members' messages (that needs the Message Content intent). "
    "Right-click the message → **Apps** → **Edit image** instead."
)
CHECKING_IMAGE = "⏳ Checking the image…"
SOURCE_EMBEDDED_IMAGE = "the embedded image"


def source_link_n(n: int) -> str:
    """How an edit's ``n``-th pasted link is named in messages about it."""
    return _("link {n}").format(n=n)


def reply_needs_instruction(mention: str) -> str:
    """A reply that mentions the bot but says nothing else."""
    return _("Tell me what to change, e.g. {mention} make it night-time.").format(mention=mention)


def reply_failed(text: str) -> str:
    """Why a reply-to-edit was refused, shown in place of the 'Checking' line."""
    return f"❌ {text}"


# -- /credits and /history ----------------------------------------------------------------------------------------

OTHERS_CREDITS_ADMIN_ONLY = "Only bot owners and server admins (Manage Server) can see other members' credits."
SOMEONE_ELSES_HISTORY = "This is someone else's history: use `/history`."
HISTORY_PREV = "Prev"
HISTORY_NEXT = "Next"
CREDITS_YOURS = "Your credits"
BALANCE = "Balance"
UNLIMITED = "Unlimited (bot owner)"
COST_PER_IMAGE = "Cost per image"
ALLOWANCE = "Allowance"
AT_CAP = "You are at the cap: refills add nothing until you spend."
NO_ALLOWANCE = "None here: credits come only from admins."
HISTORY_TITLE = "Your images"
HISTORY_EMPTY = "Nothing here yet: try `/imagine`."
HISTORY_PAST_END = "No more images: this is past the last page."
RESULT_LINK = "result"
RESULT_SHOWN_PRIVATELY = "shown only to you"  # an ephemeral result: Discord keeps no message anyone can link to
HISTORY_STATES = {"delivered": "delivered", "failed": "failed"}
_UNITS = (
    (604_800, "every week", "every {n} weeks"),
    (86_400, "every day", "every {n} days"),
    (3_600, "every hour", "every {n} hours"),
    (60, "every minute", "every {n} minutes"),
)


def credits_of(name: str) -> str:
    """The /credits title when an admin looks at someone else's."""
    return _("Credits of {name}").format(name=name)


def banned_note(scope: str) -> str:
    """The /credits line of a banned member."""
    return _("🚫 Banned from creating images {where}.").format(where=_banned_where(scope))


def balance_value(balance: int, held: int, *, everywhere: bool) -> str:
    """The /credits balance field; ``held`` credits are reserved for images in progress."""
    where = _("everywhere") if everywhere else _("in this server")
    reserved = "\n" + _("{held} reserved for images in progress").format(held=credits_text(held)) if held else ""
    return _("**{balance}** ({where})").format(balance=credits_text(balance), where=where) + reserved


def every(seconds: float) -> str:
    """A refill period in words: 'every day', 'every 6 hours'."""
    for size, one, many in _UNITS:
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return _(one) if n == 1 else _(many).format(n=n)
    return _("every {seconds:g} seconds").format(seconds=seconds)


def at_utc(period: str, anchor: float) -> str:
    """A refill period anchored at a time of day."""
    start = datetime.fromtimestamp(anchor, UTC)
    return _("{period} at {time} UTC").format(period=period, time=f"{start:%H:%M}")


def allowance_value(allowance: int, schedule: str, cap: int) -> str:
    """The /credits allowance field's first line."""
    return _("+{allowance} {schedule}, up to {cap}").format(allowance=allowance, schedule=schedule, cap=cap)


def next_refill(at: float) -> str:
    """The /credits line saying when the next refill comes."""
    return _("Next refill {when}").format(when=refill_time(at))


def history_page(page: int) -> str:
    """The /history footer."""
    return _("Page {page}").format(page=page)


# -- /admin ------------------------------------------------------------------------------------------------------

ADMIN_ONLY = "Only bot owners and server admins (Manage Server) can use `/admin`."
OWNERS_CANNOT_BE_BANNED = "Bot owners cannot be banned."
BALANCES_SHARED = "Balances are shared by every server this bot is in, so only bot owners can change them."
NEED_MANAGE_SERVER_CREDITS = "You need the Manage Server permission here to change credits."
BAN_EVERYWHERE_OWNERS_ONLY = "Only bot owners can ban or unban everywhere."
NEED_MANAGE_SERVER_BANS = "You need the Manage Server permission here to ban or unban."


def granted(amount: int, mention: str) -> str:
    """/admin credits grant, done."""
    return _("Granted {amount} to {mention}.").format(amount=credits_text(amount), mention=mention)


def balance_set(mention: str) -> str:
    """/admin credits set, done."""
    return _("Set the balance of {mention}.").format(mention=mention)


def balance_reset(mention: str) -> str:
    """/admin credits reset, done."""
    return _("Reset the balance of {mention}.").format(mention=mention)


def balance_now(done: str, balance: int, *, everywhere: bool) -> str:
    """A balance change's answer: what was done, then the new balance."""
    now = _("Their balance is now {balance}.") if everywhere else _("Their balance in this server is now {balance}.")
    return f"{done} {now.format(balance=credits_text(balance))}"


def _ban_where(scope: str) -> str:
    return _("on this bot (every server and DMs)") if scope == "global" else _("in this server")


def ban_result(mention: str, scope: str, *, added: bool) -> str:
    """/admin ban, done (or nothing to do)."""
    where = _ban_where(scope)
    done = _("{mention} can no longer create images {where}.") if added else _("{mention} was already banned {where}.")
    return done.format(mention=mention, where=where)


def unban_result(mention: str, scope: str, *, removed: bool) -> str:
    """/admin unban, done (or nothing to do)."""
    where = _ban_where(scope)
    done = _("{mention} may create images {where} again.") if removed else _("{mention} was not banned {where}.")
    return done.format(mention=mention, where=where)


def usage_title(days: int, *, this_server: bool) -> str:
    """/admin usage title."""
    title = _("Usage, last {days} day") if days == 1 else _("Usage, last {days} days")
    return title.format(days=days) + (_(" (this server)") if this_server else "")


def usage_day(date: str, delivered: int, failed: int, credits: int, charged: int) -> str:
    """One day's line in /admin usage."""
    return _("`{date}` {delivered} delivered · {failed} failed · {credits} · {charged} sent to reAPI").format(
        date=date, delivered=delivered, failed=failed, credits=credits_text(credits), charged=charged
    )


def usage_top(n: int, user_id: int, delivered: int, credits: int) -> str:
    """One line of /admin usage's top members."""
    line = (
        _("{n}. <@{user_id}>: {delivered} image, {credits}")
        if delivered == 1
        else _("{n}. <@{user_id}>: {delivered} images, {credits}")
    )
    return line.format(n=n, user_id=user_id, delivered=delivered, credits=credits_text(credits))


def usage_totals(images: int, credits: int) -> str:
    """/admin usage totals field."""
    return _("{images} images, {credits}").format(images=images, credits=credits_text(credits))


def usage_spend(spent: int, cap: int, in_flight: int) -> str:
    """/admin usage, bot-wide: today's reAPI spend against the cap."""
    shown_cap = _("{cap:,} reAPI credits").format(cap=cap) if cap else _("no cap")
    value = _("{spent:,} spent today (UTC) of {cap}").format(spent=spent, cap=shown_cap)
    if in_flight:
        value += _(", {in_flight:,} more waiting").format(in_flight=in_flight)
    return value


NO_ACTIVITY = "No activity."
TOP_MEMBERS = "Top members"
NOBODY_YET = "Nobody yet."
TOTALS = "Totals"
WAITING = "Waiting to be sent"
REAPI_SPEND = "reAPI spend"


# -- owners (the surface's alert; the engine's spend alerts stay in bot.engine.spend) ---------------------------


def channel_refused_alert(channel_id: int, guild_id: int | None, missing: str, job_id: str) -> str:
    """The owners' alert when a channel refuses the bot's results."""
    server = _(", server {guild_id}").format(guild_id=guild_id) if guild_id else ""
    return _(
        "Results cannot be posted in <#{channel_id}> (channel {channel_id}{server}): the bot is missing {missing}. "
        "Members there get their images by DM (latest: job {job_id})."
    ).format(channel_id=channel_id, server=server, missing=missing, job_id=job_id)


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
