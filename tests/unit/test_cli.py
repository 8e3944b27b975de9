"""The command line's failure modes: one clear line and the right exit code, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


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
