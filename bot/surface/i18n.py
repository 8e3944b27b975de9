"""Which language a member reads: English (the source) or a catalogue chosen from their Discord locale.

Every template in the texts modules goes through :func:`_` before it is filled in, so the English template is the
key (``_("Page {page}").format(page=2)``). Which catalogue answers depends on :data:`LOCALE`, a context variable set
where an interaction is handled (its ``locale``: Discord sends the client's language on every interaction), around
a job's notices (the locale stored with the job) and for a reply-to-edit (the server's preferred locale). Each
asyncio task copies the context it was created in, so one member's language never leaks into another's replies.

The texts modules' constants (``texts_credits.BALANCE``) are translated when they are read: :func:`translate_module`
gives those modules a class whose attribute access looks the constant up in the current catalogue, so callers keep
writing ``texts_credits.BALANCE`` and get the member's language.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast

from bot.surface.locales import de

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import discord

    from bot.store import Job

__all__ = [
    "CATALOGUES",
    "LOCALE",
    "Localized",
    "TranslatedModule",
    "_",
    "catalogue_for",
    "job_locale",
    "translate_module",
    "use_interaction_locale",
    "using_locale",
]

# Discord locale codes ("de", "en-US", "es-ES" …) → the catalogue for that language; English needs none.
CATALOGUES: dict[str, dict[str, str]] = {"de": de.MESSAGES}

LOCALE: ContextVar[str | None] = ContextVar("imagine_locale", default=None)
"""The Discord locale of whoever the current task answers (None: English)."""


def catalogue_for(locale: str | None) -> dict[str, str] | None:
    """The catalogue for a Discord locale (``"de"``; a regional form such as ``"de-AT"`` falls back to ``"de"``)."""
    if not locale:
        return None
    return CATALOGUES.get(locale) or CATALOGUES.get(locale.split("-")[0])


def _(template: str) -> str:
    """``template`` in the current locale's language; English (the template itself) when there is no entry."""
    catalogue = catalogue_for(LOCALE.get())
    if catalogue is None:
        return template
    return catalogue.get(template, template)


@contextmanager
def using_locale(locale: str | None) -> Iterator[None]:
    """Speak ``locale`` inside the block (the previous language comes back after it)."""
    token = LOCALE.set(locale)
    try:
        yield
    finally:
        LOCALE.reset(token)


def use_interaction_locale(interaction: discord.Interaction[Any]) -> None:
    """Answer this interaction in its member's language for the rest of the task that handles it.

    Called first in every interaction's handling task (the tree's and the components' ``interaction_check``):
    discord.py runs the check and then the callback in one task of their own, so the setting stays in that task.
    """
    LOCALE.set(str(interaction.locale.value))


class Localized:
    """Mixin for components and modals: their handling task speaks the clicking member's language.

    discord.py calls ``interaction_check`` in the same task as the callback, before it (``DynamicItem`` and
    ``Modal`` alike); the default check lets everyone through, and so does this one.
    """

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Set the member's language, let the click through (the callback does its own checks)."""
        use_interaction_locale(interaction)
        return True


# -- the texts modules' constants, translated when read -------------------------------------------------------


def _translated(value: object) -> object:
    if type(value) is str:
        return _(value)
    if isinstance(value, dict) and value and all(type(v) is str for v in value.values()):
        return {k: _(v) for k, v in value.items()}
    return value


class TranslatedModule(types.ModuleType):
    """A texts module whose public constants (UPPER_CASE str, or dicts of str) come back in the current language."""

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name.isupper() and not name.startswith("_"):
            return _translated(value)
        return value


def translate_module(name: str) -> None:
    """Make the module ``name`` translate its constants on access (call it at the end of a texts module)."""
    sys.modules[name].__class__ = TranslatedModule


# -- a job's notices in the language of the member who asked for it ------------------------------------------

_F = TypeVar("_F", bound="Callable[..., Any]")


def job_locale(method: _F) -> _F:
    """Run a notifier method ``(self, job, ...)`` in the language stored with its job.

    The runner's tasks have no interaction; the job remembers its member's locale. Works on plain and on
    coroutine methods (for those the language holds across their awaits). Tasks the method starts inherit it.
    """
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def run_async(self: object, job: Job, *args: Any, **kwargs: Any) -> Any:
            with using_locale(job.locale):
                return await method(self, job, *args, **kwargs)

        return cast("_F", run_async)

    @functools.wraps(method)
    def run(self: object, job: Job, *args: Any, **kwargs: Any) -> Any:
        with using_locale(job.locale):
            return method(self, job, *args, **kwargs)

    return cast("_F", run)
