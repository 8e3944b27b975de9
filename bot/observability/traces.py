"""aiohttp TraceConfigs that feed the metrics from the HTTP sessions of the reAPI client and of discord.py.

Tracing the sessions measures every HTTP request where it happens (each retry included, with its real status)
without the adapters knowing about metrics: ``bot.reapi`` takes ``trace_configs`` and labels each request with
its operation; discord.py takes one ``http_trace`` for the session its REST client, interaction responses and
webhooks share.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import SimpleNamespace

    from bot.observability.metrics import Metrics

__all__ = ["discord_trace", "reapi_trace", "snowflake_time"]

_DISCORD_EPOCH = 1_420_070_400_000  # ms; the first second of 2015, where snowflake time starts
# An interaction response: POST /interactions/{interaction id}/{token}/callback.
_CALLBACK = re.compile(r"/interactions/(\d{1,20})/[^/]+/callback$")
# Discord's X-RateLimit-Scope values; anything else (a proxy's 429) counts as "unknown" (bounded label values).
_SCOPES = frozenset({"user", "global", "shared"})


def snowflake_time(snowflake: int) -> float:
    """The Unix time (seconds) a Discord snowflake id was created at."""
    return ((snowflake >> 22) + _DISCORD_EPOCH) / 1000


def reapi_trace(metrics: Metrics) -> aiohttp.TraceConfig:
    """Count and time every request of the reAPI client's session, by operation and status.

    The operation is what the client passes as ``trace_request_ctx`` ("submit", "poll", "download").
    """
    trace = aiohttp.TraceConfig()

    async def started(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        ctx.started = asyncio.get_running_loop().time()

    def finish(ctx: SimpleNamespace, status: str) -> None:
        request_ctx = ctx.trace_request_ctx
        operation = request_ctx if isinstance(request_ctx, str) else "other"
        elapsed = asyncio.get_running_loop().time() - getattr(ctx, "started", asyncio.get_running_loop().time())
        metrics.reapi_request(operation, status, elapsed)

    async def ended(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        finish(ctx, str(params.response.status))

    async def failed(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestExceptionParams
    ) -> None:
        finish(ctx, "error")

    trace.on_request_start.append(started)
    trace.on_request_end.append(ended)
    trace.on_request_exception.append(failed)
    trace.freeze()
    return trace


def discord_trace(
    metrics: Metrics, *, clock: Callable[[], float] = time.time, into: aiohttp.TraceConfig | None = None
) -> aiohttp.TraceConfig:
    """Watch discord.py's HTTP session: count its 429s, and time each interaction's ack.

    ``into``: a trace of the caller's to add the hooks to (discord.py takes one); a new one otherwise.

    The ack latency is measured at Discord's answer to the interaction response, from the interaction's creation
    time in its snowflake: it covers every kind of ack (placeholder, ephemeral refusal, modal, button update)
    with no code at each call site. It relies on our clock agreeing with Discord's, as any such measure must.
    """
    trace = into if into is not None else aiohttp.TraceConfig()

    async def ended(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        status = params.response.status
        if status == 429:
            scope = params.response.headers.get("X-RateLimit-Scope", "")
            metrics.discord_429(scope if scope in _SCOPES else "unknown")
            return
        if params.method != "POST" or not 200 <= status < 300:
            return
        match = _CALLBACK.search(params.url.path)
        if match is not None:
            metrics.discord_acked(clock() - snowflake_time(int(match.group(1))))

    trace.on_request_end.append(ended)
    trace.freeze()
    return trace
