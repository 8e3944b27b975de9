"""The German catalogue: complete, faithful to each template's placeholders and markup, and actually used."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import re
import string

import discord
import pytest
from discord import app_commands

from bot.engine.failures import FailureCode, JobFailure
from bot.engine.progress import Progress, Stage
from bot.surface import i18n, texts, texts_credits, texts_members, texts_settings
from bot.surface.i18n import TranslatedModule, _, using_locale
from bot.surface.locales import de
from bot.surface.translator import NAME_RULE, CatalogueTranslator, translate_command_string
from tests.surface.i18n_scan import TEXTS_MODULES, all_templates, templates_in

# Discord markup a translation must keep exactly: code spans, bold, timestamps/mentions, small text, new lines.
_MARKUP = ("`", "**", "<t:", "<#", "<@", "-#", "\n", "→")


def _fields(template: str) -> list[tuple[str | None, str | None]]:
    return sorted((name, spec) for _, name, spec, _ in string.Formatter().parse(template) if name is not None)


def test_the_scan_sees_every_texts_module_and_their_templates() -> None:
    names = {p.name for p in TEXTS_MODULES}
    assert {"texts.py", "texts_members.py", "texts_settings.py"} <= names
    found = all_templates()
    # Constants, dict values, and `_()` templates inside functions are all collected.
    assert "Balance" in found
    assert "Reroll" in found
    assert "Page {page}" in found
    assert "reAPI could not make this image." in found


def test_every_template_has_a_german_entry() -> None:
    missing = [t for t in all_templates() if t not in de.MESSAGES]
    assert missing == [], "add these to bot/surface/locales/de.py:\n" + "\n".join(map(repr, missing))


def test_the_catalogue_holds_no_entry_that_no_template_uses() -> None:
    used = set(all_templates())
    stale = [key for key in de.MESSAGES if key not in used]
    assert stale == [], stale


@pytest.mark.parametrize("template", all_templates())
def test_german_keeps_the_placeholders_and_the_markup(template: str) -> None:
    german = de.MESSAGES.get(template)
    if german is None:
        pytest.skip("missing entries are reported by test_every_template_has_a_german_entry")
    assert _fields(german) == _fields(template)
    for token in _MARKUP:
        assert german.count(token) == template.count(token), token
    # Fragments such as " and " keep their surrounding spaces; sentences have none.
    assert (german[:1].isspace(), german[-1:].isspace()) == (template[:1].isspace(), template[-1:].isspace())
    assert german.strip()


def _unwrapped(source: str, filename: str) -> list[str]:
    """Wording in a texts module that would reach a member without passing through ``_()``."""
    tree = ast.parse(source, filename=filename)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    wording_names = {
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and t.id.lstrip("_").isupper() and t.id != "__all__"
    }
    word = re.compile(r"[^\W\d_]{2,}")
    # Keys and values compared against ("global", "ephemeral", "/channels/") are not wording.
    identifier = re.compile(r"[a-z0-9_:/.-]*")

    def translated(node: ast.AST) -> bool:
        parent = parents.get(node)
        # `_(X)`, `_(X[key])`, `_(X.get(key, default))`
        while isinstance(parent, (ast.Subscript, ast.Attribute)) or (
            isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute)
        ):
            node, parent = parent, parents.get(parent)
        return isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "_"

    found = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        docstring = ast.get_docstring(function, clean=False)
        for node in ast.walk(function):
            if isinstance(node, ast.JoinedStr):
                literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                if word.search(literal):
                    found.append(f"{filename}:{node.lineno}: f-string with words (use _(template).format)")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and word.search(node.value):
                if identifier.fullmatch(node.value):
                    continue
                if node.value != docstring and not translated(node) and not isinstance(parents[node], ast.JoinedStr):
                    found.append(f"{filename}:{node.lineno}: {node.value!r} outside _()")
            elif isinstance(node, ast.Name) and node.id in wording_names and not translated(node):
                if isinstance(parents[node], ast.For):  # a table walked by a loop that translates its rows
                    continue
                found.append(f"{filename}:{node.lineno}: {node.id} used without _()")
    return found


def test_no_wording_in_the_texts_modules_escapes_the_translator() -> None:
    found = [hit for path in TEXTS_MODULES for hit in _unwrapped(path.read_text(), path.name)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    "planted",
    [
        'def f(n):\n    return f"Page {n}"\n',
        'def f():\n    return "Nothing here."\n',
        'LABELS = {"a": "Apple"}\ndef f(k):\n    return LABELS[k]\n',
        'QUEUED = "Queued"\ndef f():\n    return QUEUED + "!"\n',
    ],
)
def test_the_escape_scan_finds_planted_wording(planted: str) -> None:
    assert len(_unwrapped(planted, "<planted>")) == 1


def test_the_escape_scan_passes_wrapped_wording() -> None:
    clean = (
        'LABELS = {"a": "Apple"}\ndef f(k, n):\n    """Doc."""\n    return _(LABELS[k]) + _("Page {n}").format(n=n)\n'
    )
    assert _unwrapped(clean, "<clean>") == []
    assert templates_in(clean) == ["Apple", "Page {n}"]


def test_every_texts_module_translates_its_constants_on_access() -> None:
    for path in TEXTS_MODULES:
        module = importlib.import_module(f"bot.surface.{path.stem}")
        assert isinstance(module, TranslatedModule), f"{path.name} must end with translate_module(__name__)"


def test_constants_and_functions_speak_the_current_locale() -> None:
    assert texts_credits.BALANCE == "Balance"
    with using_locale("de"):
        assert de.MESSAGES["Balance"] == texts_credits.BALANCE
        assert texts.BUTTON_LABELS["reroll"] == de.MESSAGES["Reroll"]
        assert texts_members.PRIVATE_LABELS["dm"] == de.MESSAGES["By DM (in the channel if your DMs are closed)"]
        assert de.MESSAGES["Server settings"] == texts_settings.SETTINGS_TITLE
        assert texts_credits.history_page(3) == de.MESSAGES["Page {page}"].format(page=3)
        failed = texts.failure_text(JobFailure(FailureCode.TIMEOUT), refunded=2)
        assert failed == "❌ " + de.MESSAGES["reAPI did not finish in time."] + "\n" + de.MESSAGES[
            "Your {n} credits were refunded."
        ].format(n=2)
        assert texts.progress_text(Progress(Stage.SUBMITTING)) == de.MESSAGES["📤 Submitting to reAPI…"]
    assert texts_credits.BALANCE == "Balance"  # the block's language ends with it


@pytest.mark.parametrize(
    ("locale", "expected"),
    [(None, "Balance"), ("en-US", "Balance"), ("fr", "Balance"), ("pt-BR", "Balance"), ("de", "Guthaben")],
)
def test_unknown_locales_fall_back_to_english(locale: str | None, expected: str) -> None:
    with using_locale(locale):
        assert _("Balance") == expected
        assert _("a sentence no catalogue has") == "a sentence no catalogue has"


def test_a_regional_locale_uses_its_languages_catalogue() -> None:
    assert i18n.catalogue_for("de-AT") is de.MESSAGES
    assert i18n.catalogue_for("es-ES") is None


async def test_each_task_keeps_its_own_language() -> None:
    async def read(locale: str | None) -> str:
        i18n.LOCALE.set(locale)
        await asyncio.sleep(0)  # the other task runs and sets its own
        return texts_credits.BALANCE

    assert await asyncio.gather(read("de"), read("en-US")) == ["Guthaben", "Balance"]
    assert texts_credits.BALANCE == "Balance"


# -- command names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("english", sorted(de.COMMANDS))
def test_command_strings_follow_discords_rules(english: str) -> None:
    german = de.COMMANDS[english]
    assert 1 <= len(german) <= 100
    if NAME_RULE.fullmatch(english) and english == english.lower():  # an English name: the German one is a name too
        assert NAME_RULE.fullmatch(german), german
        assert german == german.lower(), german


def test_the_translator_refuses_a_name_discord_would_refuse() -> None:
    location = app_commands.TranslationContextLocation.command_name
    assert translate_command_string("imagine", "de", location) == de.COMMANDS["imagine"]
    assert translate_command_string("imagine", "fr", location) is None
    de.COMMANDS["__planted__"] = "Zwei Wörter"
    try:
        assert translate_command_string("__planted__", "de", location) is None
        description = app_commands.TranslationContextLocation.command_description
        assert translate_command_string("__planted__", "de", description) == "Zwei Wörter"
    finally:
        del de.COMMANDS["__planted__"]


async def test_choice_names_come_from_the_message_catalogue() -> None:
    translator = CatalogueTranslator()
    choice = app_commands.Choice(name="16:9 widescreen", value="16:9")
    context = app_commands.TranslationContext(app_commands.TranslationContextLocation.choice_name, choice)
    german = await translator.translate(app_commands.locale_str("16:9 widescreen"), discord.Locale.german, context)
    assert german == de.MESSAGES["16:9 widescreen"]


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_component_and_modal_answers_in_the_clickers_language() -> None:
    """A new button or modal that forgot to set the locale would answer a German member in English."""
    for name in ("cogs.credits", "cogs.jobs", "cogs.edit", "bot.surface.components"):
        importlib.import_module(name)
    ours = [
        cls
        for cls in _subclasses(discord.ui.DynamicItem) + _subclasses(discord.ui.Modal)
        if cls.__module__.split(".")[0] in ("bot", "cogs")
    ]
    assert {"ResultButton", "CancelButton", "EditModal", "HistoryButton", "JobCancelButton"} <= {
        c.__name__ for c in ours
    }
    for cls in ours:
        check = inspect.getsource(cls.interaction_check)
        assert issubclass(cls, i18n.Localized) or "use_interaction_locale" in check, cls.__qualname__
