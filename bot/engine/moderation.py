"""Moderation rules: the blocked-terms matcher, the NSFW rule, and counting content-policy strikes.

Terms are matched on folded text (NFKD, accents dropped, casefolded), as whole words; ``*`` inside a term stands
for any letters (``cat*`` matches "cats" and "Catalogue", not "concat"). A term of several words matches those
words with any spacing between them. Pure functions and small classes: no discord, no storage.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.engine.errors import SettingProblem, SettingRejected

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "MAX_TERM_CHARS",
    "NsfwRule",
    "TermMatcher",
    "clean_term",
    "fold",
]

MAX_TERM_CHARS = 60
# What a term may hold besides letters and digits: spaces between words, the wildcard, hyphens and apostrophes.
_TERM_EXTRA = frozenset(" *-'")


class NsfwRule(StrEnum):
    """Where prompts the operator's NSFW list flags may be used.

    ``allow``: anywhere; ``age_restricted_only``: only in channels Discord marks age-restricted (never in DMs);
    ``never``: nowhere.
    """

    ALLOW = "allow"
    AGE_RESTRICTED_ONLY = "age_restricted_only"
    NEVER = "never"

    def at_least(self, floor: NsfwRule) -> NsfwRule:
        """This rule, or ``floor`` where that is stricter (the operator's limit on what a server may loosen)."""
        order = (NsfwRule.ALLOW, NsfwRule.AGE_RESTRICTED_ONLY, NsfwRule.NEVER)
        return self if order.index(self) >= order.index(floor) else floor

    def permits(self, *, age_restricted: bool) -> bool:
        """Whether a flagged prompt may be used in a channel that is (or is not) age-restricted."""
        if self is NsfwRule.ALLOW:
            return True
        return self is NsfwRule.AGE_RESTRICTED_ONLY and age_restricted


def fold(text: str) -> str:
    """Text as the matcher compares it: compatibility-decomposed, accents dropped, casefolded."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.casefold()


def clean_term(raw: str) -> str:
    """A term as stored: trimmed, inner spaces collapsed, folded; refused when it cannot make a sensible pattern.

    Raises
    ------
    SettingRejected
        Empty, longer than ``MAX_TERM_CHARS``, holding other characters than letters, digits, spaces, ``*``,
        ``-`` and ``'``, or with fewer than two letters or digits (``*`` alone would block everything).
    """
    term = " ".join(fold(raw).split())
    if not term:
        raise SettingRejected(SettingProblem.TERM_EMPTY)
    if len(term) > MAX_TERM_CHARS:
        raise SettingRejected(SettingProblem.TERM_TOO_LONG, limit=MAX_TERM_CHARS)
    if any(not (c.isalnum() or c in _TERM_EXTRA) for c in term):
        raise SettingRejected(SettingProblem.TERM_CHARACTERS)
    if sum(c.isalnum() for c in term) < 2:
        raise SettingRejected(SettingProblem.TERM_TOO_SHORT)
    return term


def _pattern(term: str) -> str:
    words = []
    for word in term.split():
        words.append(r"\w*".join(re.escape(part) for part in word.split("*")))
    # Whole words: no letter or digit may touch the match on either side.
    return r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)"


class TermMatcher:
    """Matches any of a list of terms (see the module docstring) in folded text; built once per list."""

    def __init__(self, terms: Iterable[str]) -> None:
        cleaned = sorted({" ".join(fold(t).split()) for t in terms if t.strip()})
        self.terms = tuple(cleaned)
        self._regex = re.compile("|".join(_pattern(t) for t in cleaned)) if cleaned else None

    def __bool__(self) -> bool:
        return self._regex is not None

    def matches(self, text: str) -> bool:
        """Whether ``text`` holds any of the terms."""
        return self._regex is not None and self._regex.search(fold(text)) is not None
