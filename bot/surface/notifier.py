"""The Discord side of a job (the engine's ``Notifier``): progress in the placeholder, then the image or the failure.

Delivery tries, in order: the message already recorded as the result; the placeholder (through the interaction
webhook while its token lives, else as the bot); a message an interrupted earlier attempt may have posted; a new
message (a follow-up while the token lives, else a channel post); a DM to the member. Every new message is
recorded through the ``DeliveryJournal`` before and after it is sent, so a resume never posts twice.

Every bot-token write in a channel (edits of a reply-to-edit placeholder, posts after the interaction token died,
DMs) takes a slot of that channel's write budget first (``bot.surface.channel_writes``): results wait for one,
progress edits only use spare ones. Interaction webhook writes (follow-ups, edits with the token) are limited per
token by Discord, not per channel, so they take no slot. A result Discord cannot take for now (429 past
discord.py's own retries, 5xx, no answer) ends in ``DeliveryDeferred``, which the runner retries later; only a
refusal ends in ``DeliveryFailed``.

The pieces this module composes live beside it: when progress lines are sent (``bot.surface.progress_edits``),
what a result message holds (``bot.surface.result_message``) and what a failed request means for a delivery
(``bot.surface.delivery_errors``). What stays here is where each write goes and in which order.
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import TYPE_CHECKING, Any

import discord

from bot.engine.ports import DeliveryFailed
from bot.engine.progress import Stage
from bot.logs import job_fields
from bot.surface import texts, ui
from bot.surface.channel_writes import ChannelWrites
from bot.surface.components import cancel_view
from bot.surface.delivery_errors import DISCORD_ERRORS, delivery_error, describe, raise_if_temporary
from bot.surface.i18n import job_locale, using_locale
from bot.surface.progress_edits import ProgressEdits
from bot.surface.result_message import ResultMessage

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from bot.engine.failures import JobFailure
    from bot.engine.images import PreparedImage
    from bot.engine.ports import Alerts, DeliveryJournal
    from bot.engine.progress import Progress
    from bot.store import Job

__all__ = ["DiscordNotifier"]

log = logging.getLogger(__name__)

# Stop using the interaction token a little before Discord's 15 minutes run out.
_TOKEN_MARGIN = 60.0
# Where an interrupted attempt's message can be: this many of the newest messages since it began posting.
_SEARCH_LIMIT = 100
_SEARCH_SKEW = 300.0  # seconds of clock difference between the bot and Discord's snowflakes
# 50027 Invalid Webhook Token, 10015 Unknown Webhook: the interaction token is dead, whatever our clock says.
_DEAD_TOKEN_CODES = frozenset({50027, 10015})
# Channel permissions a result needs, in the order Discord implies them (no VIEW → nothing; no SEND → no extras).
_NEEDED = ("view_channel", "send_messages")
_EXTRAS = ("embed_links", "attach_files")


class DiscordNotifier:
    """Implements ``bot.engine.ports.Notifier`` on Discord: progress edits (latest wins, never repeated), exactly-once
    delivery with fallbacks down to a DM, and failure notices.

    Parameters
    ----------
    client
        The bot (REST and cache).
    progress_interval
        Minimum seconds between two progress edits of one job.
    alerts
        Where to tell the owners that a channel refuses the bot (at most once a day per channel and reason).
    writes
        The per-channel budget of bot-token writes (default: Discord's 5 writes per 5 s per channel), shared with
        the cogs that post in channels (the reply-to-edit placeholder).
    """

    def __init__(
        self,
        client: discord.Client,
        *,
        progress_interval: float,
        alerts: Alerts | None = None,
        writes: ChannelWrites | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._alerts = alerts
        self._writes = writes or ChannelWrites(monotonic=monotonic)
        self._clock = clock
        self._progress = ProgressEdits(
            self._edit_progress, interval=progress_interval, monotonic=monotonic, clock=clock
        )
        self._dead_tokens: dict[str, float] = {}  # token -> when it would have expired anyway

    # -- progress ----------------------------------------------------------------------------------

    @job_locale
    def progress(self, job: Job, progress: Progress) -> None:
        """Show ``progress`` soon; a newer call replaces one not yet sent; an identical text is never re-sent."""
        # "Submitting" usually lasts a fraction of a second before "Generating" follows: its line is sent only if it
        # lasts (one edit per job saved, and one less in the channel's budget); every other stage goes at once.
        # Only a job still waiting can be cancelled: once sent, reAPI has charged and cannot cancel.
        self._progress.show(
            job,
            texts.progress_text(progress, simulated=job.simulated),
            cancellable=progress.stage is Stage.QUEUED,
            passing=progress.stage is Stage.SUBMITTING,
        )

    async def _edit_progress(self, job: Job, text: str, cancellable: bool) -> None:
        """One progress line into the placeholder, with the cancel button while the job may still be cancelled."""
        view = cancel_view(job.id) if cancellable else None
        await self._edit(job, self._placeholder(job), progress=True, content=text, view=view)

    async def _settle(self, job_id: str) -> None:
        """Stop progress for a job whose outcome is about to be shown (see ``ProgressEdits.settle``)."""
        await self._progress.settle(job_id)

    async def close(self) -> None:
        """Stop pending progress edits (a shutdown)."""
        await self._progress.close()

    # -- outcome -----------------------------------------------------------------------------------

    @job_locale
    async def deliver(
        self, job: Job, image: PreparedImage, *, journal: DeliveryJournal, more: Sequence[PreparedImage] = ()
    ) -> int:
        """Show the image(s) exactly once, in one message; return its id (see ``Notifier.deliver``).

        Raises
        ------
        DeliveryDeferred
            Discord could not take it for now (429, 5xx, no answer): the runner tries again later.
        DeliveryFailed
            Discord refused the placeholder, the channel, the follow-up and the DM.
        """
        await self._settle(job.id)
        if job.result_message_id is not None:
            log.info(
                "job %s already has its result in message %s", job.id, job.result_message_id, extra=job_fields(job)
            )
            return job.result_message_id
        result = ResultMessage(job, image, more=more, note=self._result_note(job))
        refusal: discord.HTTPException | None = None
        if job.placeholder_message_id is not None:
            try:
                return await self._edit(job, job.placeholder_message_id, **result.edit_fields())
            except discord.NotFound:
                log.info(
                    "placeholder of job %s is gone; posting the result as a new message", job.id, extra=job_fields(job)
                )
            except discord.Forbidden as exc:
                log.info(
                    "placeholder of job %s cannot be edited (%s); posting the result elsewhere",
                    job.id,
                    exc.code,
                    extra=job_fields(job),
                )
                refusal = exc
            except DISCORD_ERRORS as exc:
                raise delivery_error(f"job {job.id}: the placeholder edit failed", exc) from exc
        adopted = await self._adopt_posted(job, journal)
        if adopted is not None:
            return adopted[0]
        await journal.posting()
        message_id, dm_id = await self._post(job, result, refusal)
        await journal.posted(message_id, channel_id=dm_id)
        return message_id

    @job_locale
    async def fail(self, job: Job, failure: JobFailure) -> bool:
        """Replace the placeholder with why the job failed (and the refund); False if Discord refused."""
        await self._settle(job.id)
        text = texts.failure_text(failure, refunded=job.cost)
        try:
            await self._edit(job, self._placeholder(job), content=text, embed=None, attachments=[], view=None)
        except (*DISCORD_ERRORS, DeliveryFailed) as exc:
            log.warning("could not show the failure of job %s: %s", job.id, exc, extra=job_fields(job))
            return False
        return True

    def _result_note(self, job: Job) -> str | None:
        """A line of text to show above the result (none here; see ``bot.surface.member_delivery``)."""
        return None

    # -- delivery paths ----------------------------------------------------------------------------

    async def _post(
        self, job: Job, result: ResultMessage, refusal: discord.HTTPException | None
    ) -> tuple[int, int | None]:
        """A new message with the result: a follow-up while the token lives (no channel permission needed),
        else a post in the channel, else a DM to the member. Its id, and the DM channel's when it went there."""
        if self._token_alive(job):
            try:
                followup = await self._webhook(job).send(wait=True, **result.send_fields())
            except DISCORD_ERRORS as exc:
                if not self._token_died(job, exc):
                    raise delivery_error(f"job {job.id}: the follow-up failed", exc) from exc
            else:
                return followup.id, None
        try:
            async with await self._writes.result(job.channel_id):
                posted = await self._client.get_partial_messageable(job.channel_id).send(**result.send_fields())
        except (discord.Forbidden, discord.NotFound) as exc:
            refusal = exc
        except DISCORD_ERRORS as exc:
            raise delivery_error(f"job {job.id}: the channel post failed", exc) from exc
        else:
            return posted.id, None
        return await self._direct_message(job, result, refusal)

    async def _direct_message(
        self, job: Job, result: ResultMessage, refusal: discord.HTTPException | None
    ) -> tuple[int, int]:
        """The last resort: the member gets the image by DM with the reason; the owners learn what to fix."""
        with using_locale(None):  # the owners' alert, its key and the log stay in English
            missing = self._missing_permissions(job.channel_id, refusal)
            self._alert_owners(job, missing)
        note = texts.dm_delivery_note(job.channel_id, self._missing_permissions(job.channel_id, refusal))
        try:
            dm = await self._client.create_dm(discord.Object(job.user_id))
            async with await self._writes.result(dm.id):
                sent = await dm.send(**{**result.send_fields(buttons=False), "content": note})
        except DISCORD_ERRORS as exc:
            raise delivery_error(f"job {job.id}: channel refused ({missing}) and so did the DM", exc) from exc
        log.info(
            "job %s delivered by DM (channel %s: missing %s)", job.id, job.channel_id, missing, extra=job_fields(job)
        )
        return sent.id, dm.id

    async def _adopt_posted(self, job: Job, journal: DeliveryJournal) -> tuple[int, int | None] | None:
        """When an earlier attempt began a post (``post_started_at``), the message it may have sent, recorded in the
        journal as this job's result: its id, and the DM channel's when it is there. None: nothing to adopt."""
        if job.post_started_at is None:
            return None
        found = await self._find_posted(job)
        if found is not None:
            message_id, dm_id = found
            log.info(
                "job %s: adopting message %s that an earlier attempt posted", job.id, message_id, extra=job_fields(job)
            )
            await journal.posted(message_id, channel_id=dm_id)
        return found

    async def _find_posted(self, job: Job) -> tuple[int, int | None] | None:
        """The bot's own message carrying this job's result, posted by an attempt interrupted before it could
        record the id: looked for in the channel, then in the member's DMs. Its id, and the DM channel's when
        it is there.

        Raises
        ------
        DeliveryDeferred
            Discord could not answer a search for now (429, 5xx, no answer): that says nothing about whether the
            result is there, so the delivery waits and searches again rather than risk posting it twice. A place
            Discord refuses to show (403, 404) counts as searched: the bot could not have posted there either.
        """
        assert job.post_started_at is not None
        since = datetime.datetime.fromtimestamp(job.post_started_at - _SEARCH_SKEW, tz=datetime.UTC)
        after = discord.Object(discord.utils.time_snowflake(since))
        places: list[tuple[discord.abc.Messageable, int | None]] = [
            (self._client.get_partial_messageable(job.channel_id), None)
        ]
        try:
            dm = await self._client.create_dm(discord.Object(job.user_id))
            places.append((dm, dm.id))
        except DISCORD_ERRORS as exc:
            raise_if_temporary(f"job {job.id}: cannot open the DM to search it", exc)
        for place, dm_id in places:
            try:
                async for message in place.history(limit=_SEARCH_LIMIT, after=after):
                    if self._is_result_of(message, job):
                        return message.id, dm_id
            except DISCORD_ERRORS as exc:
                raise_if_temporary(f"job {job.id}: cannot search {place} for an earlier result", exc)
                log.info(
                    "job %s: cannot search %s for an earlier result: %s",
                    job.id,
                    place,
                    describe(exc),
                    extra=job_fields(job),
                )
        return None

    def _is_result_of(self, message: discord.Message, job: Job) -> bool:
        me = self._client.user
        if me is None or message.author.id != me.id:
            return False
        return any(ui.is_result_footer(e.footer.text or "", job.id) for e in message.embeds)

    # -- owners ------------------------------------------------------------------------------------

    def _missing_permissions(self, channel_id: int, refusal: discord.HTTPException | None) -> str:
        """Which permission the bot lacks in the channel, from its cache, else from Discord's answer."""
        channel = self._client.get_channel(channel_id)
        if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
            perms = channel.permissions_for(channel.guild.me)
            for attr in _NEEDED:
                if not getattr(perms, attr):
                    return texts.permission_name(attr)
            extras = [texts.permission_name(attr) for attr in _EXTRAS if not getattr(perms, attr)]
            if extras:
                return texts.missing_permissions(extras)
        if refusal is not None and refusal.code == 50001:
            return texts.permission_name("view_channel")
        if isinstance(refusal, discord.NotFound):
            return texts.MISSING_CHANNEL_GONE
        return texts.MISSING_UNKNOWN

    def _alert_owners(self, job: Job, missing: str) -> None:
        if self._alerts is None:
            return
        self._alerts.notify(
            texts.channel_refused_alert(job.channel_id, job.guild_id, missing, job.id),
            key=f"channel-refused:{job.channel_id}:{missing}",
        )

    # -- Discord plumbing --------------------------------------------------------------------------

    def _placeholder(self, job: Job) -> int:
        if job.placeholder_message_id is None:
            raise DeliveryFailed(f"job {job.id} has no placeholder message")
        return job.placeholder_message_id

    def _token_alive(self, job: Job) -> bool:
        """Our clock says the interaction token lives, and Discord has not said otherwise."""
        return (
            job.interaction_token is not None
            and job.application_id is not None
            and job.interaction_expires_at is not None
            and self._clock() < job.interaction_expires_at - _TOKEN_MARGIN
            and job.interaction_token not in self._dead_tokens
        )

    def _token_died(self, job: Job, exc: BaseException) -> bool:
        """Whether ``exc`` says the interaction token is dead; if so, remember it (Discord can kill a token early)."""
        if not isinstance(exc, discord.HTTPException) or not (exc.status == 401 or exc.code in _DEAD_TOKEN_CODES):
            return False
        assert job.interaction_token is not None
        now = self._clock()
        self._dead_tokens = {t: exp for t, exp in self._dead_tokens.items() if exp > now}
        self._dead_tokens[job.interaction_token] = job.interaction_expires_at or now
        log.info(
            "interaction token of job %s is dead (%s %s); using the channel",
            job.id,
            exc.status,
            exc.code,
            extra=job_fields(job),
        )
        return True

    def _webhook(self, job: Job) -> discord.Webhook:
        assert job.application_id is not None
        assert job.interaction_token is not None
        return discord.Webhook.partial(job.application_id, job.interaction_token, client=self._client)

    async def _edit(self, job: Job, message_id: int, *, progress: bool = False, **fields: Any) -> int:
        """Edit a message through the interaction webhook while its token lives, else as the bot.

        An edit as the bot takes a slot of the channel's write budget: a progress edit raises ``ChannelBusy`` when
        there is none to spare, anything else waits for one. A webhook edit counts against its token, not the
        channel, so it takes none.
        """
        fields.setdefault("allowed_mentions", discord.AllowedMentions.none())
        if self._token_alive(job):
            try:
                edited = await self._webhook(job).edit_message(message_id, **fields)
            except DISCORD_ERRORS as exc:
                if not self._token_died(job, exc):
                    raise
            else:
                return edited.id
        channel = self._client.get_partial_messageable(job.channel_id)
        async with await self._slot(job.channel_id, progress=progress):
            message = await channel.get_partial_message(message_id).edit(**fields)
        return message.id

    async def _slot(self, channel_id: int, *, progress: bool) -> AbstractAsyncContextManager[None]:
        if progress:
            return self._writes.progress(channel_id)
        return await self._writes.result(channel_id)
