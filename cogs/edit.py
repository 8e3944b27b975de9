"""Editing: /edit, the "Edit image" message menu, and reply-to-edit by mentioning the bot."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.credits import role_ids_of
from bot.engine.sources import SourceImage, parse_url_list, plan_sources
from bot.surface import texts, texts_settings
from bot.surface.components import EditModal, job_id_in
from bot.surface.errors import InvalidInput
from bot.surface.i18n import LOCALE
from bot.surface.intake import clean_prompt, job_for_reply, submit_edit
from bot.surface.reporting import user_message_for
from bot.surface.settings_ui import place_of_channel

# Runtime import: discord.py evaluates the command annotations that use these.
from cogs.common import AspectRatioOption, PromptTransformer, TextOption  # noqa: TC001

if TYPE_CHECKING:
    from bot.engine.runner import JobRunner
    from bot.engine.server_rules import ServerRules
    from bot.engine.sources import SourceFetcher
    from bot.surface.app import ImagineBot
    from bot.surface.channel_writes import ChannelWrites

__all__ = ["EditCog", "images_in", "setup"]

log = logging.getLogger(__name__)

_IMAGE_NAME = re.compile(r"\.(png|jpe?g|webp)$", re.IGNORECASE)


def images_in(message: discord.Message) -> list[SourceImage]:
    """The images a message holds: attachments first, then embed images (the bot's results included)."""
    found: list[SourceImage] = []
    for attachment in message.attachments:
        if (attachment.content_type or "").startswith("image/") or _IMAGE_NAME.search(attachment.filename):
            found.append(
                SourceImage(
                    url=attachment.url,
                    link=message.jump_url,
                    label=f"`{attachment.filename}`",
                    content_type=attachment.content_type,
                    size=attachment.size,
                )
            )
    for embed in message.embeds:
        for url in (embed.image.url, embed.thumbnail.url):
            if url and url.startswith(("http://", "https://")) and all(i.url != url for i in found):
                found.append(SourceImage(url=url, link=message.jump_url, label=texts.SOURCE_EMBEDDED_IMAGE))
    return found


class EditCog(commands.Cog):
    """Every way to edit or combine existing images."""

    def __init__(
        self,
        *,
        runner: JobRunner,
        sources: SourceFetcher,
        tree: app_commands.CommandTree[ImagineBot],
        allow_private_urls: bool,
        message_content_intent: bool,
        rules: ServerRules | None = None,
        writes: ChannelWrites,
    ) -> None:
        self._runner = runner
        self._rules = rules
        # Replies are bot-token writes in the member's channel: they share its budget with the results.
        self._writes = writes
        self._sources = sources
        self._tree = tree
        self._allow_private = allow_private_urls
        self._content_intent = message_content_intent
        self._menu = app_commands.ContextMenu(name="Edit image", callback=self.edit_image_menu)

    async def cog_load(self) -> None:
        """Register the message menu (the decorator form does not work inside a class)."""
        self._tree.add_command(self._menu)

    async def cog_unload(self) -> None:
        """Remove the message menu again."""
        self._tree.remove_command(self._menu.name, type=self._menu.type)

    @app_commands.command(name="edit")
    async def edit(
        self,
        interaction: discord.Interaction[ImagineBot],
        prompt: app_commands.Transform[str, PromptTransformer],
        image: discord.Attachment | None = None,
        urls: app_commands.Transform[str, TextOption(1, 6000, name="urls")] | None = None,
        aspect_ratio: app_commands.Transform[str, AspectRatioOption] = "auto",
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        image5: discord.Attachment | None = None,
        image6: discord.Attachment | None = None,
        image7: discord.Attachment | None = None,
        image8: discord.Attachment | None = None,
        image9: discord.Attachment | None = None,
        image10: discord.Attachment | None = None,
    ) -> None:
        """Edit an image, or combine up to 10, following your instruction.

        Parameters
        ----------
        prompt:
            What to change or create, e.g. "put the cat from image 1 on the sofa from image 2".
        image:
            An image to edit (JPEG, PNG or WebP, up to 30 MB).
        urls:
            Links to more images (http/https), separated by spaces or new lines (up to 6,000 characters).
        aspect_ratio:
            Shape of the result; "auto" lets the model decide.
        """
        attached = [image, image2, image3, image4, image5, image6, image7, image8, image9, image10]
        sources = plan_sources(
            [_from_attachment(a) for a in attached if a is not None]
            + [
                SourceImage(url=url, link=url, label=texts.source_link_n(n))
                for n, url in enumerate(parse_url_list(urls, allow_private=self._allow_private), 1)
            ]
        )
        await submit_edit(
            interaction,
            runner=self._runner,
            fetcher=self._sources,
            prompt=prompt,
            aspect_ratio=aspect_ratio,
            sources=sources,
        )

    async def edit_image_menu(self, interaction: discord.Interaction[ImagineBot], message: discord.Message) -> None:
        """Message menu "Edit image": ask for the instruction in a modal, then edit like /edit."""
        images = images_in(message)
        if not images:
            raise InvalidInput(texts.NO_IMAGE_IN_MESSAGE)
        await interaction.response.send_modal(EditModal(images, parent_job_id=job_id_in(message)))

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Reply to an image, mention the bot and say what to change: "@imagine make it night"."""
        me = self._tree.client.user
        if message.author.bot or me is None or message.reference is None:
            return
        mention = re.compile(rf"<@!?{me.id}>")
        if not mention.search(message.content):
            return
        # A message carries no locale of its member: answer in the server's language (its Community setting).
        LOCALE.set(str(message.guild.preferred_locale.value) if message.guild else None)
        if self._rules is not None and not self._rules.reply_edit_enabled(message.guild.id if message.guild else None):
            await self._answer(message, texts_settings.REPLY_EDIT_OFF)
            return
        target = await self._referenced(message)
        if target is None:
            await self._answer(message, texts.REPLIED_MESSAGE_GONE)
            return
        images = images_in(target)
        if not images:
            # Without the intent, Discord blanks other members' messages that don't mention the bot.
            blanked = not (target.content or target.attachments or target.embeds)
            hidden = blanked and target.author.id != me.id and not self._content_intent
            await self._answer(message, texts.INTENT_HINT if hidden else texts.REPLIED_MESSAGE_NO_IMAGE)
            return
        try:
            instruction = clean_prompt(mention.sub("", message.content))
        except InvalidInput:  # nothing but the mention, or only invisible characters
            await self._answer(message, texts.reply_needs_instruction(me.mention))
            return
        await self._edit_from_reply(message, target, images, instruction)

    async def _edit_from_reply(
        self, message: discord.Message, target: discord.Message, images: list[SourceImage], instruction: str
    ) -> None:
        async with await self._writes.result(message.channel.id):
            placeholder = await message.reply(texts.CHECKING_IMAGE, mention_author=False)
        try:
            prompt = clean_prompt(instruction)
            sources = plan_sources(images)
            request = job_for_reply(
                message,
                prompt=prompt,
                placeholder=placeholder.id,
                image_urls=[s.url for s in sources],
                sources=[target.jump_url],
                parent_job_id=job_id_in(target),
            )
            place = place_of_channel(message.channel, message.channel.id)
            await self._runner.screen(request, place)  # a blocked instruction fetches no image
            await self._sources.check(sources)
            await self._runner.submit(request, role_ids=role_ids_of(message.author), place=place)
        except Exception as exc:
            # There is no ephemeral reply outside interactions, so say it in place of "Checking the image…".
            text, error_id = user_message_for(exc)
            if error_id is not None:
                log.error("error %s in reply-to-edit (user %s)", error_id, message.author.id, exc_info=exc)
            try:
                async with await self._writes.result(message.channel.id):
                    await placeholder.edit(content=texts.reply_failed(text))
            except discord.HTTPException as edit_error:
                log.info("could not answer message %s: %s", message.id, edit_error)

    async def _answer(self, message: discord.Message, text: str) -> None:
        try:
            async with await self._writes.result(message.channel.id):
                await message.reply(text, mention_author=False)
        except discord.HTTPException as exc:
            log.info("could not answer message %s: %s", message.id, exc)

    async def _referenced(self, message: discord.Message) -> discord.Message | None:
        reference = message.reference
        assert reference is not None
        if isinstance(reference.resolved, discord.Message):
            return reference.resolved
        if reference.message_id is None:
            return None
        try:
            return await message.channel.fetch_message(reference.message_id)
        except (discord.NotFound, discord.Forbidden):
            return None


def _from_attachment(attachment: discord.Attachment) -> SourceImage:
    return SourceImage(
        url=attachment.url,
        link=attachment.url,
        label=f"`{attachment.filename}`",
        content_type=attachment.content_type,
        size=attachment.size,
    )


async def setup(bot: ImagineBot) -> None:
    """Extension entry point: give the cog the services it uses."""
    settings = bot.settings
    await bot.add_cog(
        EditCog(
            runner=bot.services.runner,
            sources=bot.services.sources,
            tree=bot.tree,
            allow_private_urls=settings.images.allow_private_urls,
            message_content_intent=settings.discord.message_content_intent,
            rules=bot.services.server_rules,
            writes=bot.services.writes,
        )
    )
