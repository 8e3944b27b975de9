"""``imagine-bot check``, ``sync`` and ``invite`` as real processes against the fake Discord and the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from bot.store.migrations import migrations_for
from tests.e2e.conftest import DISCORD_TOKEN, REAPI_KEY, write_config
from tests.fakes.discord_payloads import ATTACH_FILES, VIEW_CHANNEL

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from bot.config import Settings
    from tests.e2e.conftest import BotProcess
    from tests.fakes.fake_discord import FakeDiscord

# View Channel, Send Messages, Send Messages in Threads, Embed Links, Attach Files, Read Message History.
INVITE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 38) | (1 << 14) | (1 << 15) | (1 << 16)
DB_PASSWORD = "pg-secret-password"


@dataclass
class Result:
    """What a finished CLI process printed and returned."""

    code: int
    out: str
    err: str

    def line(self, item: str) -> str:
        """The report line of ``item`` (the status column comes first)."""
        found = [line for line in self.out.splitlines() if line[6:].startswith(item)]
        assert len(found) == 1, f"no single line for {item!r} in:\n{self.out}"
        return found[0]

    def assert_no_secret(self) -> None:
        """Neither the Discord token, the reAPI key nor a database password was printed."""
        for secret in (DISCORD_TOKEN, REAPI_KEY, DB_PASSWORD):
            assert secret not in self.out + self.err


async def cli(
    tmp_path: Path, settings: Settings, *args: str, token: str | None = None, key: str | None = None
) -> Result:
    """``python -m bot ARGS --config FILE`` with ``settings`` (secrets by environment), run without blocking the loop.

    The fakes live on this test's event loop, so the process must be awaited, never waited for synchronously.
    """
    config = tmp_path / "check.toml"
    write_config(config, settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_") and k != "DISCORD_TOKEN"}
    env["IMAGINEBOT_DISCORD__TOKEN"] = token or settings.discord.token.get_secret_value()
    env["IMAGINEBOT_REAPI__API_KEY"] = key or settings.reapi.api_key.get_secret_value()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        "--config",
        str(config),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_everything_ok_exits_0_with_one_ok_line_per_item(
    tmp_path: Path, fake: FakeDiscord, make_settings: Callable[..., Settings]
) -> None:
    result = await cli(tmp_path, make_settings(), "check")
    assert result.code == 0, result.out + result.err
    for item in ("config", "database", "Discord token", "application", "intents", "server", "reAPI"):
        assert result.line(item).startswith("OK "), result.out
    assert fake.application_id in result.line("application")
    assert f"schema version {migrations_for('sqlite')[-1][0]} (current)" in result.line("database")
    assert "key accepted" in result.line("reAPI")
    assert "FAIL" not in result.out
    assert "fix:" not in result.out
    assert "Traceback" not in result.err
    result.assert_no_secret()
    assert not fake.requests_matching("PUT", r".*/commands"), "check must not sync commands"
    assert fake.connection_count == 0, "check must not open the gateway"


async def test_refused_discord_token_fails_with_how_to_fix(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    result = await cli(tmp_path, make_settings(), "check", token="not-the-token.e2e")
    assert result.code == 1
    line = result.line("Discord token")
    assert line.startswith("FAIL")
    assert "refused" in line
    assert "Reset Token" in result.out
    assert result.line("reAPI").startswith("OK")  # the other parts are still checked
    assert "not-the-token.e2e" not in result.out + result.err
    result.assert_no_secret()


async def test_refused_reapi_key_fails(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    wrong = "rk_live_wrong_key_for_check"
    result = await cli(tmp_path, make_settings(), "check", key=wrong)
    assert result.code == 1
    line = result.line("reAPI")
    assert line.startswith("FAIL")
    assert "refused reapi.api_key (401)" in line
    assert "IMAGINEBOT_REAPI__API_KEY" in result.out
    assert wrong not in result.out + result.err
    result.assert_no_secret()


async def test_simulator_mode_is_a_warning_not_a_failure(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    result = await cli(tmp_path, make_settings(reapi={"simulate": True}), "check")
    assert result.code == 0, result.out
    assert result.line("reAPI").startswith("WARN")
    assert "simulator mode" in result.line("reAPI")


async def test_message_content_intent_asked_for_but_not_enabled_fails(
    tmp_path: Path, fake: FakeDiscord, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(discord={"message_content_intent": True})
    fake.application["flags"] = 0
    refused = await cli(tmp_path, settings, "check")
    assert refused.code == 1
    assert refused.line("intents").startswith("FAIL")
    assert "Privileged Gateway Intents" in refused.out

    fake.application["flags"] = 1 << 19  # GATEWAY_MESSAGE_CONTENT_LIMITED: an unverified app's toggle
    enabled = await cli(tmp_path, settings, "check")
    assert enabled.code == 0, enabled.out
    assert enabled.line("intents").startswith("OK")


async def test_a_channel_where_the_bot_lacks_a_permission_fails_naming_it(
    tmp_path: Path, fake: FakeDiscord, make_settings: Callable[..., Settings]
) -> None:
    hidden = fake.add_text_channel("mods")
    await fake.set_bot_channel_permissions(hidden["id"], deny=VIEW_CHANNEL)
    fine = await cli(tmp_path, make_settings(), "check")
    assert fine.code == 0, fine.out
    assert "1 hidden from the bot" in fine.line("server")  # a channel kept from the bot on purpose is fine

    await fake.set_bot_channel_permissions(fake.channel_id, deny=ATTACH_FILES)
    result = await cli(tmp_path, make_settings(), "check")
    assert result.code == 1
    line = result.line("server")
    assert line.startswith("FAIL")
    assert "#general: Attach Files" in line
    assert "#mods" not in line
    assert "fix:" in result.out


async def test_unreachable_database_fails_without_printing_its_password(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    url = f"postgresql://imaginebot:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/imaginebot"
    result = await cli(tmp_path, make_settings(database={"url": url}), "check")
    assert result.code == 1
    line = result.line("database")
    assert line.startswith("FAIL")
    assert "cannot open database.url" in line
    assert result.line("Discord token").startswith("OK")
    result.assert_no_secret()


async def test_database_of_a_newer_bot_fails(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    first = await cli(tmp_path, settings, "check")  # creates and migrates the database
    assert first.code == 0, first.out
    with sqlite3.connect(settings.database.url.removeprefix("sqlite:///")) as db:
        db.execute("INSERT INTO schema_version (version) VALUES (999)")
    result = await cli(tmp_path, settings, "check")
    assert result.code == 1
    assert result.line("database").startswith("FAIL")
    assert "999" in result.line("database")


async def test_invite_prints_only_the_url_with_the_app_id_scopes_and_permissions(
    tmp_path: Path, fake: FakeDiscord, make_settings: Callable[..., Settings]
) -> None:
    result = await cli(tmp_path, make_settings(), "invite")
    assert result.code == 0, result.err
    assert result.out.strip() == (
        f"https://discord.com/oauth2/authorize?client_id={fake.application_id}"
        f"&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}"
    )
    result.assert_no_secret()
    refused = await cli(tmp_path, make_settings(), "invite", token="not-the-token.e2e")
    assert refused.code == 2
    assert not refused.out
    assert "refused the token" in refused.err


async def test_sync_pushes_the_bots_commands_over_http_only(
    tmp_path: Path, fake: FakeDiscord, make_settings: Callable[..., Settings]
) -> None:
    result = await cli(tmp_path, make_settings(), "sync")
    assert result.code == 0, result.out + result.err
    pushed = fake.requests_matching("PUT", rf"/applications/{fake.application_id}/commands")
    assert len(pushed) == 1
    names = {command["name"] for command in pushed[0].json}
    assert {"imagine", "edit", "credits", "admin"} <= names
    assert f"synced {len(pushed[0].json)} application command(s)" in result.out
    assert fake.connection_count == 0, "sync must not open the gateway"

    guild = await cli(tmp_path, make_settings(), "sync", "--guild", fake.guild_id)
    assert guild.code == 0, guild.err
    in_guild = fake.requests_matching("PUT", rf"/applications/{fake.application_id}/guilds/{fake.guild_id}/commands")
    assert len(in_guild) == 1
    assert {c["name"] for c in in_guild[0].json} == names
    assert len(fake.requests_matching("PUT", rf"/applications/{fake.application_id}/commands")) == 1
    result.assert_no_secret()


async def test_a_bot_with_json_logs_prints_only_json_lines_without_secrets_or_voice_warnings(
    fake: FakeDiscord,
    make_settings: Callable[..., Settings],
    spawn_bot: Callable[[Settings], Awaitable[BotProcess]],
) -> None:
    bot = await spawn_bot(make_settings(log={"format": "json"}))
    assert await bot.terminate() == 0
    lines = [line for line in bot.output.splitlines() if line.strip()]
    assert lines
    entries: list[dict[str, Any]] = [json.loads(line) for line in lines]
    for entry in entries:
        assert {"timestamp", "level", "logger", "message"} <= entry.keys()
    assert any(e["logger"].startswith("discord") for e in entries)
    assert not any("voice will NOT be supported" in e["message"] for e in entries)
    assert DISCORD_TOKEN not in bot.output
    assert REAPI_KEY not in bot.output


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_voice_warnings_are_silenced_in_either_format(
    fmt: str, make_settings: Callable[..., Settings], spawn_bot: Callable[[Settings], Awaitable[BotProcess]]
) -> None:
    bot = await spawn_bot(make_settings(log={"format": fmt}))
    assert await bot.terminate() == 0
    assert "voice will NOT be supported" not in bot.output
    assert "logging in using static token" in bot.output  # discord.py's own lines still come through


async def test_an_interactions_endpoint_url_fails_because_the_bot_would_get_no_commands(
    tmp_path: Path, fake: FakeDiscord, make_settings: Callable[..., Settings]
) -> None:
    fake.application["interactions_endpoint_url"] = "https://example.invalid/interactions"
    result = await cli(tmp_path, make_settings(), "check")
    assert result.code == 1
    assert result.line("application").startswith("FAIL")
    assert "Interactions Endpoint URL" in result.out


async def test_run_with_an_unreachable_database_says_so_not_that_discord_is_unreachable(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    url = f"postgresql://imaginebot:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/imaginebot"
    result = await cli(tmp_path, make_settings(database={"url": url}), "run")
    assert result.code == 1
    assert "cannot open the database" in result.err
    assert "database.url" in result.err
    assert "cannot reach Discord" not in result.err
    result.assert_no_secret()
