"""Delivery that follows a member's /preferences: private results (ephemeral or DM) and a mention when ready.

"Private" is best effort and never loses an image:

- ``ephemeral``: shown only to the member as an ephemeral follow-up of their command. Discord allows that only
  while the interaction token lives (15 minutes; reply-to-edit has none), so a later result goes by DM instead;
- ``dm``: sent by DM;
- a DM Discord refuses (closed DMs): the result is shown in the channel as usual, with a note saying why.

The placeholder then says where the image went. "Notify" sends one new message that mentions the member (an edit
never pings, so a mention in the edited placeholder would stay silent), with ``allowed_mentions`` naming only
them; it follows a result shown in the channel (a DM notifies by itself).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.logs import job_fields
from bot.store.members import MemberPreferences
from bot.surface import texts_members
from bot.surface.account_ui import jump_url
from bot.surface.delivery_errors import DISCORD_ERRORS
from bot.surface.i18n import job_locale
from bot.surface.notifier import DiscordNotifier
from bot.surface.result_message import ResultMessage

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.engine.images import PreparedImage
    from bot.engine.members import Preferences
    from bot.engine.ports import DeliveryJournal
    from bot.store import Job

__all__ = ["MemberDeliveryNotifier"]

log = logging.getLogger(__name__)


class _PlaceSeen:
    """A delivery journal that remembers the DM channel a new result was posted in (None: the job's channel)."""

    def __init__(self, journal: DeliveryJournal) -> None:
        self._journal = journal
        self.dm_id: int | None = None

    async def posting(self) -> None:
        await self._journal.posting()

    async def posted(self, message_id: int, *, channel_id: int | None = None, ephemeral: bool = False) -> None:
        self.dm_id = channel_id
        await self._journal.posted(message_id, channel_id=channel_id, ephemeral=ephemeral)


class MemberDeliveryNotifier(DiscordNotifier):
    """A ``DiscordNotifier`` that reads the member's preferences when a job's image is ready."""

    def __init__(self, client: discord.Client, *, preferences: Preferences, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._preferences = preferences
        self._notes: dict[str, str] = {}

    @job_locale
    async def deliver(
        self, job: Job, image: PreparedImage, *, journal: DeliveryJournal, more: Sequence[PreparedImage] = ()
    ) -> int:
        """Deliver privately when asked (falling back to the channel with a note), then mention when asked."""
        prefs = await self._prefs(job)
        if job.result_message_id is None and prefs.private != "off":
            private_id = await self._deliver_privately(job, [image, *more], journal, prefs.private)
            if private_id is not None:
                return private_id
            self._notes[job.id] = texts_members.private_fallback_note(job.user_id, prefs.private)
        placed = _PlaceSeen(journal)
        try:
            message_id = await super().deliver(job, image, journal=placed, more=more)
        finally:
            self._notes.pop(job.id, None)
        # A result that ended up in a DM (the channel refused it) has notified the member already, and a link to it
        # from the channel would be wrong; the channel that refused the result would refuse the mention too.
        if prefs.notify and placed.dm_id is None and job.result_channel_id is None:
            await self._ping(job, message_id)
        return message_id

    def _result_note(self, job: Job) -> str | None:
        return self._notes.get(job.id)

    async def _prefs(self, job: Job) -> MemberPreferences:
        try:
            return await self._preferences.get(job.user_id)
        except Exception:  # the image matters more than the preference: deliver as by default
            log.exception("could not read the preferences of job %s's member", job.id, extra=job_fields(job))
            return MemberPreferences(job.user_id)

    async def _deliver_privately(
        self, job: Job, images: Sequence[PreparedImage], journal: DeliveryJournal, mode: str
    ) -> int | None:
        """The result by ephemeral follow-up or DM; None when neither is possible (the caller posts it publicly)."""
        await self._settle(job.id)
        # An attempt interrupted before it stored its message id may have sent it: a DM (or a public fallback post)
        # is found by its footer and adopted, never sent twice. Ephemeral messages cannot be listed.
        adopted = await self._adopt_posted(job, journal)
        if adopted is not None:
            message_id, dm_id = adopted
            if dm_id is not None:
                await self._say_in_placeholder(job, texts_members.PRIVATE_DM_PLACEHOLDER)
            return message_id
        result = ResultMessage(job, images[0], more=images[1:])
        # Resolve the "thinking" placeholder first: Discord would turn the first follow-up of a loading response
        # into the placeholder itself (public), whatever its flags.
        if (
            mode == "ephemeral"
            and self._token_alive(job)
            and await self._say_in_placeholder(job, texts_members.PRIVATE_EPHEMERAL_PLACEHOLDER)
        ):
            await journal.posting()
            try:
                sent = await self._application_webhook(job).send(wait=True, ephemeral=True, **result.send_fields())
            except DISCORD_ERRORS as exc:
                self._token_died(job, exc)
                log.info("job %s: private follow-up refused (%s); trying a DM", job.id, exc, extra=job_fields(job))
            else:
                await journal.posted(sent.id, ephemeral=True)
                return sent.id
        try:
            dm = await self._client.create_dm(discord.Object(job.user_id))
            await journal.posting()
            fields = result.send_fields(buttons=False)
            async with await self._writes.result(dm.id):
                sent_dm = await dm.send(**{**fields, "content": texts_members.private_dm_note(job.channel_id)})
        except DISCORD_ERRORS as exc:
            log.info("job %s: private DM refused (%s); showing it in the channel", job.id, exc, extra=job_fields(job))
            return None
        await journal.posted(sent_dm.id, channel_id=dm.id)
        await self._say_in_placeholder(job, texts_members.PRIVATE_DM_PLACEHOLDER)
        return sent_dm.id

    async def _say_in_placeholder(self, job: Job, text: str) -> bool:
        """Replace the placeholder's progress with ``text``; False when Discord refused (a missing one is fine)."""
        if job.placeholder_message_id is None:
            return True
        try:
            await self._edit(job, job.placeholder_message_id, content=text, embed=None, attachments=[], view=None)
        except discord.NotFound:
            return True
        except DISCORD_ERRORS as exc:
            log.info("job %s: placeholder note refused (%s)", job.id, exc, extra=job_fields(job))
            return False
        return True

    def _application_webhook(self, job: Job) -> discord.Webhook:
        """The interaction's webhook as an application webhook: only those may send ephemeral messages.

        The notifier's own (``Webhook.partial``, public API) says it is an incoming webhook, as discord.py assumes of
        a partial one; an interaction's is of type application, which is what lets discord.py send it ephemeral.
        """
        webhook = self._webhook(job)
        webhook.type = discord.WebhookType.application
        return webhook

    async def _ping(self, job: Job, message_id: int) -> None:
        """One new message mentioning the member, pinging them and nobody else (cosmetic: failures are logged)."""
        text = texts_members.ready_ping(job.user_id, jump_url(job.guild_id, job.channel_id, message_id))
        mentions = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(job.user_id)])
        with contextlib.suppress(*DISCORD_ERRORS):
            if self._token_alive(job):
                with contextlib.suppress(*DISCORD_ERRORS):
                    await self._webhook(job).send(text, allowed_mentions=mentions)
                    return
            async with await self._writes.result(job.channel_id):
                await self._client.get_partial_messageable(job.channel_id).send(text, allowed_mentions=mentions)
            return
        log.info("job %s: could not mention the member", job.id, extra=job_fields(job))
