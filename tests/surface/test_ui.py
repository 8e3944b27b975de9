"""Progress lines, result embeds and failure text."""

from __future__ import annotations

from bot.engine.errors import (
    Banned,
    CooldownActive,
    FetchFailure,
    InsufficientCredits,
    InvalidOptions,
    QueueFull,
    ReapiPaused,
    SourceProblem,
    SourceRefused,
    SpendCapReached,
)
from bot.engine.failures import FailureCode, JobFailure
from bot.store import Job, JobKind, JobState
from bot.surface import ui


def make_job(**overrides: object) -> Job:
    values: dict[str, object] = dict(
        id="abc123def456",
        state=JobState.RUNNING,
        kind=JobKind.IMAGINE,
        user_id=42,
        guild_id=1,
        channel_id=2,
        prompt="a fox @everyone",
        aspect_ratio="16:9",
        created_at=0.0,
    )
    values.update(overrides)
    return Job(**values)  # type: ignore[arg-type]


def test_queue_position_is_shown_exactly_near_the_front_and_as_a_range_further_back() -> None:
    assert ui.progress_text(ui.Progress(ui.Stage.QUEUED, position=3)) == "⏳ Queued: position 3"
    text = ui.progress_text(ui.Progress(ui.Stage.QUEUED, position=21, position_to=50))
    assert text == "⏳ Queued: position 21–50"


def test_generating_shows_self_updating_start_and_usual_end_times() -> None:
    text = ui.progress_text(ui.Progress(ui.Stage.GENERATING, started_at=1_700_000_000.4, estimate=20.2))
    assert text == "🎨 Generating… started <t:1700000000:R>, usually ready <t:1700000020:R>"
    # The text does not depend on the time it is rendered: a running job's line is never re-edited.
    assert ui.progress_text(ui.Progress(ui.Stage.GENERATING, started_at=1_700_000_000.4)) == (
        "🎨 Generating… started <t:1700000000:R>"
    )


def test_simulated_progress_says_so() -> None:
    assert "simulated" in ui.progress_text(ui.Progress(ui.Stage.SUBMITTING), simulated=True)


def test_result_embed_carries_prompt_image_and_simulation_warning() -> None:
    embed = ui.result_embed(make_job(simulated=True), filename="imagine-x.png", took=3.25)
    assert embed.description == "a fox @everyone"
    assert embed.image.url == "attachment://imagine-x.png"
    assert embed.footer.text is not None
    assert "3.2s" in embed.footer.text
    assert "SIMULATED" in embed.footer.text
    assert "16:9" in embed.footer.text


def test_long_prompt_is_shortened_for_the_embed() -> None:
    embed = ui.result_embed(make_job(prompt="x" * 6000), filename="f.png", took=None)
    assert embed.description is not None
    assert len(embed.description) == 4000
    assert embed.description.endswith("…")


def test_failure_text_mentions_refund_with_grammar() -> None:
    cancelled = JobFailure(FailureCode.CANCELLED)
    assert ui.failure_text(cancelled, refunded=1).endswith("Your 1 credit was refunded.")
    assert ui.failure_text(cancelled, refunded=3).endswith("Your 3 credits were refunded.")
    assert ui.failure_text(cancelled, refunded=0) == "❌ Cancelled."


def test_every_failure_code_has_its_own_sentence() -> None:
    reasons = {code: ui.failure_reason(code) for code in FailureCode}
    assert len(set(reasons.values())) == len(FailureCode)


def test_failure_details_from_reapi_are_escaped_and_cannot_ping() -> None:
    text = ui.failure_reason(FailureCode.REAPI_400, "bad **prompt** @everyone [x](https://evil.example)")
    assert "**" not in text.replace("\\*\\*", "")
    assert "@everyone" not in text
    assert "\\[x](" in text  # the masked link is escaped, so it renders as plain text


SOURCE_FACTS = {
    "url": "https://example.com/`cat`.png",
    "length": 3000,
    "limit": 31_457_280,
    "scheme": "ftp",
    "count": 12,
    "image": "image 2",
    "declared": "image/gif",
    "size": 40_000_000,
    "status": 404,
    "host": "example.com",
    "why": FetchFailure.DNS.value,
}


def test_every_source_problem_has_its_own_sentence_and_no_url_can_break_out_of_its_code_span() -> None:
    texts = {p: ui.refusal_text(SourceRefused(p, **SOURCE_FACTS)) for p in SourceProblem}
    assert len(set(texts.values())) == len(SourceProblem)
    assert "`https://example.com/ˋcatˋ.png`" in texts[SourceProblem.NOT_A_URL]
    assert texts[SourceProblem.TOO_LARGE] == "image 2 is 38.1 MB; the limit is 30 MB."
    assert (
        texts[SourceProblem.UNREACHABLE] == "image 2 could not be fetched (the name `example.com` could not be found)."
    )


def test_every_refusal_is_worded_and_none_falls_back_to_the_generic_sentence() -> None:
    refusals = [
        Banned("global"),
        Banned("guild:1"),
        InsufficientCredits(balance=0, cost=1, next_refill_at=1e9),
        QueueFull(limit=10, per_user=True),
        QueueFull(limit=500, per_user=False),
        SpendCapReached(reset_at=1e9),
        ReapiPaused(until=1e9, reason="402"),
        ReapiPaused(until=1e9, reason="401"),
        CooldownActive(1e9),
        InvalidOptions(),
    ]
    texts = [ui.refusal_text(r) for r in refusals]
    assert len(set(texts)) == len(refusals)
    assert not any(t.startswith("That request was refused") for t in texts)
    assert "Nothing was charged" in texts[0]
