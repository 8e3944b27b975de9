"""Operations: Prometheus metrics fed by the job runner and HTTP traces, and the /healthz + /metrics endpoint.

Nothing in the engine imports this package: the runner sees only ``bot.engine.ports.JobObserver``; the composition root
(``bot.surface.app``) builds a :class:`Metrics`, hands it to the runner and the HTTP sessions, and serves it.
"""

from __future__ import annotations

from bot.observability.http import HealthCheck, MetricsServer
from bot.observability.metrics import Metrics
from bot.observability.traces import discord_trace, reapi_trace

__all__ = ["HealthCheck", "Metrics", "MetricsServer", "discord_trace", "reapi_trace"]
