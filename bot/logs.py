"""Log set-up: text or JSON lines, job fields carried as structure, secrets redacted, voice warnings silenced.

Nothing here imports ``discord``, so the engine may use :func:`job_fields` on its own log calls::

    log.info("job %s delivered as message %s", job.id, message_id, extra=job_fields(job))
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["JOB_FIELDS", "JobLike", "JsonFormatter", "TextFormatter", "VoiceWarningFilter", "job_fields", "setup"]

# The structural fields of a log line about a job, in the order they are shown.
JOB_FIELDS = ("job_id", "user_id", "guild_id", "task_id")
_REDACTED = "***"
# discord.py warns at every start that voice is unsupported; a text-only bot never needs voice.
_VOICE_WARNING = "voice will NOT be supported"
# Handlers this module installed on the root logger, so a second setup() replaces them instead of doubling lines.
_OURS = "_imagine_bot_handler"


class JobLike(Protocol):
    """What :func:`job_fields` reads from a job (bot.store.Job has all four)."""

    @property
    def id(self) -> str: ...
    @property
    def user_id(self) -> int: ...
    @property
    def guild_id(self) -> int | None: ...
    @property
    def task_id(self) -> str | None: ...


def job_fields(job: JobLike, **more: object) -> dict[str, object]:
    """The ``extra=`` mapping for a log line about ``job``: job id, member, guild and reAPI task id.

    ``more`` overrides or adds fields, e.g. ``task_id=`` right after a submit, before the job is reloaded.
    A guild of ``None`` (a DM) and a task id not known yet are left out rather than logged as null.
    """
    fields: dict[str, object] = {"job_id": job.id, "user_id": job.user_id}
    if job.guild_id is not None:
        fields["guild_id"] = job.guild_id
    if job.task_id is not None:
        fields["task_id"] = job.task_id
    fields.update(more)
    return fields


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in JOB_FIELDS if getattr(record, name, None) is not None}


class _Redacting(logging.Formatter):
    """A formatter that replaces every configured secret in its output with ``***``."""

    def __init__(self, secrets: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text


class TextFormatter(_Redacting):
    """``[time] [LEVEL   ] logger: message  job_id=… user_id=…`` — discord.py's layout plus the job fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(
            secrets, fmt="[{asctime}] [{levelname:<8}] {name}: {message}", datefmt="%Y-%m-%d %H:%M:%S", style="{"
        )

    def format(self, record: logging.LogRecord) -> str:
        """The line discord.py would print, the job fields appended as ``key=value``."""
        text = super().format(record)
        fields = _fields(record)
        if fields:
            first, newline, rest = text.partition("\n")
            text = first + "  " + " ".join(f"{k}={v}" for k, v in fields.items()) + newline + rest
        return self.redact(text)


class JsonFormatter(_Redacting):
    """One JSON object per line: timestamp, level, logger, message, the job fields, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single-line JSON object (secrets redacted inside each value)."""
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc_info"] = self.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc_info"] = self.redact(record.exc_text)
        if record.stack_info:
            entry["stack_info"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class VoiceWarningFilter(logging.Filter):
    """Drops discord.py's "PyNaCl/davey is not installed, voice will NOT be supported" warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the voice warnings, True for everything else."""
        return _VOICE_WARNING not in str(record.msg)


def setup(
    *, format: Literal["text", "json"] = "text", level: str | int = "INFO", secrets: Iterable[str] = ()
) -> logging.Handler:
    """Send every log record (discord.py's included) to stderr as text or JSON lines; returns the handler.

    Calling it again replaces the handler installed earlier (the CLI logs as text until the config is read).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if format == "json" else TextFormatter(secrets))
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level)
    voice = logging.getLogger("discord.client")
    if not any(isinstance(f, VoiceWarningFilter) for f in voice.filters):
        voice.addFilter(VoiceWarningFilter())
    return handler
