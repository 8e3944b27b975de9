"""What members see of a job: the result embed and its source links (the words come from ``bot.surface.texts``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.engine.progress import Progress, Stage
from bot.reapi.specs import DEFAULT_MODEL
from bot.surface import texts, texts_models
from bot.surface.texts import (
    channel_refused_alert,
    dm_delivery_note,
    failure_reason,
    failure_text,
    progress_text,
    shorten,
)
from bot.surface.texts_refusals import refusal_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.store import Job

# The text functions are re-exported: callers that only word a job's state keep one import.
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


def result_embed(job: Job, *, filename: str, took: float | None) -> discord.Embed:
    """The embed that carries a finished image: the prompt, the options and (in simulation) a warning."""
    # The prompt is the member's text in a public message: no masked links, headings or other formatting.
    embed = discord.Embed(description=shorten(discord.utils.escape_markdown(job.prompt), 4000), colour=EMBED_COLOUR)
    embed.set_image(url=f"attachment://{filename}")
    if job.sources:
        embed.add_field(name=texts.RESULT_SOURCES, value=source_links(job.sources), inline=False)
    embed.add_field(name=texts.RESULT_REQUESTED_BY, value=f"<@{job.user_id}>", inline=True)
    footer = [texts.result_aspect(job.aspect_ratio)]
    if job.model != DEFAULT_MODEL or job.image_count > 1 or job.resolution is not None:
        footer.insert(0, texts_models.result_model(job.model, job.resolution, job.image_count))
    if took is not None:
        footer.append(f"{took:.1f}s")
    footer.append(job_marker(job.id))
    if job.parent_job_id:
        footer.append(texts.result_parent(job.parent_job_id))
    if job.simulated:
        footer.append(texts.SIMULATED.upper())
    embed.set_footer(text=FOOTER_SEPARATOR.join(footer))
    return embed


def extra_image_embed(filename: str) -> discord.Embed:
    """The embed of a result's second, third or fourth image (the first embed carries the prompt and footer)."""
    embed = discord.Embed(colour=EMBED_COLOUR)
    embed.set_image(url=f"attachment://{filename}")
    return embed


FOOTER_SEPARATOR = " · "


def job_marker(job_id: str) -> str:
    """The footer part that names a result's job: how a resumed delivery recognises a result it posted.

    Not in ``texts`` on purpose: it is matched on, so translating it would hide results posted before.
    """
    return f"job {job_id}"


def is_result_footer(footer: str, job_id: str) -> bool:
    """Whether a result embed's footer (from :func:`result_embed`) names ``job_id``."""
    return job_marker(job_id) in footer.split(FOOTER_SEPARATOR)


def source_links(sources: Sequence[str], *, limit: int = 1024) -> str:
    """Markdown links to the sources of an edit, within an embed field's 1,024 characters."""
    lines: list[str] = []
    used = 0
    for n, link in enumerate(sources, 1):
        line = f"[{texts.source_link_label(link, n)}]({_link_target(link)})"
        rest = texts.more_sources(len(sources) - n + 1)
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
