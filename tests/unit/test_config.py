"""Settings: TOML + environment, the documented key names, clear errors."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings, parse_duration, parse_shard_ids

ROOT = Path(__file__).resolve().parents[2]
ENV_NAMES = ("DISCORD_TOKEN", "REAPI_API_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IMAGINEBOT_* or alias variables leak in from the machine; no ./config.toml is picked up."""
    import os

    for name in list(os.environ):
        if name.startswith("IMAGINEBOT_") or name in ENV_NAMES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_and_documents_every_key() -> None:
    example = ROOT / "config.example.toml"
    settings = load_settings(example)
    assert settings.database.url == "sqlite:///data/imagine-bot.sqlite3"
    raw = tomllib.loads(example.read_text(encoding="utf-8"))
    # The simulate key is documented commented out (its default is "decide from the key").
    raw["reapi"]["simulate"] = None
    raw["credits"]["refill_at_utc_hour"] = None  # likewise (its default is "rolling")
    raw["discord"]["shard_count"] = None  # likewise (its default is "Discord decides, one process")
    raw["discord"]["shard_ids"] = None  # likewise (its default is "every shard of shard_count")
    raw["servers"]["min_cost_per_image"] = None  # likewise (its default is [credits] cost_per_image)
    raw["servers"]["max_allowance"] = None  # likewise (its default is [credits] allowance)
    for section, model in Settings.model_fields.items():
        assert model.annotation is not None
        fields = model.annotation.model_fields  # type: ignore[union-attr]
        assert set(raw[section]) == set(fields), f"[{section}] in config.example.toml differs from the code"


def test_design_contract_names_and_defaults() -> None:
    s = load_settings(None)
    assert s.discord.api_base_url == "https://discord.com/api/v10"
    assert s.discord.gateway_url == "wss://gateway.discord.gg/"
    assert s.reapi.base_url == "https://reapi.ai/api/v1"
    assert s.reapi.model == "nano-banana-2-lite"
    assert s.credits.scope == "global"
    assert (s.credits.cost_per_image, s.credits.allowance, s.credits.max_balance) == (1, 50, 50)
    assert s.credits.refill_every == timedelta(days=1)
    assert s.reapi.credits_per_image == 20
    assert s.images.allow_private_urls is False


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[discord]\ntoken = "from-file"\nowner_ids = [1]\n[jobs]\nmax_concurrent = 4\n')
    monkeypatch.setenv("IMAGINEBOT_DISCORD__TOKEN", "from-env")
    monkeypatch.setenv("IMAGINEBOT_JOBS__MAX_CONCURRENT", "7")
    s = load_settings(path)
    assert s.discord.token.get_secret_value() == "from-env"
    assert s.discord.owner_ids == [1]
    assert s.jobs.max_concurrent == 7


def test_conventional_env_names_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "tok")
    monkeypatch.setenv("REAPI_API_KEY", "rk_live_abc")
    s = load_settings(None)
    assert s.discord.token.get_secret_value() == "tok"
    assert s.reapi.api_key.get_secret_value() == "rk_live_abc"
    assert s.reapi.use_simulator is False


def test_prefixed_env_wins_over_conventional_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "plain")
    monkeypatch.setenv("IMAGINEBOT_DISCORD__TOKEN", "prefixed")
    assert load_settings(None).discord.token.get_secret_value() == "prefixed"


def test_simulator_is_used_exactly_when_no_key_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(None).reapi.use_simulator is True
    monkeypatch.setenv("IMAGINEBOT_REAPI__API_KEY", "rk_live_x")
    assert load_settings(None).reapi.use_simulator is False
    monkeypatch.setenv("IMAGINEBOT_REAPI__SIMULATE", "true")
    assert load_settings(None).reapi.use_simulator is True


def test_missing_token_names_the_key_and_how_to_set_it() -> None:
    with pytest.raises(ConfigError, match=r"discord\.token.*IMAGINEBOT_DISCORD__TOKEN"):
        load_settings(None).require_secrets()


def test_missing_key_with_simulation_off_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "tok")
    monkeypatch.setenv("IMAGINEBOT_REAPI__SIMULATE", "false")
    with pytest.raises(ConfigError, match=r"reapi\.api_key.*IMAGINEBOT_REAPI__API_KEY"):
        load_settings(None).require_secrets()


def test_typo_in_file_is_reported_with_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[credits]\nallowence = 5\n")
    with pytest.raises(ConfigError, match=r"credits\.allowence"):
        load_settings(path)


def test_bad_value_is_reported_with_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[credits]\nrefill_every = "soon"\n')
    with pytest.raises(ConfigError, match=r"credits\.refill_every"):
        load_settings(path)


def test_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "super-secret-token")
    monkeypatch.setenv("REAPI_API_KEY", "rk_live_supersecret")
    s = load_settings(None)
    assert "super-secret-token" not in repr(s)
    assert "rk_live_supersecret" not in repr(s)
    assert "super-secret-token" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("12h", 43200), ("1d", 86400), ("7d", 604800), ("1.5h", 5400), (30, 30)]
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


# -- sharding ------------------------------------------------------------------------------------------------


def test_shards_default_to_one_process_that_lets_discord_decide() -> None:
    s = load_settings(None)
    assert (s.discord.shard_count, s.discord.shard_ids) == (None, None)


def test_shard_range_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[discord]\nshard_count = 8\nshard_ids = [0, 1, 2, 3]\n")
    assert load_settings(path).discord.shard_ids == [0, 1, 2, 3]
    # The environment takes the same spelling as --shards, or a JSON list.
    monkeypatch.setenv("IMAGINEBOT_DISCORD__SHARD_IDS", "4-6,7")
    assert load_settings(path).discord.shard_ids == [4, 5, 6, 7]
    monkeypatch.setenv("IMAGINEBOT_DISCORD__SHARD_IDS", "[2, 3]")
    assert load_settings(path).discord.shard_ids == [2, 3]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("shard_ids = [0, 1]", r"discord\.shard_ids: needs discord\.shard_count"),
        ("shard_count = 2\nshard_ids = [0, 2]", r"discord\.shard_ids: 2 is not a shard of 0\.\.1"),
        ("shard_count = 4\nshard_ids = [1, 1]", r"discord\.shard_ids: shard 1 is listed twice"),
        ("shard_count = 4\nshard_ids = []", r"discord\.shard_ids: .*empty"),
        ("shard_count = 0", r"discord\.shard_count"),
        ("shard_count = 4\nshard_ids = [-1]", r"discord\.shard_ids: -1 is not a shard of 0\.\.3"),
    ],
)
def test_bad_shards_are_one_line_naming_the_key(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint) as caught:
        load_settings(write(tmp_path, f"[discord]\n{text}\n"))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "ids"),
    [("0", [0]), ("0-3", [0, 1, 2, 3]), ("0-3,6", [0, 1, 2, 3, 6]), (" 6, 2-3 ", [2, 3, 6]), ("[1, 0]", [0, 1])],
)
def test_parse_shard_ids(text: str, ids: list[int]) -> None:
    assert parse_shard_ids(text) == ids


@pytest.mark.parametrize("text", ["", "a", "3-1", "1-", "-1", "0,,1", "1.5", '[0, "x"]'])
def test_parse_shard_ids_refuses_what_is_not_a_list_of_shards(text: str) -> None:
    with pytest.raises(ValueError, match="shard"):
        parse_shard_ids(text)
