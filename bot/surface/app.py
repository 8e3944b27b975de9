"""The Bot subclass: the one composition root that builds services, loads cogs and starts the job runner."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import secrets
import socket
import sys
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.engine.accounts import Accounts
from bot.engine.cooldown import Cooldown
from bot.engine.credits import CreditLedger
from bot.engine.members import Preferences
from bot.engine.pricing import ModelCatalogue
from bot.engine.runner import JobRunner
from bot.engine.server_rules import ServerRules, StrikeWatcher
from bot.engine.sources import SourceFetcher
from bot.engine.spend import SpendGuard
from bot.observability import HealthCheck, Metrics, MetricsServer, discord_trace, reapi_trace
from bot.reapi import ReapiClient
from bot.store import DatabaseInUse, open_store
from bot.surface.ack_window import AckWindow
from bot.surface.alerts import OwnerAlerts
from bot.surface.channel_writes import ChannelWrites
from bot.surface.components import CancelButton, ResultButton
from bot.surface.i18n import use_interaction_locale
from bot.surface.member_delivery import MemberDeliveryNotifier
from bot.surface.model_choice import ratios_of
from bot.surface.reporting import report_error
from bot.surface.services import Services
from bot.surface.settings_ui import ModeratorChannelAlerts
from bot.surface.translator import CatalogueTranslator

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator

__all__ = [
    "DISCORD_CONNECTIONS_PER_HOST",
    "EXTENSIONS",
    "GC_THRESHOLDS",
    "GIL_SWITCH_INTERVAL",
    "DatabaseUnavailable",
    "ImagineBot",
    "ImagineTree",
    "Services",
    "redirect_discord",
    "tune_gc",
]

log = logging.getLogger(__name__)

_SIMULATED_KEY = "rk_simulated_local"
# Loaded by name so the engine never imports the Discord surface; each setup() passes services to its cog.
EXTENSIONS = (
    "cogs.imagine",
    "cogs.edit",
    "cogs.credits",
    "cogs.admin",
    "cogs.settings",
    "cogs.preferences",
    "cogs.jobs",
)
# Young collections every 50,000 net allocations instead of 700: with thousands of jobs in flight, each poll's
# short-lived objects are otherwise caught alive by a young collection, promoted, and counted towards the next
# full collection, which then scans every job's objects (70-130 ms each at 2,000 jobs, the loop's worst stalls).
GC_THRESHOLDS = (50_000, 20, 100)
# How long a thread runs Python before it must hand the GIL over (CPython's default: 5 ms). The event loop gives
# the GIL up at every socket call; while SQLite's writer thread turns rows into objects, each of those waits up to
# this long to get it back, so one step with twenty socket calls could stall the loop for 100 ms.
GIL_SWITCH_INTERVAL = 0.0005
# At most this many connections at once to one Discord host (REST, the gateway's, the CDN's each count apart).
# discord.py's own pool has no bound, and it keeps every connection a burst opened: over bench soak's ten waves it
# grew from 359 to 523 idle connections, and the process's RSS with it. Each request on the wire holds one
# (HTTP/1.1), so this is also how many can be on the wire: room for a burst of 200 ACKs (interaction callbacks
# have no global rate limit) with margin. At 100, the second hundred of a burst waited for connections until the
# first hundred's answers were back: bench ack (a burst sent at once, latency to the ACK written), bot/floor p99
# 1.50-2.29 over three runs at 100, 1.29-1.67 at 256.
DISCORD_CONNECTIONS_PER_HOST = 256


def tune_gc() -> None:
    """Tune the collector for a long-running bot process; called once the bot is built (process-wide, so only by
    the process's owner: ``imagine-bot run`` and the benchmarks, never by tests that start many bots).

    Everything alive after start-up (modules, discord.py's and pydantic's tables, the command tree) is moved to the
    permanent generation with ``gc.freeze()``, so full collections no longer rescan it; young collections run less
    often (``GC_THRESHOLDS``). The GIL changes hands more often (``GIL_SWITCH_INTERVAL``), so the event loop waits
    less behind the store's writer thread.
    """
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def worker_name(settings: Settings) -> str:
    """This process's name on the job queue: stable for the one SQLite process (its leases from before a restart
    are taken back at once), unique per process on PostgreSQL (several may share it)."""
    if settings.database.url.startswith("sqlite:"):
        return "local"
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class DatabaseUnavailable(Exception):
    """The database in ``database.url`` could not be opened at start-up (told apart from an unreachable Discord)."""

    def __init__(self, cause: BaseException) -> None:
        if isinstance(cause, DatabaseInUse):  # its own sentence names the file and what to do, no secret
            super().__init__(str(cause))
            return
        # The exception's class and errno-style text only: never the URL, which may hold a password.
        reason = getattr(cause, "strerror", None) or type(cause).__name__
        super().__init__(f"{type(cause).__name__}: {reason}" if reason != type(cause).__name__ else reason)


class ImagineTree(app_commands.CommandTree["ImagineBot"]):
    """The command tree with the single app-command error handler; answers in each member's language."""

    async def interaction_check(self, interaction: discord.Interaction[ImagineBot], /) -> bool:
        """Every command, menu and autocomplete is answered in the member's Discord language (same task)."""
        use_interaction_locale(interaction)
        return True

    async def on_error(self, interaction: discord.Interaction[ImagineBot], error: app_commands.AppCommandError) -> None:
        """Every app-command error ends in one friendly ephemeral answer."""
        await report_error(interaction, error)


