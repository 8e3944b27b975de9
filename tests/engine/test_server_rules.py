"""ServerRules on a real store: checks a job passes, spreading changes between instances, the credit terms."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from bot.config import CreditOverride, CreditsSettings, ModerationSettings, ServersSettings
from bot.engine.credits import CreditLedger
from bot.engine.errors import MemberPaused, NsfwNotAllowed, SettingRejected, TermBlocked, UnavailableHere
from bot.engine.failures import FailureCode
from bot.engine.guild_settings import GuildSettings, Limits
from bot.engine.moderation import NsfwRule
from bot.engine.server_rules import Place, ServerRules, StrikeWatcher
from bot.store import AccountRules, JobKind, NewJob, open_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from bot.store import Store

GUILD = 100
CHANNEL = 200
NOW = 1_700_000_000.0


@pytest.fixture
async def stores(tmp_path: Any) -> AsyncIterator[Callable[[], Any]]:
    opened: list[Store] = []

    async def open_one() -> Store:
        store = await open_store(f"sqlite:///{tmp_path / 'rules.sqlite3'}", clock=lambda: NOW)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


def make_rules(store: Store, **moderation: Any) -> ServerRules:
    return ServerRules(
        store=store,
        moderation=ModerationSettings(**moderation),
        servers=ServersSettings(max_cost_per_image=5, max_allowance=30, refresh_seconds=0.01),
        credits=CreditsSettings(cost_per_image=1, allowance=10, max_balance=10),
        models=["nano-banana-2-lite"],
        aspect_ratios=["auto", "1:1", "16:9"],
        owner_ids=frozenset({1}),
        clock=lambda: NOW,
    )


def job(prompt: str = "a quiet harbour", *, user_id: int = 5, guild_id: int | None = GUILD, **extra: Any) -> NewJob:
    return NewJob(
        kind=JobKind.IMAGINE,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=CHANNEL,
        prompt=prompt,
        aspect_ratio=extra.pop("aspect_ratio", "auto"),
        **extra,
    )


def block(term: str) -> Callable[[GuildSettings], tuple[GuildSettings, str | None, str | None]]:
    def mutate(s: GuildSettings) -> tuple[GuildSettings, str | None, str | None]:
        limits = Limits(("m",), ("auto",), 0, 5, 30, 10, 10)
        new, cleaned = s.with_term(term, blocked=True, limits=limits)
        return new, None, cleaned

    return mutate


async def test_blocked_terms_of_the_operator_and_the_server_refuse_a_job(stores: Any) -> None:
    rules = make_rules(await stores(), blocked_terms=["forbidden*"])
    await rules.load()
    with pytest.raises(TermBlocked) as caught:
        await rules.check(job("Two FORBIDDÉN things"))
    assert caught.value.by_server is False
    assert await rules.check(job("some gore")) == job("some gore")
    await rules.change(GUILD, actor_id=9, setting="blocked_terms", mutate=block("gore"))
    with pytest.raises(TermBlocked) as caught:
        await rules.check(job("some Goré"))
    assert caught.value.by_server is True
    assert "gore" not in str(caught.value)  # the term is never a fact of the refusal
    assert await rules.check(job("some gore", guild_id=GUILD + 1)) is not None  # another server


async def test_a_change_through_one_instance_is_enforced_by_another_after_its_refresh(stores: Any) -> None:
    writer, reader = make_rules(await stores()), make_rules(await stores())
    await writer.load()
    await reader.load()
    await writer.change(GUILD, actor_id=9, setting="blocked_terms", mutate=block("kraken"))
    await reader.check(job("a kraken"))  # not read yet: only the in-memory copy is used
    assert await reader.refresh() is True
    with pytest.raises(TermBlocked):
        await reader.check(job("a kraken"))
    assert await reader.refresh() is False  # nothing new: one small read, nothing reloaded
    reader.start()
    await writer.change(
        GUILD, actor_id=9, setting="channel_mode", mutate=lambda s: (s.with_channel_mode("except_listed"), None, None)
    )
    await writer.change(
        GUILD,
        actor_id=9,
        setting="channels",
        mutate=lambda s: (s.with_channel(CHANNEL, listed=True, limits=writer.limits), None, str(CHANNEL)),
    )
    for _ in range(500):
        if not reader.get(GUILD).allows_channel((CHANNEL,)):
            break
        await asyncio.sleep(0.01)
    await reader.stop()
    with pytest.raises(UnavailableHere):
        await reader.check(job())


async def test_two_admins_saving_at_once_both_keep_their_change(stores: Any) -> None:
    one, two = make_rules(await stores()), make_rules(await stores())
    await asyncio.gather(
        one.change(GUILD, actor_id=1, setting="blocked_terms", mutate=block("alpha")),
        two.change(GUILD, actor_id=2, setting="blocked_terms", mutate=block("beta")),
    )
    await one.refresh()
    assert sorted(one.get(GUILD).blocked_terms) == ["alpha", "beta"]
    assert len(await one.audit(GUILD)) == 2


async def test_the_nsfw_rule_uses_the_operators_list_and_the_channels_flag(stores: Any) -> None:
    rules = make_rules(await stores(), nsfw_terms=["nude"], nsfw_rule="age_restricted_only")
    await rules.load()
    with pytest.raises(NsfwNotAllowed):
        await rules.check(job("a nude statue"))
    await rules.check(job("a nude statue"), Place(channel_ids=(CHANNEL,), age_restricted=True))
    await rules.change(GUILD, actor_id=9, setting="nsfw_rule", mutate=lambda s: (s.with_nsfw_rule("never"), None, None))
    with pytest.raises(NsfwNotAllowed) as caught:
        await rules.check(job("a nude statue"), Place(channel_ids=(CHANNEL,), age_restricted=True))
    assert caught.value.rule == "never"
    await rules.check(job("a marble statue"), Place(channel_ids=(CHANNEL,), age_restricted=False))


async def test_a_server_cannot_loosen_the_nsfw_rule_past_the_operators_limit(stores: Any) -> None:
    rules = make_rules(await stores(), nsfw_terms=["nude"], loosest_nsfw_rule="age_restricted_only")
    await rules.load()
    await rules.change(GUILD, actor_id=9, setting="nsfw_rule", mutate=lambda s: (s.with_nsfw_rule("allow"), None, None))
    assert rules.nsfw_rule(GUILD) is NsfwRule.AGE_RESTRICTED_ONLY
    with pytest.raises(NsfwNotAllowed):
        await rules.check(job("a nude statue"), Place(channel_ids=(CHANNEL,), age_restricted=False))
    await rules.check(job("a nude statue"), Place(channel_ids=(CHANNEL,), age_restricted=True))
    await rules.change(GUILD, actor_id=9, setting="nsfw_rule", mutate=lambda s: (s.with_nsfw_rule("never"), None, None))
    assert rules.nsfw_rule(GUILD) is NsfwRule.NEVER  # stricter than the limit: the server's own rule


async def test_the_servers_default_aspect_ratio_fills_in_auto_only(stores: Any) -> None:
    rules = make_rules(await stores())
    await rules.change(
        GUILD,
        actor_id=9,
        setting="aspect_ratio",
        mutate=lambda s: (s.with_defaults(model=None, aspect_ratio="16:9", limits=rules.limits), None, "16:9"),
    )
    assert (await rules.check(job())).aspect_ratio == "16:9"
    assert (await rules.check(job(aspect_ratio="1:1"))).aspect_ratio == "1:1"


class Alerts:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int, int]] = []

    def member_paused(self, *, channel_id: int, user_id: int, strikes: int, until: float) -> None:
        self.sent.append((channel_id, user_id, strikes))


async def test_content_policy_strikes_pause_a_member_everywhere_and_alert_the_moderators_once(stores: Any) -> None:
    store = await stores()
    rules, elsewhere = make_rules(store, content_policy_strikes_per_day=2), make_rules(await stores())
    await elsewhere.load()
    await rules.change(GUILD, actor_id=9, setting="log_channel", mutate=lambda s: (s.with_log_channel(77), None, "77"))
    alerts = Alerts()
    watcher = StrikeWatcher(rules, alerts)
    open_rules = AccountRules(allowance=10, period_seconds=86_400, max_balance=10)

    async def strike(user_id: int = 5) -> None:
        created = await store.create_job(job(cost=1, user_id=user_id), rules=open_rules)
        finished = await store.finish_job(created.id, delivered=False, error_code=FailureCode.CONTENT_POLICY.value)
        assert finished is not None
        watcher.job_finished(finished)
        await asyncio.gather(*watcher._tasks)

    await strike()
    await rules.check(job())  # one strike: not paused yet
    await strike()
    assert alerts.sent == [(77, 5, 2)]  # at the 2nd strike
    with pytest.raises(MemberPaused) as caught:
        await rules.check(job())
    assert caught.value.strikes == 2
    assert caught.value.until == NOW - NOW % 86_400 + 86_400
    await strike()
    assert alerts.sent == [(77, 5, 2)]  # alerted once, not at every strike after
    # Another process learns of the pause with its next refresh and refuses from memory.
    await elsewhere.check(job())
    assert await elsewhere.refresh() is True
    with pytest.raises(MemberPaused):
        await elsewhere.check(job())
    await rules.check(job(guild_id=GUILD + 1))  # another server
    await strike(user_id=1)
    await strike(user_id=1)
    await rules.check(job(user_id=1))  # bot owners are never paused


async def test_server_credit_terms_apply_within_the_operators_limits(stores: Any) -> None:
    rules = make_rules(await stores())
    overrides = [CreditOverride(guild_id=GUILD, role_id=42, allowance=25)]
    settings = CreditsSettings(cost_per_image=1, allowance=10, max_balance=10, overrides=overrides)
    ledger = CreditLedger(settings, owner_ids=frozenset(), server_terms=rules.server_terms)
    assert ledger.terms_for(5, GUILD).cost == 1
    with pytest.raises(SettingRejected):
        await rules.change(
            GUILD,
            actor_id=9,
            setting="credits",
            mutate=lambda s: (
                s.with_credits(cost_per_image=6, allowance=None, reset=False, limits=rules.limits),
                "",
                "",
            ),
        )
    await rules.change(
        GUILD,
        actor_id=9,
        setting="credits",
        mutate=lambda s: (s.with_credits(cost_per_image=3, allowance=20, reset=False, limits=rules.limits), "", ""),
    )
    terms = ledger.terms_for(5, GUILD)
    assert terms.cost == 3
    assert terms.rules is not None
    assert (terms.rules.allowance, terms.rules.max_balance) == (20, 20)  # an allowance above the cap lifts it
    assert ledger.terms_for(5, GUILD, role_ids=[42]).rules.allowance == 25  # type: ignore[union-attr]
    assert ledger.terms_for(5, GUILD + 1).cost == 1  # other servers keep the operator's terms
