"""The command line: ``imagine-bot run|check|sync|invite|healthcheck|simulator|credits|ledger`` (``python -m bot``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot import logs
from bot.config import DEFAULT_CONFIG_PATH, ConfigError, load_settings, parse_shard_ids
from bot.ops import add_operator_commands, run_operator_command

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.config import Settings

__all__ = ["main", "shard_overrides"]

log = logging.getLogger("bot")

EXIT_CONFIG = 2


def _version() -> str:
    try:
        return importlib.metadata.version("imagine-bot")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagine-bot", description="reAPI image generation for Discord.")
    parser.add_argument("--version", action="version", version=f"imagine-bot {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", type=Path, default=None, help="TOML file (default ./config.toml, else env only)")
    run = commands.add_parser("run", parents=[config], help="run the bot")
    # Taken as text and checked with the settings, so a bad value is one line like any other config error.
    run.add_argument(
        "--shard-count",
        default=None,
        metavar="N",
        help="how many shards all processes together run (overrides discord.shard_count)",
    )
    run.add_argument(
        "--shards",
        default=None,
        metavar="IDS",
        help="the shards this process runs, e.g. 0-3 or 0-3,6 (overrides discord.shard_ids; needs a shard count)",
    )
    commands.add_parser(
        "check",
        parents=[config],
        help="check config, database, Discord token, intents, server permissions and the reAPI key (exit 1 on FAIL)",
    )
    sync = commands.add_parser("sync", parents=[config], help="push the slash commands to Discord now")
    sync.add_argument("--guild", type=int, default=None, metavar="ID", help="only to this server (shows instantly)")
    commands.add_parser("invite", parents=[config], help="print the URL that adds the bot to a server")
    commands.add_parser(
        "healthcheck", parents=[config], help="ask the running bot's /healthz (exit 0 when healthy; for Docker)"
    )
    sim = commands.add_parser("simulator", help="serve the reAPI simulator for any reAPI client")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8787)
    sim.add_argument("--api-key", default=None, help="accept only this key (default: any key starting rk_)")
    sim.add_argument("--delay", type=float, default=2.0, help="seconds a task stays processing")
    add_operator_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = _parser().parse_args(argv)
    logs.setup()  # text at INFO until the config says otherwise
    if args.command == "simulator":
        from bot.reapi.simulator import serve

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args.host, args.port, api_key=args.api_key, delay=args.delay))
        return 0
    if args.command in ("credits", "ledger"):
        return run_operator_command(args)
    try:
        overrides = shard_overrides(args.shards, args.shard_count) if args.command == "run" else {}
        settings = load_settings(args.config, **overrides)
        if args.command != "healthcheck":
            settings.require_secrets()
    except ConfigError as exc:
        print(f"imagine-bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from bot.checks import secrets_of

    logs.setup(format=settings.log.format, level=settings.log.level, secrets=secrets_of(settings))
    try:
        return asyncio.run(_COMMANDS[args.command](settings, args))
    except KeyboardInterrupt:
        return 0


def shard_overrides(shards: str | None, shard_count: str | None) -> dict[str, Any]:
    """The ``[discord]`` keys that ``run --shards IDS --shard-count N`` set (flags win over config and env).

    Raises
    ------
    ConfigError
        A flag is not a number / a list of shard ids; range checks are the settings' (same messages as config).
    """
    discord_keys: dict[str, Any] = {}
    if shard_count is not None:
        try:
            discord_keys["shard_count"] = int(shard_count)
        except ValueError:
            raise ConfigError(f"--shard-count: {shard_count!r} is not a whole number") from None
    if shards is not None:
        try:
            discord_keys["shard_ids"] = parse_shard_ids(shards)
        except ValueError as exc:
            raise ConfigError(f"--shards: {exc}") from None
    return {"discord": discord_keys} if discord_keys else {}


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    return await run_bot(settings)


async def _check(settings: Settings, args: argparse.Namespace) -> int:
    from bot.checks import Finding, Status, exit_code, render, run_checks, secrets_of

    if args.config is not None:
        where = f"{args.config} and the environment"
    else:
        where = "./config.toml and the environment" if DEFAULT_CONFIG_PATH.is_file() else "the environment only"
    findings = [Finding(Status.OK, "config", f"valid ({where})"), *await run_checks(settings)]
    print(render(findings, secrets=secrets_of(settings)))
    return exit_code(findings)


async def _invite(settings: Settings, args: argparse.Namespace) -> int:
    from bot.checks import application_id, invite_url

    try:
        app_id = await application_id(settings)
    except discord.LoginFailure:
        print(_REFUSED_TOKEN, file=sys.stderr)
        return EXIT_CONFIG
    except (aiohttp.ClientError, OSError, discord.HTTPException) as exc:
        print(f"imagine-bot: cannot ask Discord for the application id ({type(exc).__name__})", file=sys.stderr)
        return 1
    print(invite_url(app_id))
    return 0


async def _sync(settings: Settings, args: argparse.Namespace) -> int:
    from bot.surface.app import ImagineBot

    # Log in over HTTP only (no gateway, no jobs): build the tree the bot has, push it.
    bot = ImagineBot(settings, serve=False)
    try:
        async with bot:
            await bot.login(settings.discord.token.get_secret_value())
            count = await bot.push_commands(args.guild)
    except discord.LoginFailure:
        print(_REFUSED_TOKEN, file=sys.stderr)
        return EXIT_CONFIG
    except (aiohttp.ClientError, OSError) as exc:
        print(f"imagine-bot: cannot reach Discord ({type(exc).__name__}); check discord.api_base_url", file=sys.stderr)
        return 1
    except discord.HTTPException as exc:
        print(f"imagine-bot: Discord refused the commands ({exc.status}, code {exc.code})", file=sys.stderr)
        return 1
    where = f"server {args.guild} (visible now)" if args.guild else "everywhere (may take a while to show up)"
    print(f"synced {count} application command(s) to {where}")
    return 0


async def _healthcheck(settings: Settings, args: argparse.Namespace) -> int:
    metrics = settings.metrics
    if not metrics.enabled:
        print("imagine-bot: metrics are disabled (metrics.enabled = false), so there is no /healthz to ask")
        return 1
    host = "127.0.0.1" if metrics.host in ("0.0.0.0", "") else metrics.host
    if ":" in host and not host.startswith("["):
        host = "127.0.0.1" if host == "::" else f"[{host}]"
    status, body = await probe_health(f"http://{host}:{metrics.port}/healthz")
    print(f"healthz: {status} {body}".rstrip())
    return 0 if status == HTTP_OK else 1


HTTP_OK = 200


async def probe_health(url: str, *, seconds: float = 5.0) -> tuple[int | str, str]:
    """GET ``url``: the HTTP status and the first 300 characters of the body, or a short reason it failed."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session,
            session.get(url) as response,
        ):
            return response.status, (await response.text())[:300]
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return "unreachable", f"({type(exc).__name__} at {url})"