def redirect_discord(settings: Settings) -> None:
    """Point discord.py's REST and gateway at the configured bases (REST/gateway proxies, tests)."""
    # discord.py keeps these as class attributes; webhooks and interactions use the same Route class.
    discord.http.Route.BASE = settings.discord.api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord.gateway_url)


class ImagineBot(commands.AutoShardedBot):
    """imagine-bot: slash commands in front of a durable job runner.

    Always the sharded client: with no ``discord.shard_count`` it asks Discord how many shards to open and runs
    them all (one for a small bot); with ``shard_count`` / ``shard_ids`` it runs only its range, so N processes
    share the guilds. Events come only over this process's shards; delivery needs none (interaction webhooks and
    channel messages are REST), so any process may deliver any job.
    """

    services: Services

    def __init__(
        self,
        settings: Settings,
        *,
        serve: bool = True,
        own_process: bool = False,
        guild_ready_timeout: float = 2.0,
        http_trace: aiohttp.TraceConfig | None = None,
    ) -> None:
        """``guild_ready_timeout``: how long discord.py waits after the last GUILD_CREATE before READY (its own
        default; a fake Discord that sends every guild at once needs far less). ``http_trace``: hooks of the
        caller's on discord.py's HTTP session (the benchmarks time when each ACK leaves); the metrics' own are
        added to it."""
        # Built first: discord.py's HTTP session takes its trace when the client is created.
        metrics = Metrics() if settings.metrics.enabled and serve else None
        trace = discord_trace(metrics, into=http_trace) if metrics is not None else http_trace
        intents = discord.Intents.default()
        intents.message_content = settings.discord.message_content_intent
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents,
            # Echoed prompts must never ping anyone; a ping has to be asked for explicitly.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=ImagineTree,
            owner_ids=set(settings.discord.owner_ids) or None,
            allowed_installs=app_commands.AppInstallationType(guild=True, user=True),
            allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True),
            # None is discord.py's own default (options.pop("http_trace", None)); only its type hint says otherwise.
            http_trace=trace,  # type: ignore[arg-type]
            guild_ready_timeout=guild_ready_timeout,
            shard_count=settings.discord.shard_count,
            # None = every shard of shard_count; also discord.py's default (kwargs.pop("shard_ids", None)).
            shard_ids=settings.discord.shard_ids,  # type: ignore[arg-type]
            # No message cache: the bot never reads it, and every MESSAGE_UPDATE echo of a progress edit was
            # matched against its 1,000 messages (8 % of the CPU at 2,000 jobs in flight).
            max_messages=None,
            # discord.py's default but for the bound (DISCORD_CONNECTIONS_PER_HOST); made here, so the bot is
            # built inside a running event loop, as discord.py advises anyway.
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=DISCORD_CONNECTIONS_PER_HOST),
        )
        self.settings = settings
        self.metrics = metrics
        self._metrics_server: MetricsServer | None = None
        # False for `imagine-bot sync`: build the command tree only; no job is resumed or run.
        self.serve = serve
        # True when this bot is what its process is for (`imagine-bot run`): it may tune process-wide settings.
        self.own_process = own_process
        # ACK first: no garbage collection while a burst of interactions waits for its acknowledgements.
        self.ack_window = AckWindow()
        redirect_discord(settings)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        """discord.py's event dispatch; an INTERACTION_CREATE also opens the ACK window, as it is parsed, and a
        bot's message (the echo of each placeholder and result this bot posts) goes to no handler."""
        if event_name == "interaction":
            self.ack_window.received(args[0])
        elif event_name == "message" and args[0].author.bot:
            # Reply-to-edit ignores bots: dispatched, each echo was two tasks (on_message and the listener) that
            # returned at once, one or two per job, and in a burst of commands they ran among the ACKs.
            return
        super().dispatch(event_name, *args, **kwargs)

    async def setup_hook(self) -> None:
        """Build the services once, add the cogs, resume unfinished jobs, sync commands."""
        settings = self.settings
        try:
            # Exclusive: a second bot process on the same SQLite file is refused (its queue is in-process).
            store = await open_store(settings.database.url, exclusive=True)
        except Exception as exc:  # unreachable server, bad credentials, unwritable file …
            raise DatabaseUnavailable(exc) from exc
        simulator: ReapiSimulator | None = None
        base_url, api_key = settings.reapi.base_url, settings.reapi.api_key.get_secret_value()
        if settings.reapi.use_simulator:
            # Imported only here: the simulator (aiohttp.web, Pillow drawing) costs every other start ~0.1 s.
            from bot.reapi.simulator import ReapiSimulator

            simulator = ReapiSimulator(delay=settings.reapi.simulate_delay)
            base_url, api_key = await simulator.start(), _SIMULATED_KEY
            log.warning(
                "SIMULATION MODE: no reAPI key is configured, so images come from the built-in simulator "
                "at %s and cost nothing. Set reapi.api_key to generate real images.",
                base_url,
            )
        metrics = self.metrics
        reapi = ReapiClient(
            base_url=base_url,
            api_key=api_key,
            model=settings.reapi.model,
            trace_configs=[reapi_trace(metrics)] if metrics is not None else (),
        )
        catalogue = ModelCatalogue.from_settings(settings.reapi)
        server_rules = ServerRules(
            store=store,
            moderation=settings.moderation,
            servers=settings.servers,
            credits=settings.credits,
            models=catalogue.enabled,
            aspect_ratios=ratios_of(catalogue.enabled),
            owner_ids=frozenset(settings.discord.owner_ids),
        )
        await server_rules.load()
        self._moderator_alerts = ModeratorChannelAlerts(self)
        ledger = CreditLedger(
            settings.credits,
            owner_ids=frozenset(settings.discord.owner_ids),
            server_terms=server_rules.server_terms,
        )
        alerts = OwnerAlerts(self, owner_ids=settings.discord.owner_ids, log_channel_id=settings.discord.log_channel_id)
        writes = ChannelWrites()  # one budget per process: the notifier's writes and the cogs' replies share it
        # The models a member may pick in /preferences and a server in /settings: the operator's [reapi] models.
        preferences = Preferences(
            store=store,
            default_model=catalogue.default_model,
            enabled_models=catalogue.enabled,
            aspect_ratios=ratios_of(catalogue.enabled),
        )
        notifier = MemberDeliveryNotifier(
            self,
            preferences=preferences,
            progress_interval=settings.jobs.progress_interval,
            alerts=alerts,
            writes=writes,
        )
        spend = SpendGuard(
            store=store,
            alerts=alerts,
            # The simulator costs nothing, so there is no budget to protect.
            cap_credits=0 if simulator is not None else settings.credits.spend_cap_credits,
            pause_seconds=settings.reapi.pause_after_402.total_seconds(),
        )
        await spend.load()
        runner = JobRunner(
            worker=worker_name(settings),
            sole_worker=settings.database.url.startswith("sqlite:"),
            store=store,
            reapi=reapi,
            notifier=notifier,
            credit_rules=ledger,
            settings=settings.jobs,
            max_download_bytes=settings.images.max_download_bytes,
            simulated=simulator is not None,
            spend=spend,
            cooldown=Cooldown(settings.jobs.cooldown_jobs, settings.jobs.cooldown_seconds),
            observer=StrikeWatcher(server_rules, self._moderator_alerts, inner=metrics),
            server_rules=server_rules,
            catalogue=catalogue,
        )
        sources = SourceFetcher(allow_private=settings.images.allow_private_urls)
        accounts = Accounts(store=store, ledger=ledger, spend=spend)
        self.services = Services(
            settings,
            store,
            reapi,
            simulator,
            ledger,
            notifier,
            runner,
            sources,
            accounts,
            alerts,
            preferences,
            server_rules,
            writes,
        )
        self.add_dynamic_items(ResultButton, CancelButton)
        # Before any sync (also `imagine-bot sync`): the commands go to Discord with their German names.
        await self.tree.set_translator(CatalogueTranslator())

        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if not self.serve:
            return
        await runner.start()
        server_rules.start()
        if metrics is not None:
            metrics.watch(queue=runner, spend=spend)
            await self._serve_metrics(metrics)
        if settings.discord.sync_commands:
            await self.sync_commands()
        if self.own_process:
            tune_gc()

    async def _serve_metrics(self, metrics: Metrics) -> None:
        """Start ``/healthz`` and ``/metrics`` on ``[metrics] host:port``."""
        services = self.services
        health = HealthCheck(
            gateway=self.gateway_connected,
            database=lambda: services.store.get_meta("health_check"),
            runner=lambda: services.runner.alive,
        )
        server = MetricsServer(
            metrics=metrics, health=health, host=self.settings.metrics.host, port=self.settings.metrics.port
        )
        await server.start()
        self._metrics_server = server

    def gateway_connected(self) -> bool:
        """Whether the bot is connected to Discord's gateway now (ready, every shard's websocket open, not closed)."""
        # The sharded client keeps one websocket per shard (``self.ws`` stays None).
        shards = self.shards.values()
        return self.is_ready() and not self.is_closed() and bool(shards) and not any(s.is_closed() for s in shards)

    async def sync_commands(self) -> None:
        """Push the command tree to each dev guild (instantly), and globally when it changed."""
        for guild_id in self.settings.discord.dev_guild_ids:
            await self.push_commands(guild_id)
        if await self.services.store.get_meta("commands_digest") == await self._commands_digest():
            return
        await self.push_commands()

    async def push_commands(self, guild_id: int | None = None) -> int:
        """Push the command tree to one guild, or globally (remembered as synced); returns how many commands."""
        if guild_id is not None:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            return len(await self.tree.sync(guild=guild))
        synced = await self.tree.sync()
        await self.services.store.set_meta("commands_digest", await self._commands_digest())
        log.info("synced %d application commands", len(synced))
        return len(synced)

    async def _commands_digest(self) -> str:
        # The translated payload, as sync sends it: a new or changed translation is pushed too.
        translator = self.tree.translator
        commands = self.tree.get_commands()
        payload: list[dict[str, Any]] = (
            [await c.get_translated_payload(self.tree, translator) for c in commands]
            if translator is not None
            else [c.to_dict(self.tree) for c in commands]
        )
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: messages reach only cog listeners (reply-to-edit), never the command parser."""

    async def close(self) -> None:
        """Pause jobs for resume, disconnect, then release the services."""
        self.ack_window.close()
        if self._metrics_server is not None:
            await self._metrics_server.close()
        services = getattr(self, "services", None)
        if services is not None:
            await services.server_rules.stop()
            await services.runner.stop()
            await services.alerts.close()
            await self._moderator_alerts.close()
        await super().close()
        if services is not None:
            await services.reapi.close()
            await services.sources.close()
            if services.simulator is not None:
                await services.simulator.close()
            await services.store.close()
