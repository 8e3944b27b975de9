"""The bot's Prometheus metrics: one registry, fed by the job runner (as its JobObserver) and by HTTP traces.

Counters and histograms change when something happens; the gauges that describe "now" (jobs by state, queue
depth and age, today's reAPI spend) are computed when Prometheus scrapes, from the runner and the spend guard.
Every metric lives in this object's own ``CollectorRegistry``, never the process-wide default one, so two bots
(or two tests) in one process never share a number.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.store import JobState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from prometheus_client.core import Metric

    from bot.engine.spend import SpendToday
    from bot.store import Job

__all__ = ["ACTIVE_STATES", "Metrics", "QueueView", "SpendView"]

log = logging.getLogger(__name__)

ACTIVE_STATES = tuple(s for s in JobState if not s.is_terminal)
"""The states ``imaginebot_jobs`` reports (always all of them, so a series never vanishes at zero)."""

# The spend gauges need a database read; a scrape must not hang on a slow database.
_SPEND_TIMEOUT = 2.0

_ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)  # Discord allows 3 s
_REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TASK_BUCKETS = (2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
_DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_POLL_BUCKETS = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233)


class QueueView(Protocol):
    """What the metrics read from the job runner at scrape time (``bot.engine.runner.JobRunner``)."""

    def waiting(self) -> Sequence[Job]:
        """The jobs waiting for a slot."""
        ...


class SpendView(Protocol):
    """What the metrics read from the spend guard at scrape time (``bot.engine.spend.SpendGuard``)."""

    @property
    def pause_reason(self) -> str | None:
        """Why reAPI submissions are paused now, or None."""
        ...

    async def today(self) -> SpendToday:
        """Today's reAPI spend against the cap."""
        ...


@dataclass(slots=True)
class _Live:
    """What the metrics remember about a job this runner holds."""

    state: JobState
    polls: int = 0


