"""One server's settings: what admins may set within the operator's limits, and the stored document."""

from __future__ import annotations

import pytest

from bot.engine.errors import SettingProblem, SettingRejected
from bot.engine.guild_settings import ChannelMode, GuildSettings, Limits
from bot.engine.moderation import NsfwRule

LIMITS = Limits(
    models=("nano-banana-2-lite",),
    aspect_ratios=("auto", "1:1", "16:9"),
    min_cost=1,
    max_cost=5,
    max_allowance=40,
    max_terms=2,
    max_channels=2,
)


def rejected(problem: SettingProblem) -> pytest.RaisesExc[SettingRejected]:
    return pytest.raises(SettingRejected, match=problem.value)


def test_every_setting_survives_the_stored_document() -> None:
    settings = (
        GuildSettings()
        .with_channel_mode("only_listed")
        .with_channel(11, listed=True, limits=LIMITS)
        .with_defaults(model="nano-banana-2-lite", aspect_ratio="16:9", limits=LIMITS)
        .with_credits(cost_per_image=3, allowance=20, reset=False, limits=LIMITS)
        .with_term("Gore", blocked=True, limits=LIMITS)[0]
        .with_nsfw_rule("never")
        .with_reply_edit(False)
        .with_log_channel(99)
    )
    assert GuildSettings.from_json(settings.to_json()) == settings
    assert settings.blocked_terms == ("gore",)
    assert settings.nsfw_rule is NsfwRule.NEVER


def test_a_damaged_or_unknown_document_falls_back_to_defaults() -> None:
    assert GuildSettings.from_json("") == GuildSettings()
    assert GuildSettings.from_json("[1]") == GuildSettings()
    odd = GuildSettings.from_json('{"channel_mode": "sometimes", "nsfw_rule": 3, "cost_per_image": true, "x": 1}')
    assert odd == GuildSettings()


@pytest.mark.parametrize(
    ("mode", "channel_ids", "allowed"),
    [
        ("everywhere", (5,), True),
        ("only_listed", (11,), True),
        ("only_listed", (5,), False),
        ("only_listed", (5, 11), True),  # a thread of a listed channel
        ("except_listed", (11,), False),
        ("except_listed", (5,), True),
    ],
)
def test_the_channel_rule(mode: str, channel_ids: tuple[int, ...], allowed: bool) -> None:
    settings = GuildSettings().with_channel(11, listed=True, limits=LIMITS).with_channel_mode(mode)
    assert settings.allows_channel(channel_ids) is allowed


def test_values_outside_the_operators_limits_are_refused() -> None:
    base = GuildSettings()
    with rejected(SettingProblem.COST_OUT_OF_RANGE):
        base.with_credits(cost_per_image=0, allowance=None, reset=False, limits=LIMITS)
    with rejected(SettingProblem.COST_OUT_OF_RANGE):
        base.with_credits(cost_per_image=6, allowance=None, reset=False, limits=LIMITS)
    with rejected(SettingProblem.ALLOWANCE_OUT_OF_RANGE):
        base.with_credits(cost_per_image=None, allowance=41, reset=False, limits=LIMITS)
    with rejected(SettingProblem.NOTHING_TO_CHANGE):
        base.with_credits(cost_per_image=None, allowance=None, reset=False, limits=LIMITS)
    with rejected(SettingProblem.UNKNOWN_MODEL):
        base.with_defaults(model="dall-e", aspect_ratio=None, limits=LIMITS)
    with rejected(SettingProblem.UNKNOWN_ASPECT_RATIO):
        base.with_defaults(model=None, aspect_ratio="7:3", limits=LIMITS)
    with rejected(SettingProblem.UNKNOWN_CHOICE):
        base.with_channel_mode("sometimes")
    with rejected(SettingProblem.UNKNOWN_CHOICE):
        base.with_nsfw_rule("maybe")


def test_lists_are_bounded_and_changes_must_change_something() -> None:
    two = GuildSettings().with_channel(1, listed=True, limits=LIMITS).with_channel(2, listed=True, limits=LIMITS)
    with rejected(SettingProblem.TOO_MANY_CHANNELS):
        two.with_channel(3, listed=True, limits=LIMITS)
    with rejected(SettingProblem.NOTHING_TO_CHANGE):
        two.with_channel(2, listed=True, limits=LIMITS)
    assert two.with_channel(2, listed=False, limits=LIMITS).channels == {1}
    terms, _ = GuildSettings().with_term("one", blocked=True, limits=LIMITS)
    terms, _ = terms.with_term("two", blocked=True, limits=LIMITS)
    with rejected(SettingProblem.TOO_MANY_TERMS):
        terms.with_term("three", blocked=True, limits=LIMITS)
    with rejected(SettingProblem.NOTHING_TO_CHANGE):
        terms.with_term("ONE", blocked=True, limits=LIMITS)
    with rejected(SettingProblem.TERM_NOT_LISTED):
        terms.with_term("three", blocked=False, limits=LIMITS)
    assert terms.with_term("Óne", blocked=False, limits=LIMITS)[0].blocked_terms == ("two",)


def test_default_puts_the_operators_values_back() -> None:
    own = GuildSettings().with_defaults(model="nano-banana-2-lite", aspect_ratio="1:1", limits=LIMITS)
    back = own.with_defaults(model="default", aspect_ratio="default", limits=LIMITS)
    assert (back.model, back.aspect_ratio) == (None, None)
    assert own.with_nsfw_rule("default").nsfw_rule is None
    credits = own.with_credits(cost_per_image=2, allowance=3, reset=False, limits=LIMITS)
    reset = credits.with_credits(cost_per_image=None, allowance=None, reset=True, limits=LIMITS)
    assert (reset.cost_per_image, reset.allowance, reset.channel_mode) == (None, None, ChannelMode.EVERYWHERE)
