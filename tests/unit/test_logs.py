"""Log lines: JSON objects with the job fields as structure, secrets redacted in either format, voice noise dropped."""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING

import discord
import pytest

from bot import logs
from bot.config import ConfigError, load_settings
from bot.store import Job, JobKind, JobState

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TOKEN = "MTIz.discord-token-secret"
KEY = "rk_live_unit_secret_key"


def make_job(*, guild_id: int | None = 42, task_id: str | None = "task_abc") -> Job:
    return Job(
        id="job_1",
        kind=JobKind.IMAGINE,
        user_id=7,
        guild_id=guild_id,
        channel_id=9,
        prompt="a cat",
        aspect_ratio="1:1",
        state=JobState.RUNNING,
        task_id=task_id,
        created_at=0.0,
    )


def record(message: str, *args: object, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    """A record as ``logging.getLogger("bot.engine.runner").info(message, *args, extra=extra)`` would make it."""
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.getLogger("bot.engine.runner").makeRecord(
        "bot.engine.runner", logging.INFO, __file__, 1, message, args, exc_info, extra=extra
    )


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_job_fields_carry_job_user_guild_and_task() -> None:
    assert logs.job_fields(make_job()) == {"job_id": "job_1", "user_id": 7, "guild_id": 42, "task_id": "task_abc"}
    # A DM job has no guild and a queued job no task yet: left out, not logged as null.
    assert logs.job_fields(make_job(guild_id=None, task_id=None)) == {"job_id": "job_1", "user_id": 7}
    assert logs.job_fields(make_job(task_id=None), task_id="task_new")["task_id"] == "task_new"


def test_json_line_has_the_standard_keys_and_the_job_fields() -> None:
    line = logs.JsonFormatter().format(record("job %s delivered", "job_1", **logs.job_fields(make_job())))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "bot.engine.runner"
    assert entry["message"] == "job job_1 delivered"
    assert entry["timestamp"].endswith("+00:00")
    assert (entry["job_id"], entry["user_id"], entry["guild_id"], entry["task_id"]) == ("job_1", 7, 42, "task_abc")


def test_json_line_without_job_fields_has_none_of_them() -> None:
    entry = json.loads(logs.JsonFormatter().format(record("logged in")))
    assert not set(logs.JOB_FIELDS) & entry.keys()


def test_text_line_appends_the_job_fields() -> None:
    line = logs.TextFormatter().format(record("job %s queued", "job_1", **logs.job_fields(make_job())))
    assert line.endswith("bot.engine.runner: job job_1 queued  job_id=job_1 user_id=7 guild_id=42 task_id=task_abc")


@pytest.mark.parametrize("formatter", [logs.JsonFormatter, logs.TextFormatter])
def test_secrets_are_redacted_from_messages_and_tracebacks(formatter: type[logs.JsonFormatter]) -> None:
    try:
        raise RuntimeError(f"upstream echoed Bearer {KEY}")
    except RuntimeError as exc:
        error = exc
    line = formatter(secrets=[TOKEN, KEY]).format(record("login with %s failed", TOKEN, exc=error))
    assert TOKEN not in line
    assert KEY not in line
    assert "***" in line
    assert "RuntimeError" in line  # the traceback itself is kept


@pytest.mark.usefixtures("restore_root")
def test_voice_warnings_are_filtered_and_other_discord_warnings_kept(caplog: pytest.LogCaptureFixture) -> None:
    logs.setup()
    caplog.set_level(logging.WARNING)
    voice = discord.VoiceClient
    old = voice.warn_nacl, voice.warn_dave
    voice.warn_nacl = voice.warn_dave = True  # discord.py warns once per process; make it warn again
    try:
        discord.Client(intents=discord.Intents.none())
    finally:
        voice.warn_nacl, voice.warn_dave = old
    logging.getLogger("discord.client").warning("a real problem")
    messages = [r.getMessage() for r in caplog.records]
    assert not any("voice" in m for m in messages), messages
    assert "a real problem" in messages


@pytest.mark.usefixtures("restore_root")
def test_setup_again_replaces_its_handler(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup()
    handler = logs.setup(format="json", level="WARNING", secrets=[KEY])
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, logs.TextFormatter | logs.JsonFormatter)]
    assert ours == [handler]
    assert logging.getLogger().level == logging.WARNING
    handler.setStream(sys.stdout)
    logging.getLogger("bot").warning("key %s in use", KEY)
    logging.getLogger("bot").info("not shown")
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["key *** in use"]


def test_log_section_validates_format_and_level(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config.toml
    monkeypatch.setenv("IMAGINEBOT_LOG__LEVEL", "debug")
    monkeypatch.setenv("IMAGINEBOT_LOG__FORMAT", "json")
    settings = load_settings(None)
    assert (settings.log.format, settings.log.level) == ("json", "DEBUG")
    monkeypatch.setenv("IMAGINEBOT_LOG__LEVEL", "loud")
    with pytest.raises(ConfigError, match=r"log\.level"):
        load_settings(None)
    monkeypatch.setenv("IMAGINEBOT_LOG__LEVEL", "INFO")
    monkeypatch.setenv("IMAGINEBOT_LOG__FORMAT", "yaml")
    with pytest.raises(ConfigError, match=r"log\.format"):
        load_settings(None)
