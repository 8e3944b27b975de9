"""The blocked-terms matcher and the NSFW rule: folding, whole words, wildcards, refusals of bad terms."""

from __future__ import annotations

import pytest

from bot.engine.errors import SettingProblem, SettingRejected
from bot.engine.moderation import NsfwRule, TermMatcher, clean_term, fold


def test_folding_drops_accents_case_and_compatibility_forms() -> None:
    assert fold("Crème BRÛLÉE") == "creme brulee"
    assert fold("ＦＵＬＬ width") == "full width"  # fullwidth letters fold to ASCII (NFKD)
    assert fold("Straße") == "strasse"  # casefold, not lower


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("a gore scene", True),
        ("GORE", True),
        ("Goré!", True),  # accent and punctuation
        ("gorey", False),  # whole words only
        ("allegorey story", False),
        ("an allegory", False),
        ("gore\nfest", True),
    ],
)
def test_a_plain_term_matches_whole_words_in_any_case_or_accent(text: str, hit: bool) -> None:
    assert TermMatcher(["gore"]).matches(text) is hit


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("bloody hands", True),
        ("BLOOD", True),
        ("bloodbath", True),
        ("lifeblood", False),  # * only where it is written
        ("a blo", False),
    ],
)
def test_a_star_stands_for_any_letters(text: str, hit: bool) -> None:
    assert TermMatcher(["blood*"]).matches(text) is hit


def test_a_phrase_matches_its_words_with_any_spacing() -> None:
    matcher = TermMatcher(["Red  Wedding"])
    assert matcher.matches("the red   wedding scene")
    assert matcher.matches("THE RED\tWEDDING")
    assert not matcher.matches("red dress at a wedding")


def test_an_empty_list_matches_nothing_and_is_falsy() -> None:
    matcher = TermMatcher(["", "  "])
    assert not matcher
    assert not matcher.matches("anything at all")


def test_regex_characters_in_terms_are_literal() -> None:
    assert not TermMatcher(["a.b"]).matches("axb")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("   ", SettingProblem.TERM_EMPTY),
        ("x" * 61, SettingProblem.TERM_TOO_LONG),
        ("ab(c", SettingProblem.TERM_CHARACTERS),
        ("<@123>", SettingProblem.TERM_CHARACTERS),
        ("*", SettingProblem.TERM_TOO_SHORT),
        ("a*", SettingProblem.TERM_TOO_SHORT),
    ],
)
def test_unusable_terms_are_refused_with_a_reason(raw: str, problem: SettingProblem) -> None:
    with pytest.raises(SettingRejected) as caught:
        clean_term(raw)
    assert caught.value.problem is problem


def test_terms_are_stored_folded_with_single_spaces() -> None:
    assert clean_term("  Crème   Brûlée* ") == "creme brulee*"
    assert clean_term("don't") == "don't"


def test_the_nsfw_rule_decides_by_the_channel() -> None:
    assert NsfwRule.ALLOW.permits(age_restricted=False)
    assert NsfwRule.AGE_RESTRICTED_ONLY.permits(age_restricted=True)
    assert not NsfwRule.AGE_RESTRICTED_ONLY.permits(age_restricted=False)
    assert not NsfwRule.NEVER.permits(age_restricted=True)
