"""The sections of the settings (``[discord]``, ``[reapi]``, …) and the value parsers they share.

Each section is a pydantic model that refuses unknown keys; ``bot.config.Settings`` gathers them and reads the
file and the environment.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import NoDecode

__all__ = [
    "CreditOverride",
    "CreditsSettings",
    "DatabaseSettings",
    "DiscordSettings",
    "ImagesSettings",
    "JobsSettings",
    "LogSettings",
    "MetricsSettings",
    "ModerationSettings",
    "ReapiSettings",
    "ServersSettings",
    "parse_duration",
    "parse_shard_ids",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SHARD_PART = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_duration(value: str | float | int | timedelta) -> timedelta:
    """Parse ``"90s"``, ``"12h"``, ``"1d"``, ``"7d"`` (or plain seconds) into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a duration like '90s', '12h', '1d' or '7d'")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_shard_ids(text: str) -> list[int]:
    """Parse ``"0-3,6"`` (ranges and single ids, comma-separated) or a JSON list into sorted shard ids.

    The one spelling for ``run --shards`` and ``IMAGINEBOT_DISCORD__SHARD_IDS``; duplicates are kept so that
    the settings can name them.
    """
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            values = None
        if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError(f"{text!r} is not a list of shard ids like [0, 1, 2]")
        return sorted(values)
    ids: list[int] = []
    for part in text.split(","):
        match = _SHARD_PART.match(part.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a list of shard ids like '0-3' or '0-3,6'")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ValueError(f"{part.strip()!r} is not a range of shard ids (it runs backwards)")
        ids.extend(range(first, last + 1))
    return sorted(ids)


class _Section(BaseModel):
    # Unknown keys are almost always typos in config.toml: refuse them instead of ignoring them.
    model_config = ConfigDict(extra="forbid")


class DiscordSettings(_Section):
    """How the bot reaches Discord and who administers it."""

    token: SecretStr = SecretStr("")
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    owner_ids: list[int] = Field(default_factory=list)
    dev_guild_ids: list[int] = Field(default_factory=list)
    message_content_intent: bool = False
    sync_commands: bool = True
    # Where owner alerts (spend cap reached, reAPI out of credits) go; 0 = a DM to each owner.
    log_channel_id: int = Field(default=0, ge=0)
    # None = one process, as many shards as Discord recommends (GET /gateway/bot).
    shard_count: int | None = Field(default=None, ge=1)
    # None = every shard of shard_count in this process; else only these (run N processes, one range each).
    # NoDecode: the environment may spell it like --shards ("0-3,6"), not only as JSON.
    shard_ids: Annotated[list[int] | None, NoDecode] = None

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_ids(cls, value: Any) -> Any:
        return parse_shard_ids(value) if isinstance(value, str) else value

    @field_validator("shard_ids", mode="after")
    @classmethod
    def _shards(cls, ids: list[int] | None, info: ValidationInfo) -> list[int] | None:
        """Every listed shard exists, once: a gap or overlap between processes would lose or double events."""
        if ids is None:
            return ids
        if "shard_count" not in info.data:
            return ids  # shard_count itself is invalid, and is reported
        count = info.data["shard_count"]
        if count is None:
            raise _shard_error("needs discord.shard_count too (how many shards all processes share)")
        if not ids:
            raise _shard_error("the list is empty; leave it out to run every shard in this process")
        for shard in ids:
            if not 0 <= shard < count:
                raise _shard_error(f"{shard} is not a shard of 0..{count - 1} (shard_count {count})")
        repeated = sorted({s for s in ids if ids.count(s) > 1})
        if repeated:
            raise _shard_error(f"shard {repeated[0]} is listed twice")
        return ids


def _shard_error(message: str) -> PydanticCustomError:
    # A custom error keeps the message as written (a ValueError would get pydantic's "Value error, " prefix).
    return PydanticCustomError("shards", message)


class ReapiSettings(_Section):
    """How the bot reaches reAPI (or the built-in simulator)."""

    api_key: SecretStr = SecretStr("")
    base_url: str = "https://reapi.ai/api/v1"
    model: str = "nano-banana-2-lite"
    # None = decide from the key: simulate exactly when no api_key is set.
    simulate: bool | None = None
    simulate_delay: float = Field(default=6.0, ge=0)
    credits_per_image: int = Field(default=20, ge=0)
    # The models members and servers may choose (issue 13); ``model`` is the default and always enabled.
    models: list[str] = Field(default_factory=lambda: ["nano-banana-2-lite"])
    # Price overrides per model and resolution, in USD per image: {"gpt-image-2" = {"4k" = 0.09}}.
    prices: dict[str, dict[str, float]] = Field(default_factory=dict)
    # After a 402 (reAPI account out of credits) new images are refused for this long.
    pause_after_402: timedelta = timedelta(minutes=10)

    @field_validator("pause_after_402", mode="before")
    @classmethod
    def _pause(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @model_validator(mode="after")
    def _known_models(self) -> ReapiSettings:
        from bot.reapi.specs import MODELS

        for name in [self.model, *self.models, *self.prices]:
            if name not in MODELS:
                raise ValueError(f"reapi: unknown model {name!r}; known: {', '.join(MODELS)}")
        for name, prices in self.prices.items():
            MODELS[name].with_prices(prices)  # raises ValueError for a resolution the model lacks or a negative
        return self

    @property
    def enabled_models(self) -> tuple[str, ...]:
        """The enabled models, the default first."""
        return tuple(dict.fromkeys([self.model, *self.models]))

    @property
    def use_simulator(self) -> bool:
        """Whether jobs go to the in-process simulator instead of reAPI."""
        if self.simulate is None:
            return not self.api_key.get_secret_value()
        return self.simulate


class DatabaseSettings(_Section):
    """Where jobs, credits and history are stored."""

    url: str = "sqlite:///data/imagine-bot.sqlite3"


class ImagesSettings(_Section):
    """Rules for images the bot fetches or uploads."""

    allow_private_urls: bool = False
    max_download_bytes: int = Field(default=30 * 1024 * 1024, gt=0)


class CreditOverride(_Section):
    """Different terms in one guild, or for one role in it (among a member's roles the best one wins)."""

    guild_id: int
    role_id: int | None = None
    allowance: int | None = Field(default=None, ge=0)
    cost_per_image: int | None = Field(default=None, ge=0)
    max_balance: int | None = Field(default=None, ge=0)


class CreditsSettings(_Section):
    """The bot-credit economy members spend from."""

    scope: Literal["global", "guild"] = "global"
    cost_per_image: int = Field(default=1, ge=0)
    allowance: int = Field(default=50, ge=0)
    refill_every: timedelta = timedelta(days=1)
    # None: rolling refills; an hour: refills at that UTC hour (every refill_every from it).
    refill_at_utc_hour: int | None = Field(default=None, ge=0, le=23)
    max_balance: int = Field(default=50, ge=0)
    daily_spend_cap: int = Field(default=0, ge=0)
    daily_spend_cap_usd: float = Field(default=0.0, ge=0)
    overrides: list[CreditOverride] = Field(default_factory=list)

    @property
    def spend_cap_credits(self) -> int:
        """The daily reAPI spend cap in reAPI credits ($1 = 1,000); 0 = none. The lower of the two keys wins."""
        usd = max(1, round(self.daily_spend_cap_usd * 1000)) if self.daily_spend_cap_usd > 0 else 0
        caps = [c for c in (self.daily_spend_cap, usd) if c > 0]
        return min(caps, default=0)

    @field_validator("refill_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        duration = parse_duration(value)
        if duration.total_seconds() <= 0:
            raise ValueError("refill_every must be longer than zero")
        return duration


class JobsSettings(_Section):
    """How many jobs run at once and how they are watched."""

    max_concurrent: int = Field(default=16, ge=1)
    per_user_concurrent: int = Field(default=2, ge=1)
    max_queued: int = Field(default=500, ge=1)
    per_user_queued: int = Field(default=10, ge=1)
    poll_interval: float = Field(default=1.5, gt=0)
    max_poll_interval: float = Field(default=2.5, gt=0)
    # The adaptive poll schedule (bot.engine.polling): planned from recent task durations so that the delay from
    # a task's completion to its image on Discord stays under these (median, p95) with as few polls as it can.
    # Off, or with fewer than 10 recent durations, the fixed intervals above apply.
    adaptive_polling: bool = True
    poll_target_median: float = Field(default=0.4, gt=0)
    poll_target_p95: float = Field(default=1.0, gt=0)
    min_poll_interval: float = Field(default=0.25, gt=0)
    poll_history: int = Field(default=200, ge=10)
    # However many jobs run, this process sends at most this many polls a second (bot.engine.pacing): under
    # load every job's polls stretch alike instead of the request rate growing with the jobs in flight.
    max_polls_per_second: float = Field(default=100.0, gt=0)
    timeout: float = Field(default=600.0, gt=0)
    progress_interval: float = Field(default=3.0, ge=0)
    shutdown_grace: float = Field(default=10.0, ge=0)
    # A process holds a lease on each job it works on, renewed every third of this; a process that dies stops
    # renewing, and after this long another one (or the next start) resumes its jobs.
    lease_seconds: float = Field(default=30.0, ge=1)
    # Optional per-member limit: at most cooldown_jobs accepted jobs in any cooldown_seconds; 0 = off.
    cooldown_jobs: int = Field(default=0, ge=0)
    cooldown_seconds: float = Field(default=0.0, ge=0)


class ModerationSettings(_Section):
    """The operator's moderation rules, applied in every server on top of the server's own."""

    # Refused everywhere: whole words, case- and accent-insensitive; "*" stands for any letters ("slur*").
    blocked_terms: list[str] = Field(default_factory=list)
    # Prompts holding one of these count as NSFW for the NSFW rule (same matching as blocked_terms).
    nsfw_terms: list[str] = Field(default_factory=list)
    # The NSFW rule of servers that set none: "allow", "age_restricted_only" or "never".
    nsfw_rule: Literal["allow", "age_restricted_only", "never"] = "age_restricted_only"
    # The loosest NSFW rule a server may choose for itself: a stricter one applies in its place.
    loosest_nsfw_rule: Literal["allow", "age_restricted_only", "never"] = "allow"
    # After this many content-policy failures in a UTC day a member is paused in that server; 0 = off.
    content_policy_strikes_per_day: int = Field(default=3, ge=0)

    @field_validator("blocked_terms", "nsfw_terms", mode="after")
    @classmethod
    def _terms(cls, terms: list[str]) -> list[str]:
        for term in terms:
            if not term.strip().strip("*").strip():
                raise ValueError("a term must hold more than spaces and *")
        return terms


class ServersSettings(_Section):
    """What a server's admins may set with /settings (the operator's hard limits), and how fast changes spread."""

    # Cost per image a server may choose; None (left out) = no cheaper than [credits] cost_per_image.
    min_cost_per_image: int | None = Field(default=None, ge=0)
    max_cost_per_image: int = Field(default=100, ge=0)
    # Allowance per refill a server may choose; None (left out) = no more than [credits] allowance.
    max_allowance: int | None = Field(default=None, ge=0)
    max_blocked_terms: int = Field(default=200, ge=1, le=1000)
    max_channels: int = Field(default=100, ge=1, le=1000)
    # Every process looks this often for settings changed through another one (one tiny read).
    refresh_seconds: float = Field(default=5.0, gt=0)


class MetricsSettings(_Section):
    """The operator's endpoint: ``/healthz`` and Prometheus ``/metrics`` (off unless enabled)."""

    enabled: bool = False
    # Loopback unless configured: the metrics tell anyone who can reach them how busy the bot is.
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=1, le=65535)


class LogSettings(_Section):
    """How the bot logs: human-readable text or one JSON object per line, and from which level."""

    format: Literal["text", "json"] = "text"
    level: str = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> str:
        name = str(value).strip().upper()
        if name not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return name
