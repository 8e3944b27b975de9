"""What members see: progress lines, result embeds and failure messages (pure formatting)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import discord

from bot.engine.credits import credits_text, refill_time
from bot.engine.errors import (
    Banned,
    CooldownActive,
    FetchFailure,
    InsufficientCredits,
    InvalidOptions,
    QueueFull,
    ReapiPaused,
    Refusal,
    SourceProblem,
    SourceRefused,
    SpendCapReached,
)
from bot.engine.failures import FailureCode, JobFailure
from bot.engine.progress import Progress, Stage

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.store import Job

__all__ = [
    "EMBED_COLOUR",
    "Progress",
    "Stage",
    "channel_refused_alert",
    "dm_delivery_note",
    "failure_reason",
    "failure_text",
    "is_result_footer",
    "job_marker",
    "progress_text",
    "refusal_text",
    "result_embed",
    "shorten",
    "source_links",
]

EMBED_COLOUR = discord.Colour(0xF5C518)
_SIMULATED = "simulated: no reAPI call was made"


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def progress_text(progress: Progress, *, simulated: bool = False) -> str:
    """The placeholder line for a progress snapshot, e.g. '🎨 Generating… 12s (usually ~20s)'."""
    if progress.stage is Stage.QUEUED:
        if progress.position is None:
            line = "⏳ Queued"
        elif progress.position_to is None:
            line = f"⏳ Queued: position {progress.position}"
        else:
            line = f"⏳ Queued: position {progress.position}–{progress.position_to}"
    elif progress.stage is Stage.SUBMITTING:
        line = "📤 Submitting to reAPI…"
    elif progress.stage is Stage.GENERATING:
        line = "🎨 Generating…"
        if progress.elapsed is not None:
            line += f" {progress.elapsed:.0f}s"
            if progress.estimate:
                line += f" (usually ~{progress.estimate:.0f}s)"
    else:
        line = "📥 Done: uploading the image…"
    if simulated:
        line += f"\n-# {_SIMULATED}"
    return line


def result_embed(job: Job, *, filename: str, took: float | None) -> discord.Embed:
    """The embed that carries a finished image: the prompt, the options and (in simulation) a warning."""
    # The prompt is the member's text in a public message: no masked links, headings or other formatting.
    embed = discord.Embed(description=shorten(discord.utils.escape_markdown(job.prompt), 4000), colour=EMBED_COLOUR)
    embed.set_image(url=f"attachment://{filename}")
    if job.sources:
        embed.add_field(name="Sources", value=source_links(job.sources), inline=False)
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>", inline=True)
    footer = [f"aspect {job.aspect_ratio}"]
    if took is not None:
        footer.append(f"{took:.1f}s")
    footer.append(job_marker(job.id))
    if job.parent_job_id:
        footer.append(f"from job {job.parent_job_id}")
    if job.simulated:
        footer.append(_SIMULATED.upper())
    embed.set_footer(text=FOOTER_SEPARATOR.join(footer))
    return embed


FOOTER_SEPARATOR = " · "


def job_marker(job_id: str) -> str:
    """The footer part that names a result's job: how a resumed delivery recognises a result it posted."""
    return f"job {job_id}"


def is_result_footer(footer: str, job_id: str) -> bool:
    """Whether a result embed's footer (from :func:`result_embed`) names ``job_id``."""
    return job_marker(job_id) in footer.split(FOOTER_SEPARATOR)


def dm_delivery_note(channel_id: int, missing: str) -> str:
    """The text of a result sent by DM because the channel refused the bot."""
    return (
        f"I couldn't post your image in <#{channel_id}>: I'm missing {missing} there. "
        "Here it is instead; the server's admins have been told."
    )


def channel_refused_alert(channel_id: int, guild_id: int | None, missing: str, job_id: str) -> str:
    """The owners' alert when a channel refuses the bot's results."""
    server = f", server {guild_id}" if guild_id else ""
    return (
        f"Results cannot be posted in <#{channel_id}> (channel {channel_id}{server}): the bot is missing {missing}. "
        f"Members there get their images by DM (latest: job {job_id})."
    )