_COMMANDS = {"run": _run, "check": _check, "sync": _sync, "invite": _invite, "healthcheck": _healthcheck}
_REFUSED_TOKEN = "imagine-bot: Discord refused the token (discord.token); check it in the developer portal"


async def run_bot(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM, then shut down gracefully so unfinished jobs resume next start."""
    from bot.surface.app import ImagineBot

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bot = ImagineBot(settings, own_process=True)
    async with bot:
        runner = asyncio.create_task(bot.start(settings.discord.token.get_secret_value()), name="bot")
        stopper = asyncio.create_task(stop.wait(), name="stop-signal")
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if runner in done:
            return _exit_code(runner)
        log.info("shutting down: unfinished jobs will resume on the next start")
        await bot.close()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
    return 0


def _exit_code(task: asyncio.Task[None]) -> int:
    from bot.surface.app import DatabaseUnavailable

    error = task.exception()
    if error is None:
        return 0
    if isinstance(error, discord.LoginFailure):
        print(_REFUSED_TOKEN, file=sys.stderr)
        return EXIT_CONFIG
    if isinstance(error, discord.PrivilegedIntentsRequired):
        print(
            "imagine-bot: discord.message_content_intent is on but the Message Content intent is not enabled "
            "for this application in the developer portal",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if isinstance(error, DatabaseUnavailable):
        print(f"imagine-bot: cannot open the database ({error}); check database.url", file=sys.stderr)
        return 1
    if isinstance(error, aiohttp.ClientConnectionError | OSError):
        # Unreachable Discord (network, DNS, proxy): a clear line, not a traceback.
        print(
            f"imagine-bot: cannot reach Discord ({error}); check the network or discord.api_base_url", file=sys.stderr
        )
        return 1
    log.error("the bot stopped with an error", exc_info=error)
    return 1
