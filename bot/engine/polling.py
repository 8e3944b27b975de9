"""When to poll a running reAPI task: sparse early, dense just after the completion the recent durations predict.

reAPI has no webhooks and no progress field, so the only way to learn that a task is done is to ask. Every poll
costs a request, and every second between completion and the next poll delays the image. The schedule below is
planned per model from the durations of its recent tasks (a bounded window, read through its quantiles) and the
time the bot itself needs from a poll to the posted image (the *overhead*, learned the same way), so that:

- the median delay (completion → image posted) stays under ``target_median`` and its p95 under ``target_p95``;
- with as few polls per job as that allows.

Why this shape. A poll at time ``t`` is paid by every job still running at ``t``: polls early on are paid by all
jobs, polls late by few. So the plan polls *sparsely* from a little before the fastest recent durations up to well
past the typical one, with a spacing just tight enough for the p95 target (every job completing there waits at
most one spacing, plus the overhead), and then *densely*, with a spacing tight enough for the median target, from
the point where the jobs still running are few enough that, together with the lucky ones of the sparse part, at
least half of all jobs are delivered within the median target. An exact optimisation of the same problem
(dynamic programming over poll times, lognormal durations) gives the same sparse-then-dense shape.

reAPI's docs ask for "about one request every 1–2 s". Averaged over a job the plan stays within that (about
0.5–0.6 polls per second for 8 s tasks); around the expected completion it polls faster (``target_median`` minus
the overhead, ≈ 0.3 s) for a few seconds, and never closer than ``min_interval``. With too little history (a cold
start, a new model) the caller's fixed interval applies.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from statistics import NormalDist

__all__ = ["DurationWindow", "PollPlan", "PollSchedule"]

# Share of jobs allowed to finish before the first poll minus the p95 spacing (they wait longer than the p95
# target); the target allows 5 %, the rest is headroom for a window that misjudges the fast tail.
_EARLY_MASS = 0.03
# Share of jobs the plan wants delivered within the median target (0.5 would be exact; the rest is headroom
# for a window of ~100 durations that misjudges the middle).
_MEDIAN_MASS = 0.53
# How many first-poll times the planner compares.
_FIRST_CANDIDATES = 16
# The dense part stops at this quantile of recent durations (extrapolated); slower tasks get the fixed interval.
_LAST_QUANTILE = 0.999
# Seconds kept off each target for timer slack and event-loop lag.
_SLACK = 0.02
# What the overhead is taken to be until one has been measured.
_DEFAULT_OVERHEAD = 0.1
# The quartiles of a standard normal lie this far apart; and the narrowest spread of log durations assumed.
_IQR_OF_NORMAL = 1.3489795
_MIN_LOG_SPREAD = 0.01
_SHORTEST = 0.001  # seconds: a duration the fit takes to be at least this (a log needs a positive value)
# How early a poll may run and still count as the planned one (timer and float slack).
_ON_TIME = 0.01
# A plan never holds more polls than this (a window of very long or very spread durations).
_MAX_PLAN = 2_000


class DurationWindow:
    """The last ``size`` observations of one quantity (seconds): empirical quantiles and a lognormal fit."""

    def __init__(self, size: int) -> None:
        self._values: deque[float] = deque(maxlen=max(1, size))
        self._sorted: list[float] | None = None

    def __len__(self) -> int:
        return len(self._values)

    def add(self, seconds: float) -> None:
        """Add one observation (negative or non-finite values are ignored); the oldest drops out when full."""
        if math.isfinite(seconds) and seconds >= 0:
            self._values.append(seconds)
            self._sorted = None

    def quantile(self, q: float) -> float:
        """The empirical ``q`` quantile (linear between order statistics); NaN when empty."""
        if self._sorted is None:
            self._sorted = sorted(self._values)
        xs = self._sorted
        if not xs:
            return math.nan
        pos = min(max(q, 0.0), 1.0) * (len(xs) - 1)
        i = min(int(pos), len(xs) - 2) if len(xs) > 1 else 0
        if len(xs) == 1:
            return xs[0]
        return xs[i] + (xs[i + 1] - xs[i]) * (pos - i)

    def lognormal(self) -> NormalDist:
        """The distribution of log(seconds), fitted from the median and the quartiles.

        Quartiles, not the mean and variance: a few stragglers or outages do not move them, and observations
        known only as "shorter than the first poll" (stored below it) count by their rank alone as long as they
        are fewer than a quarter of the window.
        """
        low, mid, high = (math.log(max(_SHORTEST, self.quantile(q))) for q in (0.25, 0.5, 0.75))
        return NormalDist(mid, max(_MIN_LOG_SPREAD, (high - low) / _IQR_OF_NORMAL))


@dataclass(frozen=True, slots=True)
class PollPlan:
    """Poll times for one model, in seconds after the submit; after the last one, ``then_every`` seconds apart."""

    times: tuple[float, ...]
    then_every: float
    sparse: float = 0.0  # spacing of the sparse part (for logs and tests)
    dense: float = 0.0  # spacing of the dense part
    switch: float = 0.0  # the time the dense part begins

    def next_delay(self, elapsed: float) -> float:
        """Seconds from ``elapsed`` (since the submit) to the next planned poll."""
        # A poll sent on time has `elapsed` a hair before or at its planned time: that one is done, not next.
        i = bisect.bisect_right(self.times, elapsed + _ON_TIME)
        if i < len(self.times):
            return self.times[i] - elapsed
        return self.then_every


@dataclass(slots=True)
class _Model:
    durations: DurationWindow
    overheads: DurationWindow
    plan: PollPlan | None = None
    stale: bool = True


@dataclass(slots=True)
class PollSchedule:
    """Learns task durations and the bot's own delivery overhead per model, and plans the polls from them.

    ``fallback`` is the fixed spacing used with too little history (fewer than ``min_history`` durations) and
    after the plan's last poll; the plan never spaces polls wider than it. ``window`` bounds how many recent
    durations count, so the plan follows reAPI when it gets faster or slower.
    """

    fallback: float
    target_median: float = 0.4
    target_p95: float = 1.0
    min_interval: float = 0.25
    window: int = 200
    min_history: int = 10
    _models: dict[str, _Model] = field(default_factory=dict)

    def _model(self, model: str) -> _Model:
        found = self._models.get(model)
        if found is None:
            found = self._models[model] = _Model(DurationWindow(self.window), DurationWindow(max(10, self.window // 2)))
        return found

    @property
    def floor(self) -> float:
        """The closest two planned polls ever are: ``min_interval``, or ``fallback`` when that is shorter."""
        return min(self.min_interval, self.fallback)

    def history(self, model: str) -> int:
        """How many durations of ``model`` the schedule holds."""
        return len(self._model(model).durations)

    def observe(self, model: str, seconds: float) -> None:
        """A task of ``model`` completed ``seconds`` after its submit."""
        entry = self._model(model)
        entry.durations.add(seconds)
        entry.stale = True

    def observe_overhead(self, model: str, seconds: float) -> None:
        """The bot took ``seconds`` from sending the poll that saw a task completed to the image being posted."""
        entry = self._model(model)
        entry.overheads.add(seconds)
        entry.stale = True

    def plan(self, model: str) -> PollPlan | None:
        """The current plan for ``model``, or None while its history is too short (use the fixed interval)."""
        entry = self._model(model)
        if len(entry.durations) < self.min_history:
            return None
        if entry.stale or entry.plan is None:
            entry.plan = self._build(entry)
            entry.stale = False
        return entry.plan

    def next_delay(self, model: str, elapsed: float) -> float | None:
        """Seconds to wait before the next poll, ``elapsed`` seconds after the submit; None = use the fixed interval."""
        plan = self.plan(model)
        return None if plan is None else plan.next_delay(elapsed)

    def _build(self, entry: _Model) -> PollPlan:
        overheads = entry.overheads
        median_overhead = overheads.quantile(0.5) if len(overheads) else _DEFAULT_OVERHEAD
        # The p95 spacing leaves room for a slower-than-usual overhead (its upper quartile): a job waiting a whole
        # sparse spacing is rare already, and one that also meets the slowest overheads rarer still.
        high_overhead = overheads.quantile(0.75) if len(overheads) else _DEFAULT_OVERHEAD
        # A job completing inside a gap waits for the gap's end: the dense spacing keeps that wait (plus the
        # overhead) under the median target, the sparse spacing under the p95 target.
        # Never wider than the fixed interval: an operator (or a test) who polls often anyway keeps that.
        dense = min(self.fallback, max(self.floor, self.target_median - median_overhead - _SLACK))
        sparse = min(self.fallback, max(dense, self.target_p95 - high_overhead - _SLACK))
        fit = _Fitted(entry.durations.lognormal())
        last = fit.quantile(_LAST_QUANTILE)
        # The first poll: late enough to spare every job the polls it cannot need, early enough that at most
        # _EARLY_MASS of jobs complete more than one sparse spacing before it. Where exactly in that range
        # decides how the sparse grid falls against the switch; the cheapest of a few is kept.
        low = max(self.floor, fit.quantile(_EARLY_MASS / 8) + sparse)
        high = max(low, fit.quantile(_EARLY_MASS) + sparse)
        best: tuple[float, list[float], float] | None = None
        for step in range(_FIRST_CANDIDATES):
            first = low + (high - low) * step / (_FIRST_CANDIDATES - 1)
            times, switch = _lay_out(fit, first, sparse, dense, max(first, last))
            cost = _polls_per_second(fit, times, median_overhead)
            if best is None or cost < best[0]:
                best = (cost, times, switch)
        assert best is not None  # _FIRST_CANDIDATES > 0
        _, times, switch = best
        return PollPlan(tuple(times), then_every=self.fallback, sparse=sparse, dense=dense, switch=switch)


@dataclass(frozen=True, slots=True)
class _Fitted:
    """Task durations as the planner sees them: lognormal, with the fitted median and spread."""

    log: NormalDist

    def cdf(self, t: float) -> float:
        return self.log.cdf(math.log(t)) if t > 0 else 0.0

    def quantile(self, q: float) -> float:
        return math.exp(self.log.inv_cdf(min(max(q, 1e-9), 1 - 1e-9)))


def _lay_out(fit: _Fitted, first: float, sparse: float, dense: float, last: float) -> tuple[list[float], float]:
    """Sparse polls from ``first`` while the median target still holds if the dense part began after them."""
    cdf = fit.cdf
    # `within`: the share of jobs delivered within the median target by the sparse polls so far (those
    # completing less than one dense spacing before a poll); every job after the switch is.
    times = [first]
    within = cdf(first) - cdf(first - dense)
    while len(times) < _MAX_PLAN and times[-1] + sparse < last:
        nxt = times[-1] + sparse
        gained = cdf(nxt) - cdf(nxt - dense)
        if within + gained + (1.0 - cdf(nxt)) < _MEDIAN_MASS:
            break
        within += gained
        times.append(nxt)
    switch = times[-1]
    while len(times) < _MAX_PLAN and times[-1] < last:
        times.append(times[-1] + dense)
    return times, switch


def _polls_per_second(fit: _Fitted, times: list[float], overhead: float) -> float:
    """Expected polls per second of a job's life under ``times`` (a job seen at poll i made i polls)."""
    total, before = 0.0, 0.0
    for i, t in enumerate(times, start=1):
        at = fit.cdf(t)
        total += (at - before) * i / (t + overhead)
        before = at
    return total
