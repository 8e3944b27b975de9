"""The members' preferences service: validation, the defaults, the expiring cache (on a real SQLite store)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bot.engine.members import PreferenceRefused, Preferences
from bot.store import open_store
from bot.store.members import MemberPreferences

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from bot.store import Store

DEFAULT = "nano-banana-2-lite"


class Ticker:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    opened = await open_store("sqlite://:memory:")
    yield opened
    await opened.close()


def service(store: Store, ticker: Ticker | None = None) -> Preferences:
    return Preferences(
        store=store, default_model=DEFAULT, enabled_models=[DEFAULT], ttl=60, monotonic=ticker or Ticker()
    )


async def test_update_changes_only_what_is_given_and_auto_means_the_default(store: Store) -> None:
    prefs = service(store)
    assert await prefs.update(1, aspect_ratio="16:9", notify=True) == MemberPreferences(1, "16:9", notify=True)
    assert await prefs.update(1, private="dm") == MemberPreferences(1, "16:9", private="dm", notify=True)
    # "auto" and the default model are stored as "the default" (a later reapi.model change applies).
    assert await prefs.update(1, aspect_ratio="auto", model=DEFAULT) == MemberPreferences(1, private="dm", notify=True)
    assert await prefs.update(1, reset=True, notify=False) == MemberPreferences(1)
    assert await store.preferences(1) == MemberPreferences(1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"aspect_ratio": "7:3"}, "aspect_ratio"),
        ({"model": "nano-banana-9000"}, "model"),
        ({"private": "loud"}, "private"),
    ],
)
async def test_a_value_the_bot_does_not_offer_is_refused_and_nothing_stored(
    store: Store, change: dict[str, str], field: str
) -> None:
    prefs = service(store)
    await prefs.update(1, notify=True)
    with pytest.raises(PreferenceRefused) as refused:
        await prefs.update(1, **{"notify": False, **change})  # type: ignore[arg-type]
    assert refused.value.field == field
    assert await store.preferences(1) == MemberPreferences(1, notify=True)


async def test_aspect_ratio_for_prefers_the_option_then_the_members_default(store: Store) -> None:
    prefs = service(store)
    assert await prefs.aspect_ratio_for(1, None) == "auto"
    await prefs.update(1, aspect_ratio="16:9")
    assert await prefs.aspect_ratio_for(1, None) == "16:9"
    assert await prefs.aspect_ratio_for(1, "1:1") == "1:1"


async def test_a_stored_model_no_longer_enabled_falls_back_to_the_default(store: Store) -> None:
    prefs = service(store)
    await store.save_preferences(MemberPreferences(1, model="retired-model"))
    assert prefs.model_of(await prefs.get(1)) == DEFAULT
    assert prefs.enabled_models == (DEFAULT,)


async def test_the_cache_answers_without_a_query_until_it_expires(store: Store) -> None:
    ticker = Ticker()
    prefs = service(store, ticker)
    assert prefs.cached(1) is None
    await prefs.update(1, notify=True)
    assert prefs.cached(1) == MemberPreferences(1, notify=True)
    # Another process changes it: this one keeps its copy until the TTL passes, then reads the new value.
    await store.save_preferences(MemberPreferences(1, private="dm"))
    assert await prefs.get(1) == MemberPreferences(1, notify=True)
    ticker.now += 61
    assert prefs.cached(1) is None
    assert await prefs.get(1) == MemberPreferences(1, private="dm")
