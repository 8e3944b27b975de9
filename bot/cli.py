"""The command line: ``imagine-bot run|simulator|credits|ledger`` (also ``python -m bot``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.config import ConfigError, load_settings
from bot.ops import add_operator_commands, run_operator_command

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.config import Settings

__all__ = ["main"]

log = logging.getLogger("bot")

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagine-bot", description="reAPI image generation for Discord.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot")
    run.add_argument("--config", type=Path, default=None, help="TOML file (default ./config.toml, else env only)")
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
    discord.utils.setup_logging(level=logging.INFO, root=True)
    if args.command == "simulator":
        from bot.reapi.simulator import serve

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args.host, args.port, api_key=args.api_key, delay=args.delay))
        return 0
    if args.command in ("credits", "ledger"):
        return run_operator_command(args)
    try:
        settings = load_settings(args.config)
        settings.require_secrets()
    except ConfigError as exc:
        print(f"imagine-bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return asyncio.run(run_bot(settings))
    except KeyboardInterrupt:
        return 0


async def run_bot(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM, then shut down gracefully so unfinished jobs resume next start."""
    from bot.surface.app import ImagineBot

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bot = ImagineBot(settings)
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
    error = task.exception()
    if error is None:
        return 0
    if isinstance(error, discord.LoginFailure):
        print(
            "imagine-bot: Discord refused the token (discord.token); check it in the developer portal", file=sys.stderr
        )
        return EXIT_CONFIG
    if isinstance(error, discord.PrivilegedIntentsRequired):
        print(
            "imagine-bot: discord.message_content_intent is on but the Message Content intent is not enabled "
            "for this application in the developer portal",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if isinstance(error, aiohttp.ClientConnectionError | OSError):
        # Unreachable Discord (network, DNS, proxy): a clear line, not a traceback.
        print(
            f"imagine-bot: cannot reach Discord ({error}); check the network or discord.api_base_url", file=sys.stderr
        )
        return 1
    log.error("the bot stopped with an error", exc_info=error)
    return 1
