"""What /credits and /history show: held credits, the cap, and failures rendered from their codes."""

from __future__ import annotations

from bot.engine.accounts import HistoryPage, Statement
from bot.engine.credits import Terms
from bot.store import AccountRules, Balance, HistoryEntry, JobKind, JobState
from bot.surface import account_ui

RULES = AccountRules(allowance=5, period_seconds=3600, max_balance=5)


def statement(balance: int, held: int) -> Statement:
    return Statement(
        user_id=1,
        terms=Terms(scope="global", cost=1, rules=RULES),
        balance=Balance(user_id=1, scope="global", balance=balance, next_refill_at=1e9, held=held),
        banned_in=None,
    )


def test_credits_show_what_is_reserved_and_count_it_against_the_cap() -> None:
    embed = account_ui.statement_embed(statement(3, 2), name="x", own=True)
    fields = {f.name: f.value or "" for f in embed.fields}
    assert "2 credits reserved for images in progress" in fields["Balance"]
    assert "at the cap" in fields["Allowance"]  # 3 spendable + 2 held = the cap of 5: a refill adds nothing


def test_credits_below_the_cap_show_the_next_refill() -> None:
    fields = {f.name: f.value or "" for f in account_ui.statement_embed(statement(3, 0), name="x", own=True).fields}
    assert "reserved" not in fields["Balance"]
    assert "Next refill" in fields["Allowance"]


def entry(**values: object) -> HistoryEntry:
    base: dict[str, object] = dict(
        job_id="abcdefabcdef",
        user_id=1,
        guild_id=2,
        channel_id=3,
        kind=JobKind.IMAGINE,
        prompt="a fox",
        state=JobState.FAILED,
        cost=0,
        result_message_id=None,
        error_message=None,
        created_at=0.0,
        finished_at=10.0,
    )
    return HistoryEntry(**{**base, **values})  # type: ignore[arg-type]


def test_history_explains_a_failure_from_its_code() -> None:
    page = HistoryPage(user_id=1, page=1, entries=(entry(error_code="content_policy"),), has_next=False)
    assert "content filter" in (account_ui.history_embed(page).fields[0].value or "")


def test_history_escapes_the_stored_text_of_older_failures() -> None:
    page = HistoryPage(
        user_id=1, page=1, entries=(entry(error_message="**loud** [x](https://e.example)"),), has_next=False
    )
    value = account_ui.history_embed(page).fields[0].value or ""
    assert "\\*\\*loud\\*\\*" in value


def test_history_links_each_result_where_it_is() -> None:
    delivered = {"state": JobState.DELIVERED, "cost": 1, "result_message_id": 9}
    places = (entry(**delivered), entry(**delivered, result_channel_id=77), entry(**delivered, result_ephemeral=True))
    page = HistoryPage(user_id=1, page=1, entries=places, has_next=False)
    channel, dm, ephemeral = (f.value or "" for f in account_ui.history_embed(page).fields)
    assert "[result](https://discord.com/channels/2/3/9)" in channel
    assert "[result](https://discord.com/channels/@me/77/9)" in dm  # the member's DM, not the job's channel
    assert "shown only to you" in ephemeral
    assert "](" not in ephemeral  # no message anyone can open: no link at all