def source_links(sources: Sequence[str], *, limit: int = 1024) -> str:
    """Markdown links to the sources of an edit, within an embed field's 1,024 characters."""
    lines: list[str] = []
    used = 0
    for n, link in enumerate(sources, 1):
        kind = "message" if "/channels/" in link else "image"
        line = f"[{kind} {n}]({_link_target(link)})"
        rest = f"… and {len(sources) - n + 1} more"
        if used + len(line) + 1 > limit - len(rest) - 1:
            lines.append(rest)
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


# Characters that could end a Markdown link target early and start a masked link of the member's own;
# percent-encoded they mean the same to the web server.
_LINK_UNSAFE = {ord(c): f"%{ord(c):02X}" for c in '()[]<> `"\\'}


def _link_target(url: str) -> str:
    return url.translate(_LINK_UNSAFE)


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
        return "It failed."
    reason = _FAILURE_REASONS[code]
    if code is FailureCode.REAPI_PAUSED and detail == "401":
        return "The bot's reAPI key was refused, so new images are paused. The bot owners have been told."
    if not detail:
        return reason
    shown = discord.utils.escape_mentions(discord.utils.escape_markdown(shorten(detail, 300)))
    if code is FailureCode.REAPI_400:
        return f"reAPI rejected the request: {shown}"
    if code is FailureCode.TASK_FAILED:
        return f"reAPI could not make this image ({shown})."
    if code is FailureCode.INTERNAL:
        return f"Something went wrong on our side (error id {shown})."
    return reason


def failure_text(failure: JobFailure, *, refunded: int) -> str:
    """The placeholder text when a job ends without an image."""
    text = f"❌ {failure_reason(failure.code, failure.detail)}"
    if refunded:
        text += f"\nYour {refunded} credit{'s' if refunded != 1 else ''} {'were' if refunded != 1 else 'was'} refunded."
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
        facts["why"] = _FETCH_TEXTS[FetchFailure(facts["why"])].format(**facts)
    return _SOURCE_TEXTS[refusal.problem].format(**facts)


def refusal_text(refusal: Refusal) -> str:
    """The ephemeral answer to a request the engine refused (nothing was stored or charged)."""
    if isinstance(refusal, SourceRefused):
        return _source_text(refusal)
    if isinstance(refusal, Banned):
        where = "on this bot" if refusal.scope == "global" else "in this server"
        return f"You are banned from creating images {where}. Nothing was charged."
    if isinstance(refusal, InsufficientCredits):
        return (
            f"You have {credits_text(refusal.balance)} and an image costs {credits_text(refusal.cost)}. "
            f"Your allowance refills {refill_time(refusal.next_refill_at)}."
        )
    if isinstance(refusal, QueueFull) and refusal.per_user:
        return (
            f"You already have {refusal.limit} images waiting. Wait for one to start (or cancel one), "
            "then try again. Nothing was charged."
        )
    if isinstance(refusal, QueueFull):
        return "The queue is full right now. Please try again in a minute. Nothing was charged."
    if isinstance(refusal, SpendCapReached):
        return (
            "The bot has used up today's image budget. "
            f"Please try again {refill_time(refusal.reset_at)}. Nothing was charged."
        )
    if isinstance(refusal, ReapiPaused) and refusal.reason == "401":
        return (
            "The bot's reAPI key was refused, so new images are paused "
            f"(until {refill_time(refusal.until)} at the earliest). The bot owners have been told. Nothing was charged."
        )
    if isinstance(refusal, ReapiPaused):
        return (
            "The bot's reAPI account has run out of credits, so new images are paused "
            f"(until {refill_time(refusal.until)} at the earliest). Nothing was charged."
        )
    if isinstance(refusal, CooldownActive):
        # A Discord timestamp, rendered in the member's own timezone and language ("in 5 seconds").
        again = refill_time(math.ceil(refusal.retry_at))
        return f"You are starting images too quickly. You can start another one {again}."
    if isinstance(refusal, InvalidOptions):
        return "Those image options are not valid, so nothing was charged."
    return "That request was refused. Nothing was charged."
