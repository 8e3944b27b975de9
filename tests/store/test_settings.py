"""Server settings in the store (migration 0006) on both backends: versions, conflicts, audit, strikes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from bot.engine.failures import FailureCode
from bot.store import SettingsConflict
from tests.store.conftest import RULES, new_job
from tests.store.test_ledger_races import racing_stores

if TYPE_CHECKING:
    from bot.store import Store
    from tests.store.conftest import Backend, FakeClock, StoreFactory


async def test_a_server_never_set_reads_empty_at_version_zero(store: Store) -> None:
    stored = await store.guild_settings(100)
    assert (stored.data, stored.version) == ("", 0)
    assert await store.settings_version() == 0
    assert await store.guild_settings_since(0) == (0, [])


async def test_saves_bump_the_global_version_and_only_newer_rows_are_read_back(store: Store) -> None:
    first = await store.save_guild_settings(100, '{"a":1}', expected_version=0, actor_id=7, changes=[("a", None, "1")])
    second = await store.save_guild_settings(200, '{"b":2}', expected_version=0, actor_id=7, changes=[])
    assert second > first > 0
    assert await store.settings_version() == second
    current, rows = await store.guild_settings_since(first)
    assert current == second
    assert [(r.guild_id, r.data, r.version) for r in rows] == [(200, '{"b":2}', second)]
    third = await store.save_guild_settings(100, '{"a":3}', expected_version=first, actor_id=8, changes=[])
    current, rows = await store.guild_settings_since(second)
    assert (current, [(r.guild_id, r.data) for r in rows]) == (third, [(100, '{"a":3}')])
    assert (await store.guild_settings(100)).data == '{"a":3}'


async def test_a_save_from_a_stale_read_is_refused_and_changes_nothing(store: Store) -> None:
    version = await store.save_guild_settings(100, "one", expected_version=0, actor_id=1, changes=[("x", None, "1")])
    with pytest.raises(SettingsConflict):
        await store.save_guild_settings(100, "two", expected_version=0, actor_id=2, changes=[("x", None, "2")])
    with pytest.raises(SettingsConflict):
        await store.save_guild_settings(100, "two", expected_version=version + 5, actor_id=2, changes=[])
    assert await store.settings_version() == version  # the bump of a refused save is rolled back
    assert (await store.guild_settings(100)).data == "one"
    assert [c.actor_id for c in await store.settings_audit(100, limit=10)] == [1]


async def test_concurrent_saves_from_one_read_let_exactly_one_win(
    backend: Backend, open_test_store: StoreFactory
) -> None:
    stores = await racing_stores(backend, open_test_store)
    base = await stores[0].save_guild_settings(100, "base", expected_version=0, actor_id=1, changes=[])

    async def save(n: int) -> bool:
        try:
            await stores[n % len(stores)].save_guild_settings(
                100, f"v{n}", expected_version=base, actor_id=n, changes=[("x", "base", str(n))]
            )
        except SettingsConflict:
            return False
        return True

    results = await asyncio.gather(*(save(n) for n in range(10)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert (await stores[0].guild_settings(100)).data == f"v{winner}"
    assert [c.actor_id for c in await stores[0].settings_audit(100, limit=20)] == [winner]


async def test_the_audit_log_keeps_who_what_and_when_newest_first(store: Store, clock: FakeClock) -> None:
    v1 = await store.save_guild_settings(
        100, "a", expected_version=0, actor_id=5, changes=[("blocked_terms", None, "gore")]
    )
    clock.advance(60)
    await store.save_guild_settings(
        100, "b", expected_version=v1, actor_id=6, changes=[("nsfw_rule", "allow", "never")]
    )
    await store.save_guild_settings(300, "c", expected_version=0, actor_id=9, changes=[("reply_edit", "on", "off")])
    changes = await store.settings_audit(100, limit=10)
    assert [(c.actor_id, c.setting, c.old_value, c.new_value) for c in changes] == [
        (6, "nsfw_rule", "allow", "never"),
        (5, "blocked_terms", None, "gore"),
    ]
    assert changes[0].created_at == changes[1].created_at + 60
    assert len(await store.settings_audit(100, limit=1)) == 1


async def test_content_policy_strikes_count_one_member_here_since_a_time(store: Store, clock: FakeClock) -> None:
    async def failed(user_id: int, guild_id: int | None, code: FailureCode) -> None:
        job = await store.create_job(new_job(user_id, guild_id=guild_id), rules=RULES)
        await store.finish_job(job.id, delivered=False, error_code=code.value)

    since = clock()
    await failed(1, 100, FailureCode.CONTENT_POLICY)
    await failed(1, 100, FailureCode.CONTENT_POLICY)
    await failed(1, 100, FailureCode.TASK_FAILED)  # another failure: not a strike
    await failed(1, 200, FailureCode.CONTENT_POLICY)  # another server
    await failed(2, 100, FailureCode.CONTENT_POLICY)  # another member
    await failed(1, None, FailureCode.CONTENT_POLICY)  # a DM
    assert await store.content_policy_strikes(1, 100, since=since) == 2
    assert await store.content_policy_strikes(1, None, since=since) == 1
    assert await store.content_policy_strikes(1, 100, since=clock() + 1) == 0


async def test_pauses_bump_the_version_and_only_running_ones_are_read(store: Store, clock: FakeClock) -> None:
    before = await store.settings_version()
    version = await store.pause_member(5, 100, until=clock() + 60, strikes=3)
    assert version == before + 1 == await store.settings_version()
    await store.pause_member(6, None, until=clock() + 120, strikes=4)
    await store.pause_member(5, 100, until=clock() + 90, strikes=5)  # a later pause replaces the earlier one
    pauses = sorted(await store.member_pauses(now=clock()), key=lambda p: p.user_id)
    assert [(p.user_id, p.guild_id, p.until - clock(), p.strikes) for p in pauses] == [
        (5, 100, 90, 5),
        (6, None, 120, 4),
    ]
    assert [p.user_id for p in await store.member_pauses(now=clock() + 100)] == [6]
