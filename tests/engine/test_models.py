"""Issue 13: a job's model and options reach reAPI, are priced per spec, and every output image is delivered."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.engine.errors import ModelRefused, ModelUnavailable
from bot.engine.pricing import ModelCatalogue
from bot.reapi.specs import ProblemKind
from bot.store import JobKind, JobState, NewJob
from tests.engine.test_runner import _stop_runners, make_rig  # noqa: F401 (the fixture stops every runner)

NB2 = "gemini-3.1-flash-image-preview"
ALL = ("nano-banana-2-lite", NB2, "gemini-3-pro-image-preview", "gpt-image-2", "z-image")


def catalogue(*enabled: str) -> ModelCatalogue:
    return ModelCatalogue(enabled=enabled or ALL)


async def test_a_four_image_2k_job_asks_reapi_for_four_and_delivers_all_four_at_the_option_price() -> None:
    rig = make_rig(catalogue=catalogue())
    job = await rig.submit(model=NB2, aspect_ratio="16:9", resolution="2k", image_count=4)
    await rig.settle()
    request = rig.reapi.requests[0]
    assert request.to_body() == {"model": NB2, "prompt": "a fox", "size": "16:9", "resolution": "2k", "n": 4}
    done = rig.store.jobs[job.id]
    assert done.state is JobState.DELIVERED
    assert rig.notifier.images_shown[job.id] == 4
    assert len(rig.reapi.downloads) == 4
    # reAPI: 4 x 47.7 credits. Bot credits: 1 per default image (20 reAPI credits), so 190.8 / 20 rounded up.
    assert done.reapi_millicredits == 190_800
    assert done.cost == 10


async def test_the_default_model_costs_cost_per_image_and_a_cheaper_one_never_nothing() -> None:
    rig = make_rig(catalogue=catalogue())
    plain = await rig.submit()
    cheap = await rig.submit(model="z-image", aspect_ratio="1:1")
    await rig.settle()
    assert (rig.store.jobs[plain.id].cost, rig.store.jobs[plain.id].reapi_millicredits) == (1, 20_000)
    assert (rig.store.jobs[cheap.id].cost, rig.store.jobs[cheap.id].reapi_millicredits) == (1, 4_400)
    assert rig.reapi.requests[0].to_body() == {"model": "nano-banana-2-lite", "prompt": "a fox", "aspect_ratio": "auto"}


async def test_options_the_model_refuses_are_refused_before_anything_is_stored_or_charged() -> None:
    rig = make_rig(catalogue=catalogue())
    with pytest.raises(ModelRefused) as refused:
        await rig.submit(model=NB2, aspect_ratio="1:1", image_count=5)
    assert (refused.value.problem.kind, refused.value.problem.maximum) == (ProblemKind.COUNT, 4)
    with pytest.raises(ModelRefused) as edit:
        await rig.submit(model="z-image", aspect_ratio="1:1", image_urls=("https://img.example/a.png",))
    assert edit.value.problem.kind is ProblemKind.REFERENCES
    with pytest.raises(ModelRefused) as long_prompt:
        await rig.submit("x" * 1001, model="z-image", aspect_ratio="1:1")
    assert long_prompt.value.problem.kind is ProblemKind.PROMPT_LENGTH
    assert rig.store.jobs == {}
    assert rig.reapi.submits == 0


async def test_a_model_the_operator_did_not_enable_is_refused() -> None:
    rig = make_rig(catalogue=catalogue("nano-banana-2-lite"))
    with pytest.raises(ModelUnavailable) as refused:
        await rig.submit(model=NB2, aspect_ratio="1:1")
    assert refused.value.allowed == ("nano-banana-2-lite",)
    assert rig.store.jobs == {}


def test_precedence_explicit_then_member_then_server_then_operator() -> None:
    cat = ModelCatalogue(default_model="nano-banana-2-lite", enabled=(NB2, "z-image"))
    assert cat.pick("z-image", NB2, NB2) == "z-image"
    assert cat.pick(None, NB2, "z-image") == NB2
    assert cat.pick(None, None, "z-image") == "z-image"
    assert cat.pick(None, "gpt-image-2", None) == "nano-banana-2-lite"  # a stale preference is passed over
    assert cat.pick(None, None, None) == "nano-banana-2-lite"
    with pytest.raises(ModelUnavailable):
        cat.pick("gpt-image-2", None, None)
    # A default "auto" the model lacks becomes the model's own default; an explicit one is left for the check.
    assert cat.ratio_for(NB2, "auto", explicit=False) == "1:1"
    assert cat.ratio_for(NB2, "auto", explicit=True) == "auto"
    assert cat.ratio_for("nano-banana-2-lite", "auto", explicit=False) == "auto"


def test_operator_prices_reprice_both_reapi_and_bot_credits() -> None:
    cat = ModelCatalogue(enabled=(NB2,), prices_usd={NB2: {"2k": "0.1"}})
    job = NewJob(
        kind=JobKind.IMAGINE, user_id=1, guild_id=None, channel_id=2, prompt="p", aspect_ratio="1:1", model=NB2
    )
    dear = replace(job, resolution="2k", image_count=2)
    assert cat.reapi_millicredits(dear) == 200_000
    assert cat.bot_cost(3, dear) == 30  # 200 credits over the 20 of one default image, times 3
    assert cat.bot_cost(0, dear) == 0


async def test_a_job_without_a_model_gets_the_operators_default_and_its_default_ratio() -> None:
    """/edit and reply-to-edit choose no model: the operator's default applies ("auto" becomes its own default)."""
    rig = make_rig(catalogue=ModelCatalogue(default_model=NB2, enabled=(NB2,)))
    job = await rig.submit(model="", aspect_ratio="auto")
    await rig.settle()
    assert (rig.store.jobs[job.id].model, rig.store.jobs[job.id].aspect_ratio) == (NB2, "1:1")
    assert rig.reapi.requests[0].to_body()["model"] == NB2
