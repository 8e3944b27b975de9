"""Settings: one pydantic-settings model read from a TOML file plus environment overrides.

The sections it gathers live in ``bot.config_sections``; they are re-exported here, the one place to import from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.config_sections import (
    CreditOverride,
    CreditsSettings,
    DatabaseSettings,
    DiscordSettings,
    ImagesSettings,
    JobsSettings,
    LogSettings,
    MetricsSettings,
    ModerationSettings,
    ReapiSettings,
    ServersSettings,
    parse_duration,
    parse_shard_ids,
)

__all__ = [
    "ConfigError",
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
    "Settings",
    "load_settings",
    "parse_duration",
    "parse_shard_ids",
]

DEFAULT_CONFIG_PATH = Path("config.toml")


class ConfigError(Exception):
    """A configuration problem an operator can fix; its message is one readable line."""


class _AliasEnvSource(PydanticBaseSettingsSource):
    """Accepts the conventional DISCORD_TOKEN and REAPI_API_KEY as well as the prefixed names."""

    ALIASES: ClassVar[dict[str, tuple[str, str]]] = {
        "DISCORD_TOKEN": ("discord", "token"),
        "REAPI_API_KEY": ("reapi", "api_key"),
    }

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for env_name, (section, key) in self.ALIASES.items():
            value = os.environ.get(env_name)
            if value:
                found.setdefault(section, {})[key] = value
        return found


class Settings(BaseSettings):
    """Every setting of the bot; see config.example.toml for what each key means."""

    model_config = SettingsConfigDict(
        env_prefix="IMAGINEBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    reapi: ReapiSettings = Field(default_factory=ReapiSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    images: ImagesSettings = Field(default_factory=ImagesSettings)
    credits: CreditsSettings = Field(default_factory=CreditsSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    servers: ServersSettings = Field(default_factory=ServersSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    # Set per call by load_settings(); a ClassVar because pydantic-settings builds sources on the class.
    _toml_path: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, _AliasEnvSource(settings_cls)]
        if cls._toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path))
        return tuple(sources)

    def require_secrets(self) -> None:
        """Raise ConfigError naming the missing secret and how to set it."""
        if not self.discord.token.get_secret_value():
            raise ConfigError(
                "discord.token is not set: set IMAGINEBOT_DISCORD__TOKEN (or DISCORD_TOKEN) "
                'or put token = "..." under [discord] in the config file'
            )
        if not self.reapi.use_simulator and not self.reapi.api_key.get_secret_value():
            raise ConfigError(
                "reapi.api_key is not set: set IMAGINEBOT_REAPI__API_KEY (or REAPI_API_KEY), "
                'put api_key = "rk_live_..." under [reapi], or set reapi.simulate = true'
            )


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``path`` (or ./config.toml when present) plus the environment.

    Raises
    ------
    ConfigError
        The file is missing or unreadable, or a value is invalid; the message names the key.
    """
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist (copy config.example.toml to start one)")
    if path is None and DEFAULT_CONFIG_PATH.is_file():
        path = DEFAULT_CONFIG_PATH
    Settings._toml_path = path
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"cannot read {path}: {exc}") from None
    finally:
        Settings._toml_path = None


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = f" in {path}" if path else ""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        key = ".".join(str(p) for p in error["loc"])
        parts.append(f"{key}: {error['msg']}")
    return f"invalid configuration{where}: " + "; ".join(parts)
