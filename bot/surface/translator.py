"""Command names, descriptions and choice names in the members' languages (discord.py's ``Translator``).

discord.py asks this translator for every string of every command when it syncs the tree, once per locale Discord
knows; what it returns goes to Discord as ``name_localizations`` / ``description_localizations``, and each member's
client shows the commands in its own language. The slash command a member types is then the localized name,
but the interaction carries the command's real name, so the cogs never see the translation.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from discord import app_commands

from bot.surface.i18n import catalogue_for
from bot.surface.locales import de

if TYPE_CHECKING:
    import discord

__all__ = ["CHOICE_CATALOGUES", "COMMAND_CATALOGUES", "NAME_RULE", "CatalogueTranslator"]

# The command strings per language: names and descriptions; choice names (with the message catalogue's labels).
COMMAND_CATALOGUES: dict[str, dict[str, str]] = {"de": de.COMMANDS}
CHOICE_CATALOGUES: dict[str, dict[str, str]] = {"de": de.CHOICES}

# Discord's rule for chat-input command, group and option names, localized ones included.
NAME_RULE = re.compile(r"^[-_\w]{1,32}$")

_NAMES = frozenset(
    {
        app_commands.TranslationContextLocation.command_name,
        app_commands.TranslationContextLocation.group_name,
        app_commands.TranslationContextLocation.parameter_name,
    }
)


class CatalogueTranslator(app_commands.Translator):
    """Looks command strings up in :data:`COMMAND_CATALOGUES`, then (choice names) in the message catalogue."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The translation of ``string`` for ``locale``, or None to leave Discord's default (English)."""
        return translate_command_string(string.message, str(locale.value), context.location, context.data)


def translate_command_string(
    message: str, locale: str, location: app_commands.TranslationContextLocation, data: Any = None
) -> str | None:
    """The catalogue's translation of one command string (None: none, or not a valid localized name)."""
    language = locale.split("-")[0]
    if location is app_commands.TranslationContextLocation.choice_name:
        choices = CHOICE_CATALOGUES.get(locale) or CHOICE_CATALOGUES.get(language) or {}
        found = choices.get(message) or (catalogue_for(locale) or {}).get(message)
    else:
        found = (COMMAND_CATALOGUES.get(locale) or COMMAND_CATALOGUES.get(language) or {}).get(message)
    if found is None:
        return None
    is_menu = isinstance(data, app_commands.ContextMenu)  # a menu's name may hold spaces and capitals
    if location in _NAMES and not is_menu and not (NAME_RULE.fullmatch(found) and found == found.lower()):
        # Discord would refuse the whole sync over one bad name: keep the English one instead.
        return None
    return found
