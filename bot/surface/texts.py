"""Every sentence a member reads about a job (progress, results, failures, input checks, buttons), with the helpers
its siblings share; the siblings hold the rest, one feature each: ``texts_refusals`` (why a request was not taken),
``texts_credits`` (/credits, /history, /admin), ``texts_members``, ``texts_models`` and ``texts_settings``. A
translator edits one catalogue (``bot.surface.locales``) for all of them.

Constants are fixed wording; functions fill in the facts (numbers, names, times). Builders elsewhere
(``bot.surface.ui``, ``bot.surface.account_ui``, the cogs) decide where the words go, never what they say.
Command names and option descriptions stay with the commands: discord.py reads them from decorators and docstrings.
The engine's owner alerts (``bot.engine.spend``) stay in the engine, which must not import the surface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.engine.credits import refill_time
from bot.engine.failures import FailureCode, JobFailure
from bot.engine.progress import Progress, Stage
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


# -- owners (the surface's alert; the engine's spend alerts stay in bot.engine.spend) ---------------------------


def channel_refused_alert(channel_id: int, guild_id: int | None, missing: str, job_id: str) -> str:
    """The owners' alert when a channel refuses the bot's results."""
    server = _(", server {guild_id}").format(guild_id=guild_id) if guild_id else ""
    return _(
        "Results cannot be posted in <#{channel_id}> (channel {channel_id}{server}): the bot is missing {missing}. "
        "Members there get their images by DM (latest: job {job_id})."
    ).format(channel_id=channel_id, server=server, missing=missing, job_id=job_id)


translate_module(__name__)
