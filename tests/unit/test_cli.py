"""The command line: failure modes (one clear line, the right exit code, never a traceback), --version, healthcheck."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from bot.cli import main, probe_health, shard_overrides
from bot.config import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from aiohttp.test_utils import TestServer


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m bot ARGS`` in ``cwd`` with only the given environment (none of IMAGINEBOT_* by default)."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_") and k != "DISCORD_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_without_token_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    result = run_cli("run", cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "discord.token" in lines[0]


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("run", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_discord_is_one_line_and_exit_1(tmp_path: Path) -> None:
    port = _closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_")}
    env.update(
        IMAGINEBOT_DISCORD__TOKEN="secret.token.value",
        IMAGINEBOT_DISCORD__API_BASE_URL=f"http://127.0.0.1:{port}/api/v10",
    )
    result = run_cli("run", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot reach Discord" in result.stderr
    assert "secret.token.value" not in result.stderr + result.stdout


def test_version_comes_from_the_installed_package(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"imagine-bot {importlib.metadata.version('imagine-bot')}"


def test_invalid_log_format_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[log]\nformat = "yaml"\n', encoding="utf-8")
    result = run_cli("check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "log.format" in result.stderr
    assert "Traceback" not in result.stderr


def test_healthcheck_with_metrics_disabled_says_so_and_exits_1(tmp_path: Path) -> None:
    result = run_cli("healthcheck", cwd=tmp_path)
    assert result.returncode == 1
    assert "metrics are disabled" in result.stdout


@pytest.mark.parametrize(("status", "expected"), [(200, 0), (503, 1)])
async def test_healthcheck_exits_0_only_on_200(
    tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]], status: int, expected: int
) -> None:
    if "metrics" not in Settings.model_fields:
        pytest.skip("the [metrics] section comes with the metrics server (another branch of issue 11)")
    seen: list[str] = []

    async def healthz(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"ok": status == 200}, status=status)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    server = await aiohttp_server(app, host="127.0.0.1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_")}
    # 0.0.0.0 is where the container's bot listens; the probe must ask loopback instead.
    env.update(IMAGINEBOT_METRICS__ENABLED="true", IMAGINEBOT_METRICS__HOST="0.0.0.0")
    env["IMAGINEBOT_METRICS__PORT"] = str(server.port)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "healthcheck", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == expected
    assert seen == ["/healthz"]
    assert str(status) in out.decode()


async def test_health_probe_reports_status_and_unreachable(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "reason": "gateway down"}, status=503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    server = await aiohttp_server(app, host="127.0.0.1")
    status, body = await probe_health(f"http://127.0.0.1:{server.port}/healthz")
    assert status == 503
    assert "gateway down" in body
    status, _ = await probe_health(f"http://127.0.0.1:{_closed_port()}/healthz")
    assert status == "unreachable"


# -- run --shards / --shard-count ------------------------------------------------------------------------------


def test_shard_flags_override_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[discord]\nshard_count = 4\nshard_ids = [0, 1]\n", encoding="utf-8")
    flags = shard_overrides(shards="0-3,6", shard_count="8")
    settings = load_settings(config, **flags)
    assert (settings.discord.shard_count, settings.discord.shard_ids) == (8, [0, 1, 2, 3, 6])
    # One flag alone replaces only its key; the other still comes from the file.
    settings = load_settings(config, **shard_overrides(shards="2-3", shard_count=None))
    assert (settings.discord.shard_count, settings.discord.shard_ids) == (4, [2, 3])
    assert shard_overrides(shards=None, shard_count=None) == {}


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--shards", "0-1"], "discord.shard_ids: needs discord.shard_count"),
        (["--shards", "0-2", "--shard-count", "2"], "discord.shard_ids: 2 is not a shard of 0..1"),
        (["--shards", "0,0", "--shard-count", "2"], "discord.shard_ids: shard 0 is listed twice"),
        (["--shards", "zero", "--shard-count", "2"], "--shards: 'zero' is not a list of shard ids"),
        (["--shard-count", "many"], "--shard-count: 'many' is not a whole number"),
        (["--shard-count", "0"], "discord.shard_count"),
    ],
)
def test_bad_shard_flags_exit_2_with_one_line(
    argv: list[str], complaint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("IMAGINEBOT_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMAGINEBOT_DISCORD__TOKEN", "secret.token.value")
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert complaint in lines[0]
    assert lines[0].startswith("imagine-bot: ")


def test_shard_flags_belong_to_run_only(tmp_path: Path) -> None:
    result = run_cli("check", "--shards", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "unrecognized arguments: --shards" in result.stderr
