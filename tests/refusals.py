"""Asserting on the engine's refusals through the words a member reads (``bot.surface.ui.refusal_text``)."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from bot.engine.errors import Refusal
from bot.surface import ui

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextmanager
def refused(kind: type[Refusal] = Refusal, match: str | None = None) -> Iterator[pytest.ExceptionInfo[Refusal]]:
    """Like ``pytest.raises(kind)``; ``match`` is searched in the refusal as the member reads it."""
    with pytest.raises(kind) as info:
        yield info
    if match is not None:
        text = ui.refusal_text(info.value)
        assert re.search(match, text), f"{match!r} not in {text!r}"
