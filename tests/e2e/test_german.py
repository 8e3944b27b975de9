"""A German Discord client, end to end: real discord.py, the fake Discord (which sends each member's locale) and the
reAPI simulator. Every text is compared with the catalogue entry for the English template, so the test follows the
catalogue and proves the right entry was used, not merely that some German appeared."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.reapi.simulator import Fault, Outcome
from bot.surface import texts
from bot.surface.locales import de
from tests.e2e.conftest import webhook_edits
from tests.e2e.test_credits import answer, fields
from tests.e2e.test_edit import button_id, delivered_result
from tests.e2e.test_imagine import final_edit, imagine
from tests.e2e.test_input import ephemeral_answer
from tests.fakes.discord_rules import command_errors

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord

StartBot = Callable[..., Awaitable["ImagineBot"]]
JSON = dict[str, Any]
GERMAN = de.MESSAGES


def german(english: str, **facts: object) -> str:
    """The German text for an English template, filled in."""
    return GERMAN[english].format(**facts)


async def test_a_german_client_reads_german_replies_progress_results_and_failures(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot, make_settings: Callable[..., Settings]
) -> None:
    sim.next_outcomes.append(Outcome.complete(delay=2.5))  # outlasts the slow submit below
    await start_bot(make_settings(jobs={"progress_interval": 0.05, "poll_interval": 0.02, "max_poll_interval": 0.02}))
    fake.set_locale(fake.member_user, "de")

    # A refusal: the empty prompt, answered ephemerally in German.
    refused = await imagine(fake, "   ")
    assert refused.payload["locale"] == "de"
    assert await ephemeral_answer(fake, refused) == GERMAN[texts.PROMPT_EMPTY]

    # /imagine: German progress in the placeholder, then a German result embed and buttons. The submit lasts long
    # enough for its own line to be shown (a quick one goes straight to "Generating").
    sim.inject("submit", Fault.slow(1.5))
    inter = await imagine(fake, "ein Fuchs im Schnee", "16:9")
    final = await final_edit(fake, inter, files=True)
    progress = [str(r.json["content"]) for r in webhook_edits(fake, inter.token) if r.index < final.index]
    assert german("📤 Submitting to reAPI…") in progress
    generating = german("🎨 Generating…")
    assert any(line.startswith(generating) for line in progress), progress
    assert not any("Submitting" in line or "Generating" in line for line in progress), progress
    embed = final.json["embeds"][0]
    assert [f["name"] for f in embed["fields"]] == [german("Requested by")]
    assert embed["footer"]["text"].startswith(german("aspect {aspect_ratio}", aspect_ratio="16:9"))
    result = await delivered_result(fake, inter)
    labels = [child["label"] for row in result["components"] for child in row["components"]]
    assert labels == [german(label) for label in ("Reroll", "Edit", "Use as reference", "Delete")]

    # A result button opens a German modal.
    click = await fake.send_component_click(button_id(result, "edit"), message=result, user=fake.member_user)
    await fake.wait_for_request("POST", click.callback_path)
    assert click.modal is not None
    assert click.modal["title"] == german("Edit this image")

    # /credits: a German embed.
    shown = await answer(fake, await fake.send_slash_command("credits", user=fake.member_user))
    assert shown["embeds"][0]["title"] == german("Your credits")
    balance = fields(shown)[german("Balance")]
    assert balance.startswith(f"**{german('{n} credits', n=49)}** ({german('everywhere')})")
    assert fields(shown)[german("Cost per image")] == german("{n} credit", n=1)

    # A failure: the reason and the refund in German.
    sim.next_outcomes.append(Outcome.fail(80006, "blocked by policy"))
    failing = await imagine(fake, "etwas Verbotenes")
    failed = await final_edit(fake, failing, files=False)
    reason = german("reAPI's content filter refused this request. Try rewording it.")
    assert failed.json["content"] == f"❌ {reason}\n{german('Your {n} credit was refunded.', n=1)}"


async def test_english_and_german_members_are_answered_each_in_their_own_language(
    fake: FakeDiscord, sim: ReapiSimulator, start_bot: StartBot
) -> None:
    await start_bot()
    fake.set_locale(fake.member_user, "de")
    fake.set_locale(fake.owner_user, "en-US")
    in_german = await imagine(fake, "   ")
    in_english = await fake.send_slash_command("imagine", [{"name": "prompt", "value": "  "}], user=fake.owner_user)
    assert await ephemeral_answer(fake, in_german) == GERMAN[texts.PROMPT_EMPTY]
    assert await ephemeral_answer(fake, in_english) == texts.PROMPT_EMPTY
    # A locale the bot has no catalogue for gets English.
    fake.set_locale(fake.member_user, "fr")
    assert await ephemeral_answer(fake, await imagine(fake, "   ")) == texts.PROMPT_EMPTY


def _missing_german(thing: JSON, where: str, *, chat_input: bool = True) -> list[str]:
    """The names, descriptions and worded choice names of a command payload that have no German version."""
    missing = []
    if "de" not in (thing.get("name_localizations") or {}):
        missing.append(f"{where}: name {thing['name']!r}")
    worded_description = any(c.isalpha() for c in thing.get("description") or "")  # not a bare "…"
    if chat_input and worded_description and "de" not in (thing.get("description_localizations") or {}):
        missing.append(f"{where}: description {thing['description']!r}")
    for choice in thing.get("choices") or []:
        worded = any(c.isalpha() for c in choice["name"])
        if worded and "de" not in (choice.get("name_localizations") or {}):
            missing.append(f"{where}: choice {choice['name']!r}")
    for option in thing.get("options") or []:
        missing += _missing_german(option, f"{where} {option['name']}")
    return missing


async def test_the_commands_are_registered_with_german_names_and_descriptions(
    fake: FakeDiscord, start_bot: StartBot
) -> None:
    await start_bot()
    (pushed,) = fake.requests_matching("PUT", rf"/applications/{fake.application_id}/commands")
    commands: list[JSON] = pushed.json
    by_name = {c["name"]: c for c in commands}
    assert by_name["imagine"]["name_localizations"]["de"] == de.COMMANDS["imagine"]
    assert by_name["imagine"]["description_localizations"]["de"] == de.COMMANDS["Create an image from a description."]
    assert by_name["Edit image"]["name_localizations"]["de"] == "Bild bearbeiten"  # the message menu
    missing = [m for c in commands for m in _missing_german(c, c["name"], chat_input=int(c.get("type", 1)) == 1)]
    assert missing == [], "add these to de.COMMANDS / de.CHOICES:\n" + "\n".join(missing)
    # The fake refuses a sync that breaks Discord's rules (command_errors): this one passed them all.
    assert command_errors(commands) is None


def test_the_fake_refuses_localizations_discord_would_refuse() -> None:
    good: JSON = {"name": "bild", "description": "Erstell ein Bild.", "type": 1}
    assert command_errors([good]) is None
    for bad in (
        {**good, "name_localizations": {"de": "Bild"}},  # capitals
        {**good, "name_localizations": {"de": "zwei wörter"}},  # a space
        {**good, "name_localizations": {"de": "x" * 33}},  # too long
        {**good, "name_localizations": {"xx": "bild"}},  # no such locale
        {**good, "description_localizations": {"de": "y" * 101}},
        {**good, "options": [{"name": "o", "description": "d", "type": 3, "name_localizations": {"de": "Ö"}}]},
    ):
        refusal = command_errors([bad])
        assert refusal is not None, bad
        assert (refusal[0], refusal[1]["code"]) == (400, 50035)
    menu: JSON = {"name": "Edit image", "type": 3, "name_localizations": {"de": "Bild bearbeiten"}}
    assert command_errors([menu]) is None
