"""Every sentence a member reads lives in ``bot.surface.texts``: an AST scan of the surface and the cogs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.surface import texts, texts_refusals, ui

ROOT = Path(__file__).resolve().parents[2]

# Calls whose first argument is what the member reads: the surface's errors and Discord's send/reply.
_MESSAGE_CALLS = frozenset(
    {"UserFacingError", "InvalidInput", "NotAllowed", "AdminOnly", "send_message", "send", "reply"}
)
# Keywords that put words in front of a member: message text, button/field labels, modal and embed texts.
_MESSAGE_KEYWORDS = frozenset({"content", "label", "placeholder", "title", "text", "value"})
# Two letters in a row: a word. Markup such as f"<@{user}>" or f"`{name}`" holds none and is not wording.
_WORD = re.compile(r"[^\W\d_]{2,}")


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _wording(node: ast.expr) -> str | None:
    """The literal words of a string constant or f-string, if it has any."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        literal = node.value
    elif isinstance(node, ast.JoinedStr):
        literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    else:
        return None
    return literal if _WORD.search(literal) else None


def inline_wording(source: str, filename: str = "<planted>") -> list[str]:
    """Where ``source`` passes a member-facing sentence written inline (``file:line: call: text``)."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.arguments):  # a default such as ``label: str = "Next"``
            named = node.posonlyargs + node.args
            pairs = list(zip(named[len(named) - len(node.defaults) :], node.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True) if d is not None]
            for arg, default in pairs:
                words = _wording(default) if arg.arg in _MESSAGE_KEYWORDS | {"question"} else None
                if words is not None:
                    found.append(f"{filename}:{default.lineno}: default of {arg.arg}: {words!r}")
            continue
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        candidates = []
        if name in _MESSAGE_CALLS and node.args:
            candidates.append(node.args[0])
        candidates += [kw.value for kw in node.keywords if kw.arg in _MESSAGE_KEYWORDS]
        for candidate in candidates:
            words = _wording(candidate)
            if words is not None:
                found.append(f"{filename}:{candidate.lineno}: {name}: {words!r}")
    return found


def _scanned() -> list[Path]:
    files = sorted((ROOT / "bot" / "surface").glob("*.py")) + sorted((ROOT / "cogs").glob("*.py"))
    # texts.py and its siblings (texts_members.py …) are where the wording lives.
    return [f for f in files if not f.name.startswith("texts")]


def test_no_member_facing_sentence_outside_texts() -> None:
    files = _scanned()
    # The scan must look at the modules that answer members, or it proves nothing.
    names = {f.relative_to(ROOT).as_posix() for f in files}
    assert {"bot/surface/components.py", "bot/surface/reporting.py", "cogs/admin.py", "cogs/edit.py"} <= names
    found = [hit for f in files for hit in inline_wording(f.read_text(), f.relative_to(ROOT).as_posix())]
    assert found == [], "wording belongs in bot/surface/texts.py:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "planted",
    [
        'raise NotAllowed("Only admins may do that.")',
        'raise UserFacingError(f"This job {job_id} is gone.")',
        'raise InvalidInput(f"`{name}` must be a number.")',
        'raise AdminOnly("Admins only.")',
        'await interaction.response.send_message("Not yours.", ephemeral=True)',
        'await interaction.followup.send(f"Done, {member.mention}.", ephemeral=True)',
        'await message.reply("I can\'t see it.", mention_author=False)',
        'await interaction.edit_original_response(content="Queued")',
        'button = ui.Button(label="Cancel", custom_id="x")',
        'embed = discord.Embed(title="Your credits")',
        'embed.add_field(name=texts_credits.BALANCE, value=f"{n} left")',
        'def g(*, label: str = "Next"): pass',
        'def g(title="Edit image"): pass',
    ],
)
def test_the_scan_finds_a_planted_sentence(planted: str) -> None:
    assert len(inline_wording(f"async def f():\n    {planted}\n")) == 1


@pytest.mark.parametrize(
    "clean",
    [
        "raise NotAllowed(texts_credits.ADMIN_ONLY)",
        "await interaction.followup.send(texts_credits.granted(amount, member.mention), ephemeral=True)",
        'embed.add_field(name=texts.RESULT_REQUESTED_BY, value=f"<@{user_id}>")',
        'source = SourceImage(url=url, link=url, label=f"`{filename}`")',
        'log.info("refused %s for user %s", command, user)',
    ],
)
def test_the_scan_passes_words_from_texts_and_bare_markup(clean: str) -> None:
    assert inline_wording(f"async def f():\n    {clean}\n") == []


def test_ui_words_a_job_with_the_texts_module_itself() -> None:
    """``ui`` re-exports the wording for its callers; a second copy there would escape the translator."""
    for name in ("progress_text", "failure_reason", "failure_text", "dm_delivery_note", "shorten"):
        assert getattr(ui, name) is getattr(texts, name), name
    assert ui.refusal_text is texts_refusals.refusal_text