class Metrics:
    """Every metric of one bot; implements ``bot.engine.ports.JobObserver`` for the runner.

    Parameters
    ----------
    clock
        Wall-clock seconds (``time.time``): the queue's age is measured against the jobs' stored times.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        self._clock = clock
        self._live: dict[str, _Live] = {}
        self._queue: QueueView | None = None
        self._spend: SpendView | None = None
        self._spend_today: SpendToday | None = None
        registry = self.registry

        self.jobs_accepted = Counter(
            "imaginebot_jobs_accepted_total",
            "Jobs accepted (stored as queued, credits reserved).",
            ["kind"],
            registry=registry,
        )
        self.jobs_finished = Counter(
            "imaginebot_jobs_finished_total",
            'Jobs settled, by outcome ("delivered" or "failed") and failure code ("" when delivered).',
            ["outcome", "code"],
            registry=registry,
        )
        self.credits_reserved = Counter(
            "imaginebot_credits_reserved_total", "Bot credits reserved for accepted jobs.", registry=registry
        )
        self.credits_captured = Counter(
            "imaginebot_credits_captured_total", "Bot credits captured for delivered jobs.", registry=registry
        )
        self.credits_refunded = Counter(
            "imaginebot_credits_refunded_total", "Bot credits refunded for failed jobs.", registry=registry
        )
        self.polls_per_job = Histogram(
            "imaginebot_polls_per_job",
            "reAPI polls a settled job needed (jobs that were polled).",
            buckets=_POLL_BUCKETS,
            registry=registry,
        )
        self.task_duration = Histogram(
            "imaginebot_task_duration_seconds",
            "Seconds reAPI took for a delivered job (submitted → completed).",
            buckets=_TASK_BUCKETS,
            registry=registry,
        )
        self.delivery_delay = Histogram(
            "imaginebot_delivery_delay_seconds",
            "Seconds from reAPI's completion to the image posted and settled.",
            buckets=_DELIVERY_BUCKETS,
            registry=registry,
        )
        self.ack_latency = Histogram(
            "imaginebot_ack_latency_seconds",
            "Seconds from an interaction's creation to Discord accepting our ack.",
            buckets=_ACK_BUCKETS,
            registry=registry,
        )
        self.discord_rate_limited = Counter(
            "imaginebot_discord_rate_limited_total",
            "429 answers from Discord's REST API (discord.py waits and retries), by X-RateLimit-Scope.",
            ["scope"],
            registry=registry,
        )
        self.reapi_requests = Counter(
            "imaginebot_reapi_requests_total",
            'HTTP requests to reAPI, by operation and status ("error": no answer, e.g. refused or timed out).',
            ["operation", "status"],
            registry=registry,
        )
        self.reapi_duration = Histogram(
            "imaginebot_reapi_request_duration_seconds",
            "Seconds until reAPI's answer (headers) or the failure, per HTTP request, by operation.",
            ["operation"],
            buckets=_REQUEST_BUCKETS,
            registry=registry,
        )
        registry.register(_ScrapeTimeCollector(self))

    # -- wiring -----------------------------------------------------------------------------------

    def watch(self, *, queue: QueueView, spend: SpendView | None) -> None:
        """Read the queue gauges from ``queue`` and the spend gauges from ``spend`` at scrape time."""
        self._queue = queue
        self._spend = spend

    async def render(self) -> bytes:
        """The Prometheus text exposition of every metric, with today's spend read fresh."""
        await self._refresh_spend()
        return generate_latest(self.registry)

    async def _refresh_spend(self) -> None:
        self._spend_today = None
        if self._spend is None:
            return
        try:
            async with asyncio.timeout(_SPEND_TIMEOUT):
                self._spend_today = await self._spend.today()
        except Exception as exc:  # the scrape goes on without the spend gauges; /healthz reports the database
            log.warning("metrics: could not read today's reAPI spend (%s)", type(exc).__name__)

    # -- JobObserver ------------------------------------------------------------------------------

    def job_accepted(self, job: Job) -> None:
        """A new job was stored as queued and its credits reserved."""
        self.jobs_accepted.labels(job.kind.value).inc()
        self.credits_reserved.inc(job.cost)
        self._live[job.id] = _Live(job.state)

    def job_state(self, job: Job) -> None:
        """The runner holds the job in ``job.state``."""
        if job.state.is_terminal:
            return
        live = self._live.get(job.id)
        if live is None:
            self._live[job.id] = _Live(job.state)
        else:
            live.state = job.state

    def job_polled(self, job: Job) -> None:
        """One more poll of the job's reAPI task."""
        live = self._live.get(job.id)
        if live is not None:
            live.polls += 1

    def job_finished(self, job: Job) -> None:
        """The job was settled: count its outcome, its credits and (when delivered) its timings."""
        live = self._live.pop(job.id, None)
        if live is not None and live.polls:
            self.polls_per_job.observe(live.polls)
        if job.state is JobState.DELIVERED:
            self.jobs_finished.labels("delivered", "").inc()
            self.credits_captured.inc(job.cost)
            if job.duration is not None:
                self.task_duration.observe(max(0.0, job.duration))
            if job.completed_at is not None and job.finished_at is not None:
                self.delivery_delay.observe(max(0.0, job.finished_at - job.completed_at))
        else:
            self.jobs_finished.labels("failed", job.error_code or "unknown").inc()
            self.credits_refunded.inc(job.cost)

    def job_released(self, job_id: str) -> None:
        """The runner let go of the job; it no longer counts in ``imaginebot_jobs``."""
        self._live.pop(job_id, None)

    # -- HTTP traces (bot.observability.traces) ---------------------------------------------------

    def reapi_request(self, operation: str, status: str, seconds: float) -> None:
        """One HTTP request to reAPI ended with ``status`` (a number, or "error") after ``seconds``."""
        self.reapi_requests.labels(operation, status).inc()
        self.reapi_duration.labels(operation).observe(max(0.0, seconds))

    def discord_acked(self, seconds: float) -> None:
        """Discord accepted an interaction response ``seconds`` after the interaction was created."""
        self.ack_latency.observe(max(0.0, seconds))

    def discord_429(self, scope: str) -> None:
        """Discord answered 429 (discord.py waits and retries)."""
        self.discord_rate_limited.labels(scope).inc()

    # -- scrape time ------------------------------------------------------------------------------

    def collect_live(self) -> Iterable[Metric]:
        """The gauges computed at scrape time (see ``_ScrapeTimeCollector``)."""
        jobs = GaugeMetricFamily(
            "imaginebot_jobs", "Jobs this bot holds now, by state (not yet settled).", labels=["state"]
        )
        counts = dict.fromkeys(ACTIVE_STATES, 0)
        for live in self._live.values():
            counts[live.state] = counts.get(live.state, 0) + 1
        for state, count in counts.items():
            jobs.add_metric([state.value], count)
        yield jobs
        if self._queue is not None:
            waiting = self._queue.waiting()
            oldest = min((job.created_at for job in waiting), default=None)
            age = 0.0 if oldest is None else max(0.0, self._clock() - oldest)
            yield GaugeMetricFamily("imaginebot_queue_depth", "Jobs waiting for a runner slot.", value=len(waiting))
            yield GaugeMetricFamily(
                "imaginebot_queue_oldest_age_seconds",
                "Seconds since the oldest waiting job was accepted (0 when none waits).",
                value=age,
            )
        if self._spend is not None:
            paused = self._spend.pause_reason is not None
            yield GaugeMetricFamily(
                "imaginebot_reapi_paused",
                "1 while new images are paused after reAPI answered 402 or 401.",
                value=1 if paused else 0,
            )
        today = self._spend_today
        if today is not None:
            yield GaugeMetricFamily(
                "imaginebot_reapi_spend_today_credits",
                "reAPI credits spent since midnight UTC (images sent to reAPI times credits_per_image).",
                value=today.spent,
            )
            yield GaugeMetricFamily(
                "imaginebot_reapi_spend_in_flight_credits",
                "reAPI credits the jobs accepted but not yet sent will spend.",
                value=today.in_flight,
            )
            yield GaugeMetricFamily(
                "imaginebot_reapi_spend_cap_credits",
                "The daily reAPI spend cap in reAPI credits (0 = no cap).",
                value=today.cap,
            )


class _ScrapeTimeCollector(Collector):
    """Adapts ``Metrics.collect_live`` to prometheus_client's collector interface."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        """The gauges as they are now."""
        return self._metrics.collect_live()
