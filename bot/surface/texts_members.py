"""Every sentence of the members' own features (/preferences, /jobs, private results, charts, contact sheets).

A sibling of ``bot.surface.texts`` (which is long enough already), under the same rule: builders elsewhere decide
where the words go, never what they say (``tests/surface/test_texts.py`` scans for inline wording).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.engine.credits import refill_time
from bot.surface.i18n import _, translate_module
from bot.surface.texts import credits_text, shorten

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.engine.members import PreferenceRefused
    from bot.store import Job

__all__ = ["PRIVATE_LABELS", "job_line", "preference_refused", "private_fallback_note", "ready_ping"]

# -- /preferences ---------------------------------------------------------------------------------------------

PREFERENCES_TITLE = "Your preferences"
PREFERENCES_SAVED = "Saved. These apply to your next images."
PREF_ASPECT_RATIO = "Default aspect ratio"
PREF_MODEL = "Model"
PREF_PRIVATE = "Private results"
PREF_NOTIFY = "Notify when ready"
AUTO_DEFAULT = "auto (the model decides)"
ON = "On: you are mentioned when an image is ready"
OFF = "Off"
PRIVATE_LABELS = {
    "off": "Off: results are posted in the channel",
    "dm": "By DM (in the channel if your DMs are closed)",
    "ephemeral": "Only visible to you, when ready within 14 minutes (else by DM, else in the channel)",
}
PRIVATE_CHOICES = {"off": "Off", "dm": "By DM", "ephemeral": "Only visible to me"}
PREFERENCES_FOOTER = "Edits without an aspect ratio keep their source's shape. /preferences reset:true starts over."


# The preferences a refusal can name, as the sentence says them.
_PREFERENCE_FIELDS = {"aspect_ratio": "aspect ratio", "model": "model", "private": "private"}


def preference_refused(refusal: PreferenceRefused) -> str:
    """A preference value the bot does not offer (nothing was saved)."""
    allowed = ", ".join(f"`{v}`" for v in refusal.allowed)
    shown = shorten(refusal.value, 40).replace("`", "ˋ")
    field = _(_PREFERENCE_FIELDS.get(refusal.field, refusal.field.replace("_", " ")))
    return _("`{shown}` is not an option for {field}. Choose one of: {allowed}. Nothing was saved.").format(
        shown=shown, field=field, allowed=allowed
    )


# -- /jobs ----------------------------------------------------------------------------------------------------

JOBS_TITLE = "Your images in progress"
JOBS_NONE = "You have no images waiting or being made."
JOBS_FOOTER = "Cancel refunds a waiting image. An image already sent to reAPI cannot be cancelled: it was paid for."
JOB_NOT_YOURS = "Only the member who asked for this image can cancel it from /jobs."
JOB_ALREADY_OVER = "That image is already finished (or was cancelled); there is nothing to cancel."
JOB_ALREADY_SENT = (
    "That image was already sent to reAPI. reAPI has no cancel and charges once it has the request, "
    "so it will finish and its credits cannot be given back."
)
_STATE_WORDS = {
    "queued": "⏳ waiting",
    "submitting": "📤 being sent to reAPI",
    "running": "🎨 generating",
    "delivering": "📥 uploading",
}


def cancel_label(number: int) -> str:
    """The label of the Cancel button for the ``number``-th job of the list."""
    return _("Cancel #{number}").format(number=number)


def job_line(number: int, job: Job) -> str:
    """One job in /jobs: its number, state, prompt and when it was asked for."""
    prompt = shorten(" ".join(job.prompt.split()), 80).replace("`", "ˋ")
    state = _(_STATE_WORDS.get(job.state.value, job.state.value))
    return f"**#{number}** {state} · {credits_text(job.cost)} · {refill_time(job.created_at)}\n`{prompt}`"


def job_cancelled(cost: int) -> str:
    """A waiting job was cancelled from /jobs."""
    if not cost:
        return _("Cancelled.")
    return _("Cancelled. {credits} went back to your balance.").format(credits=credits_text(cost))


# -- delivery -------------------------------------------------------------------------------------------------

PRIVATE_EPHEMERAL_PLACEHOLDER = "🔒 Your image is ready and was shown only to you."
PRIVATE_DM_PLACEHOLDER = "🔒 Your image is ready and was sent to you by DM."


def private_dm_note(channel_id: int) -> str:
    """Above a result sent by DM because the member asked for private results."""
    return _("🔒 Your image from <#{channel_id}>, sent privately as you asked in /preferences.").format(
        channel_id=channel_id
    )


def private_fallback_note(user_id: int, mode: str) -> str:
    """Above a result shown in the channel although the member asked for it privately (so it is not lost)."""
    why = (
        _("it took longer than Discord lets a private reply wait and your DMs are closed")
        if mode == "ephemeral"
        else _("your DMs are closed to this bot")
    )
    return "-# " + _("<@{user_id}> asked for private results, but {why}, so it is here instead.").format(
        user_id=user_id, why=why
    )


def ready_ping(user_id: int, link: str) -> str:
    """The message that mentions a member whose image is ready (they asked for it in /preferences)."""
    return _("<@{user_id}> your image is ready: {link}").format(user_id=user_id, link=link)


# -- charts and contact sheets --------------------------------------------------------------------------------

CHART_IMAGES_PER_DAY = "Images per day"
CHART_YOUR_IMAGES = "Your images per day"
CHART_TOP_MEMBERS = "Top members"
CHART_SPEND = "reAPI spend today"
CHART_NO_CAP = "no daily cap"
CHART_BALANCE = "Balance"
CHART_DELIVERED = "delivered"
CHART_FAILED = "failed"
CHART_NOBODY = "nobody yet"


def chart_spend(spent: int, cap: int) -> str:
    """The label of the spend bar: what was spent against the cap."""
    if cap:
        return _("{spent:,} of {cap:,} credits").format(spent=spent, cap=cap)
    return _("{spent:,} credits ({no_cap})").format(spent=spent, no_cap=_(CHART_NO_CAP))


def chart_balance(balance: int, max_balance: int) -> str:
    """The label of the balance bar."""
    return _("{balance:,} of {max_balance:,} credits").format(balance=balance, max_balance=max_balance)


def chart_member(user_id: int, names: Sequence[tuple[int, str]]) -> str:
    """A member's name in a chart (their id when the bot does not know the name)."""
    for known_id, name in names:
        if known_id == user_id:
            return shorten(name, 24)
    return _("member {user_id}").format(user_id=user_id)


CONTACT_SHEET_NOTE = "Thumbnails of this page's images (grey: not available to the bot)."


translate_module(__name__)
