"""The models the operator enabled, and what a job costs on each: reAPI credits and the member's bot credits.

One :class:`ModelCatalogue` per process, built from ``[reapi]`` (``models``, ``model``, price overrides). It
decides a job's model (explicit choice > member preference > server default > operator default), fills in the
options the member left out, checks them against the model's spec, and prices them: reAPI's cost from the spec,
and bot credits in proportion to it. ``cost_per_image`` is what one image of the default model at its default
options costs a member; any other request costs that times its reAPI price over that image's, rounded up (never 0
while ``cost_per_image`` is not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.engine.errors import ModelRefused, ModelUnavailable
from bot.reapi.specs import DEFAULT_MODEL, MODELS, ImageOptions, ModelSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from bot.config import ReapiSettings
    from bot.store import NewJob

__all__ = ["ModelCatalogue", "ModelChoice"]

_MILLICREDITS_PER_CREDIT = 1000


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """What a member asked for, each None when not given (the defaults then apply)."""

    model: str | None = None
    ratio: str | None = None
    resolution: str | None = None
    count: int | None = None


class ModelCatalogue:
    """The enabled models' specs (with the operator's prices) and the rules that turn a choice into a job."""

    def __init__(
        self,
        *,
        default_model: str = DEFAULT_MODEL,
        enabled: Sequence[str] = (),
        prices_usd: Mapping[str, Mapping[str, Decimal | str | float]] | None = None,
    ) -> None:
        prices = prices_usd or {}
        names = list(dict.fromkeys([default_model, *enabled]))
        specs: dict[str, ModelSpec] = {}
        for name in names:
            spec = MODELS[name]  # the config validated the names; an unknown one is a programming error
            specs[name] = spec.with_prices(prices[name]) if name in prices else spec
        self._specs = specs
        self.default_model = default_model
        base = self._specs[default_model].cost_credits(ImageOptions())
        self._base_credits = base

    @classmethod
    def from_settings(cls, reapi: ReapiSettings) -> ModelCatalogue:
        """The catalogue ``[reapi]`` describes: ``model``, ``models`` and ``prices``.

        ``credits_per_image`` (the older key) is nano-banana-2-lite's price in reAPI credits unless ``prices``
        names that model.
        """
        prices: dict[str, Mapping[str, Decimal | str | float]] = {
            DEFAULT_MODEL: {"1k": Decimal(reapi.credits_per_image) / _MILLICREDITS_PER_CREDIT}
        }
        prices.update(reapi.prices)
        return cls(default_model=reapi.model, enabled=reapi.enabled_models, prices_usd=prices)

    @property
    def enabled(self) -> tuple[str, ...]:
        """The models members and servers may choose, the operator's default first."""
        return tuple(self._specs)

    def spec(self, model: str) -> ModelSpec:
        """The spec (with the operator's prices) of an enabled model; the default's for any other."""
        return self._specs.get(model) or self._specs[self.default_model]

    def pick(self, explicit: str | None, preferred: str | None, server: str | None) -> str:
        """The model a job uses: the member's explicit choice > their preference > the server's > the operator's.

        Raises
        ------
        ModelUnavailable
            ``explicit`` is not an enabled model (a stale preference or server default is passed over instead).
        """
        if explicit is not None:
            if explicit not in self._specs:
                raise ModelUnavailable(model=explicit, allowed=self.enabled)
            return explicit
        for fallback in (preferred, server):
            if fallback is not None and fallback in self._specs:
                return fallback
        return self.default_model

    def ratio_for(self, model: str, ratio: str | None, *, explicit: bool) -> str:
        """The ratio stored on the job: a default ratio the model lacks ("auto") becomes the model's own default.

        An explicit ratio is kept as given, so the spec's check can refuse it with the allowed values.
        """
        spec = self.spec(model)
        if ratio is None or (not explicit and ratio.lower() not in spec.ratios):
            return spec.default_ratio
        return ratio.strip().lower()

    @staticmethod
    def options_of(job: NewJob) -> ImageOptions:
        """The reAPI options a job carries."""
        return ImageOptions(ratio=job.aspect_ratio, resolution=job.resolution, count=job.image_count)

    def check(self, job: NewJob) -> None:
        """Refuse a job its model would refuse, before anything is stored or charged.

        Raises
        ------
        ModelUnavailable
            The job's model is not enabled.
        ModelRefused
            The model would refuse the prompt, the options or the reference images (``problem`` says which).
        """
        if job.model not in self._specs:
            raise ModelUnavailable(model=job.model, allowed=self.enabled)
        problem = self._specs[job.model].validate(len(job.prompt), self.options_of(job), len(job.image_urls))
        if problem is not None:
            raise ModelRefused(problem)

    def reapi_millicredits(self, job: NewJob) -> int:
        """What reAPI charges for the job, in thousandths of a reAPI credit (rounded up)."""
        credits = self.spec(job.model).cost_credits(self.options_of(job))
        return math.ceil(credits * _MILLICREDITS_PER_CREDIT)

    def bot_cost(self, cost_per_image: int, job: NewJob) -> int:
        """The bot credits the job costs a member whose one default image costs ``cost_per_image``."""
        if cost_per_image <= 0:
            return 0
        credits = self.spec(job.model).cost_credits(self.options_of(job))
        if self._base_credits <= 0:
            return cost_per_image * job.image_count
        return max(1, math.ceil(Decimal(cost_per_image) * credits / self._base_credits))

    def priced(self, job: NewJob, cost_per_image: int) -> NewJob:
        """``job`` with its bot-credit cost and its reAPI cost filled in."""
        return replace(job, cost=self.bot_cost(cost_per_image, job), reapi_millicredits=self.reapi_millicredits(job))
