"""Prompt cleaning at intake: invisible-only prompts are empty, control characters are dropped."""

from __future__ import annotations

import random
import string
import unicodedata

import pytest

from bot.surface.errors import InvalidInput
from bot.surface.intake import clean_prompt


@pytest.mark.parametrize(
    "prompt",
    [
        "",
        "   \n\t ",
        "\u200b\u200b\u200b",  # zero-width spaces
        "\u200c\u200d\u2060\ufeff",  # zero-width (non-)joiner, word joiner, BOM
        "\u3164",  # Hangul filler
        "\u115f\u1160\uffa0",  # more Hangul fillers
        "\u2800\u2800",  # blank Braille pattern
        "\x00\x07\x1b\x7f\x85",  # control characters
        "\u202e\u200f\u00ad",  # bidi override, right-to-left mark, soft hyphen
        "\u0301\u0301\u034f",  # combining marks with nothing to combine with
        "\u180e\u3000\u00a0",  # Mongolian vowel separator, ideographic and no-break spaces
        "\ufe0f\U000e0020",  # variation selector, tag space
    ],
)
def test_prompts_of_invisible_characters_are_empty(prompt: str) -> None:
    with pytest.raises(InvalidInput, match="prompt is empty"):
        clean_prompt(prompt)


def test_visible_text_is_kept_and_control_characters_dropped() -> None:
    assert clean_prompt("  a fox\x00 in the\x1b snow\n\twith 🦊  ") == "a fox in the snow\n\twith 🦊"
    assert clean_prompt("\u3164\u200b fox\u2800\u200b ") == "fox"
    assert clean_prompt("cafe\u0301") == "cafe\u0301"  # a trailing accent belongs to its letter
    assert clean_prompt("한국어 고양이") == "한국어 고양이"
    assert clean_prompt("👨\u200d👩\u200d👧") == "👨\u200d👩\u200d👧"  # joiners inside an emoji stay


def test_length_is_counted_after_cleaning() -> None:
    assert len(clean_prompt("x" * 6000 + "\x00" * 50)) == 6000
    with pytest.raises(InvalidInput, match="the limit is 6,000"):
        clean_prompt("x" * 6001)


def test_a_printable_ascii_prompt_is_cleaned_without_a_unicode_lookup_per_character(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nearly every prompt is printable ASCII, cleaned before the ACK: ~0.1 µs per character looked up, 20-35 µs
    for a prompt of a few sentences, about a tenth of what discord.py itself spends on an interaction."""
    rng = random.Random(7)
    alphabet = string.printable  # letters, digits, punctuation, and the whitespace the slow path sees as blank
    samples = [
        "  a lighthouse at dusk, watercolour  ",
        " ",
        "x",
        "~!",
        *("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(300)),
    ]
    lookups: list[str] = []
    category = unicodedata.category

    def counted(char: str) -> str:
        lookups.append(char)
        return category(char)

    def outcome(value: str) -> str | None:
        try:
            return clean_prompt(value)
        except InvalidInput:
            return None

    monkeypatch.setattr(unicodedata, "category", counted)  # the module intake looks it up in
    for sample in samples:
        # Zero-width spaces around it: the same prompt, but not ASCII, so cleaned character by character.
        by_character = outcome(f"\u200b{sample}\u200b")
        lookups.clear()
        assert outcome(sample) == by_character, repr(sample)
        # Printable ASCII: not a character looked up; the others (new lines, tabs) still go one by one.
        assert bool(lookups) != sample.isprintable(), repr(sample)
