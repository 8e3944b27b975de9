"""What members see: progress lines, result embeds and failure messages (pure formatting)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.store import Job

__all__ = [
    "EMBED_COLOUR",
    "Progress",
    "Stage",
    "failure_text",
    "progress_text",
    "result_embed",
    "shorten",
    "source_links",
]

EMBED_COLOUR = discord.Colour(0xF5C518)
_SIMULATED = "simulated: no reAPI call was made"


class Stage(StrEnum):
    """The steps a member sees a job go through."""

    QUEUED = "queued"
    SUBMITTING = "submitting"
    GENERATING = "generating"
    UPLOADING = "uploading"


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress snapshot of a job."""

    stage: Stage
    position: int | None = None
    waiting: int | None = None
    elapsed: float | None = None
    estimate: float | None = None


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def progress_text(progress: Progress, *, simulated: bool = False) -> str:
    """The placeholder line for a progress snapshot, e.g. '🎨 Generating… 12s (usually ~20s)'."""
    if progress.stage is Stage.QUEUED:
        if progress.position is not None and progress.waiting:
            line = f"⏳ Queued: position {progress.position} of {progress.waiting}"
        else:
            line = "⏳ Queued"
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
    footer.append(f"job {job.id}")
    if job.parent_job_id:
        footer.append(f"from job {job.parent_job_id}")
    if job.simulated:
        footer.append(_SIMULATED.upper())
    embed.set_footer(text=" · ".join(footer))
    return embed


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


def failure_text(reason: str, *, refunded: int) -> str:
    """The placeholder text when a job ends without an image."""
    text = f"❌ {reason}"
    if refunded:
        text += f"\nYour {refunded} credit{'s' if refunded != 1 else ''} {'were' if refunded != 1 else 'was'} refunded."
    return text
