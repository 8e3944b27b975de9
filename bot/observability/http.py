"""The operator's HTTP endpoint: ``GET /healthz`` (is the bot working?) and ``GET /metrics`` (Prometheus text).

Served by aiohttp.web on ``[metrics] host:port`` (127.0.0.1 unless configured), only when metrics are enabled.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.observability.metrics import Metrics

__all__ = ["HealthCheck", "MetricsServer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """What "healthy" means: connected to Discord, the database answers, the job runner runs.

    Parameters
    ----------
    gateway
        Whether the Discord gateway is connected (ready, open, not closed).
    database
        A trivial query; it must answer within ``timeout`` seconds.
    runner
        Whether the job runner has started and is not stopping.
    """

    gateway: Callable[[], bool]
    database: Callable[[], Awaitable[object]]
    runner: Callable[[], bool]
    timeout: float = 2.0

    async def check(self) -> dict[str, Any]:
        """``{"ok": true, "gateway": …, "database": …, "runner": …}``, plus a ``reason`` when not ok."""
        reasons: list[str] = []
        gateway = self.gateway()
        if not gateway:
            reasons.append("Discord gateway not connected")
        try:
            async with asyncio.timeout(self.timeout):
                await self.database()
            database = True
        except TimeoutError:
            database = False
            reasons.append(f"database did not answer within {self.timeout:g} s")
        except Exception as exc:  # only the type: a driver's message may carry a DSN
            database = False
            reasons.append(f"database unreachable ({type(exc).__name__})")
        runner = self.runner()
        if not runner:
            reasons.append("job runner not running")
        body: dict[str, Any] = {"ok": not reasons, "gateway": gateway, "database": database, "runner": runner}
        if reasons:
            body["reason"] = "; ".join(reasons)
        return body


class MetricsServer:
    """Serves ``/healthz`` and ``/metrics`` on one host and port until closed."""

    def __init__(self, *, metrics: Metrics, health: HealthCheck, host: str, port: int) -> None:
        self._metrics = metrics
        self._health = health
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and serve (raises OSError when the port is taken: a configuration error worth stopping for)."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._render)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("serving /healthz and /metrics on http://%s:%d", self._host, self._port)

    async def close(self) -> None:
        """Stop serving."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        body = await self._health.check()
        if not body["ok"]:
            log.info("health check failed: %s", body["reason"])
        return web.json_response(body, status=200 if body["ok"] else 503)

    async def _render(self, request: web.Request) -> web.Response:
        return web.Response(body=await self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
