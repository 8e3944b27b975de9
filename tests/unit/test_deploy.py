"""The Docker image and compose.yaml agree with the package and its configuration (there is no Docker engine here).

The Dockerfile is read by a small parser below (instructions, continuations, JSON-array forms, flags), compose.yaml
by PyYAML. Each check ties a deployment detail to the code it depends on: the console script, the CLI's
subcommands, the database default and WORKDIR, the metrics port, the names of the settings' environment
variables, the files the image copies. One test really installs the image's file set in a fresh virtual
environment (a few seconds, no network).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.cli import _parser
from bot.config import DatabaseSettings, JobsSettings, Settings, _AliasEnvSource, load_settings

if TYPE_CHECKING:
    from collections.abc import Mapping

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "IMAGINEBOT_"
# After jobs.shutdown_grace the bot gives an unanswered submit up to 5 s more (README, "Guarantees").
SHUTDOWN_TAIL = 5.0


# -- a small Dockerfile parser -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its upper-cased keyword and its arguments with continuations joined."""

    keyword: str
    text: str
    line: int

    def flags(self) -> tuple[dict[str, str], str]:
        """The leading ``--name=value`` flags and the rest of the arguments."""
        found: dict[str, str] = {}
        rest = self.text
        while rest.startswith("--"):
            token, _, rest = rest.partition(" ")
            name, _, value = token[2:].partition("=")
            found[name] = value
            rest = rest.lstrip()
        return found, rest

    def exec_form(self) -> list[str] | None:
        """The JSON-array form of the arguments (after any flags), or None for the shell form."""
        return _json_array(self.flags()[1])


def _json_array(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None  # Docker, too, runs an invalid JSON array as a shell command
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile: comments dropped (inside continuations too), ``\\`` continuations joined."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1].strip())
            continue
        parts.append(line)
        keyword, _, rest = " ".join(p for p in parts if p).partition(" ")
        instructions.append(Instruction(keyword.upper(), rest.strip(), start))
        parts = []
    assert not parts, "the Dockerfile ends inside a continuation"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        assert result, "an instruction before the first FROM"
        result[-1].append(instruction)
    return result


def env_of(stage: list[Instruction]) -> dict[str, str]:
    """The variables a stage's ENV instructions set (``ENV K=V ...`` and the legacy ``ENV K V``)."""
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword != "ENV":
            continue
        tokens = shlex.split(instruction.text)
        if "=" not in tokens[0]:
            env[tokens[0]] = " ".join(tokens[1:])
            continue
        for token in tokens:
            name, _, value = token.partition("=")
            env[name] = value
    return env


def copies(stage: list[Instruction]) -> list[tuple[list[str], str]]:
    """``(sources, destination)`` of each COPY/ADD from the build context (not ``--from`` another stage)."""
    result = []
    for instruction in stage:
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        flags, rest = instruction.flags()
        if "from" in flags:
            continue
        paths = _json_array(rest) or shlex.split(rest)
        result.append((paths[:-1], paths[-1]))
    return result


def only(stage: list[Instruction], keyword: str) -> Instruction:
    """The last instruction with ``keyword`` (the one that counts), failing when there is none."""
    found = [i for i in stage if i.keyword == keyword]
    assert found, f"no {keyword} in the final stage"
    return found[-1]


def workdir(stage: list[Instruction], before: int | None = None) -> str:
    """The stage's WORKDIR at the end (or before the instruction at line ``before``)."""
    path = "/"
    for instruction in stage:
        if before is not None and instruction.line >= before:
            break
        if instruction.keyword == "WORKDIR":
            path = posixpath.join(path, instruction.text)
    return path


def test_parser_reads_continuations_comments_flags_and_both_forms() -> None:
    text = (
        "# syntax=docker/dockerfile:1\nFROM python:3.11-slim AS build\nENV A=1 \\\n    # a comment\n    B='two words'\n"
        'COPY --from=build /opt /opt\nhealthcheck --interval=5s CMD ["x", "y"]\nRUN echo [not json\nCMD ["run"]\n'
    )
    parsed = parse_dockerfile(text)
    assert [i.keyword for i in parsed] == ["FROM", "ENV", "COPY", "HEALTHCHECK", "RUN", "CMD"]
    assert env_of(parsed) == {"A": "1", "B": "two words"}
    assert parsed[2].flags() == ({"from": "build"}, "/opt /opt")
    assert copies(parsed) == []
    assert parsed[3].flags() == ({"interval": "5s"}, 'CMD ["x", "y"]')
    assert parsed[4].exec_form() is None
    assert parsed[5].exec_form() == ["run"]
    assert parsed[5].line == 9


# -- the files under test ------------------------------------------------------------------------------------

DOCKERFILE = parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))
STAGES = stages(DOCKERFILE)
FINAL = STAGES[-1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _volume() -> str:
    paths = only(FINAL, "VOLUME").exec_form()
    assert paths is not None
    assert len(paths) == 1
    return paths[0]


def _healthcheck() -> list[str]:
    _, rest = only(FINAL, "HEALTHCHECK").flags()
    keyword, _, command = rest.partition(" ")
    assert keyword.upper() == "CMD"
    argv = _json_array(command.strip())
    assert argv is not None, "HEALTHCHECK must use the exec form (the slim image's shell is no help)"
    return argv


def _exposed() -> set[int]:
    return {int(port.split("/")[0]) for i in FINAL if i.keyword == "EXPOSE" for port in i.text.split()}


# -- the image runs the package's own command ----------------------------------------------------------------


def test_entrypoint_is_the_packaged_console_script() -> None:
    assert only(FINAL, "ENTRYPOINT").exec_form() == ["imagine-bot"]
    target = PYPROJECT["project"]["scripts"]["imagine-bot"]
    module, _, function = target.partition(":")
    imported = __import__(module, fromlist=[function])
    assert callable(getattr(imported, function))


def test_cmd_and_healthcheck_run_cli_subcommands() -> None:
    assert only(FINAL, "CMD").exec_form() == ["run"]
    assert _healthcheck() == ["imagine-bot", "healthcheck"]
    # What the image runs parses as the CLI would parse it (ENTRYPOINT + CMD, the healthcheck's argv).
    _parser().parse_args(only(FINAL, "CMD").exec_form())
    _parser().parse_args(_healthcheck()[1:])


@pytest.mark.parametrize("command", ["run", "check", "healthcheck"])
def test_cli_knows_the_subcommands_the_image_relies_on(command: str) -> None:
    # run: CMD; healthcheck: HEALTHCHECK; check: `docker run IMAGE check` in the README.
    subparsers = [a for a in _parser()._actions if a.choices is not None and a.dest == "command"]
    assert subparsers, "bot.cli._parser() has no subcommands"
    assert command in (subparsers[0].choices or {}), f"`imagine-bot {command}` is not a subcommand"


def test_final_stage_is_non_root_and_owns_the_data_volume() -> None:
    user = only(FINAL, "USER").text
    assert user.split(":")[0] not in ("root", "0")
    assert workdir(FINAL) == "/app"
    volume = _volume()
    assert volume == "/app/data"
    chowns = [i.text for i in FINAL if i.keyword == "RUN" and f"chown {user} {volume}" in i.text]
    assert chowns, f"no RUN gives {volume} to {user}"
    assert only(FINAL, "VOLUME").line > min(i.line for i in FINAL if i.keyword == "RUN" and "chown" in i.text)


def test_default_database_lies_inside_the_volume() -> None:
    default = DatabaseSettings().url
    assert default.startswith("sqlite:///")
    path = default.removeprefix("sqlite:///")
    assert not path.startswith("/"), "a relative default resolves against WORKDIR"
    resolved = posixpath.normpath(posixpath.join(workdir(FINAL), path))
    assert resolved.startswith(_volume() + "/")
    assert not any(name.startswith(f"{PREFIX}DATABASE__") for name in env_of(FINAL))


def test_exposed_port_is_the_metrics_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    defaults = _settings_from({}, monkeypatch, tmp_path)
    assert _exposed() == {defaults.model_dump()["metrics"]["port"]}


def test_both_stages_share_the_base_image_and_it_satisfies_requires_python() -> None:
    # The runtime stage runs a venv built in the first: its interpreter path must exist there.
    bases = [stage[0].text.split()[0] for stage in STAGES]
    assert len(set(bases)) == 1, bases
    version = re.fullmatch(r"python:(\d+)\.(\d+)-slim", bases[0])
    assert version is not None, f"{bases[0]} is not a slim python image"
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert minimum is not None
    assert (int(version[1]), int(version[2])) >= (int(minimum[1]), int(minimum[2]))


def test_dependencies_are_installed_before_the_code_is_copied(tmp_path: Path) -> None:
    build = STAGES[0]
    installs = [i for i in build if i.keyword == "RUN" and "pip install" in i.text]
    code_copy = min(i.line for i in build if i.keyword == "COPY" and {"bot", "cogs"} & set(shlex.split(i.text)))
    deps = [i for i in installs if i.line < code_copy]
    assert deps, "no dependency layer before the code is copied"
    copied_before = [src for i in build if i.keyword == "COPY" and i.line < deps[0].line for src in i.text.split()[:-1]]
    assert copied_before == ["pyproject.toml"]
    assert all("--no-deps" in i.text for i in installs if i.line > code_copy)
    # The layer's requirements are exactly pyproject's dependencies: run the Dockerfile's own command.
    writer = next(i for i in build if i.keyword == "RUN" and "> requirements.txt" in i.text)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["sh", "-c", writer.text], cwd=tmp_path, env=env, check=True, timeout=30)
    written = (tmp_path / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert written == PYPROJECT["project"]["dependencies"]


# -- environment variable names are real settings ------------------------------------------------------------


def _settings_from(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for name in list(os.environ):
        if name.startswith(PREFIX) or name in _AliasEnvSource.ALIASES:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no ./config.toml
    return load_settings()


def _assert_real_settings(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each variable names an existing section and key, and loading Settings with it set gives its value."""
    settings = _settings_from(env, monkeypatch, tmp_path)
    for name, value in env.items():
        if name in _AliasEnvSource.ALIASES:
            section, key = _AliasEnvSource.ALIASES[name]
        else:
            assert name.startswith(PREFIX), f"{name} is not a setting"
            section, separator, key = name.removeprefix(PREFIX).lower().partition("__")
            assert separator, f"{name}: expected {PREFIX}<SECTION>__<KEY>"
        assert section in Settings.model_fields, f"{name}: bot/config.py has no [{section}] section"
        model = getattr(Settings.model_fields[section].annotation, "model_fields", {})
        assert key in model, f"{name}: [{section}] has no key {key!r}"
        expected = getattr(type(getattr(settings, section)).model_validate({key: value}), key)
        assert getattr(getattr(settings, section), key) == expected, name


def test_image_environment_names_real_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {k: v for k, v in env_of(FINAL).items() if k.startswith(PREFIX)}
    assert set(env) >= {f"{PREFIX}METRICS__ENABLED", f"{PREFIX}METRICS__HOST"}
    _assert_real_settings(env, monkeypatch, tmp_path)


_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}`` against ``env``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        if name in env and (env[name] or not op.startswith(":")):
            return env[name]
        if op.endswith("?"):
            raise LookupError(f"{name}: {arg}")
        return arg if op.endswith("-") else ""

    return _INTERPOLATION.sub(one, value)


def _service_env(service: str, env: Mapping[str, str]) -> dict[str, str]:
    raw = COMPOSE["services"][service].get("environment", {})
    pairs = raw.items() if isinstance(raw, dict) else (item.partition("=")[::2] for item in raw)
    return {name: interpolate(str(value), env) for name, value in pairs}


def test_compose_environment_names_real_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="DISCORD_TOKEN"):
        _service_env("bot", {})  # compose refuses to start without the token
    env = _service_env("bot", {"DISCORD_TOKEN": "token-from-env"})
    _assert_real_settings(env, monkeypatch, tmp_path)
    # The image's metrics settings are repeated, not contradicted.
    assert {k: env[k] for k in env_of(FINAL) if k in env} == {k: v for k, v in env_of(FINAL).items() if k in env}
    # By default the bot uses SQLite in its volume, exactly as the image alone would.
    assert env[f"{PREFIX}DATABASE__URL"] == DatabaseSettings().url


def _duration(text: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts, text
    assert "".join(n + u for n, u in parts) == text, text
    return sum(float(n) * units[u] for n, u in parts)


def test_compose_bot_matches_the_image() -> None:
    bot = COMPOSE["services"]["bot"]
    assert "profiles" not in bot, "the SQLite bot is the default"
    assert bot["build"] == "."
    mounts = [m.split(":") for m in bot["volumes"]]
    assert [target for _, target, *_ in mounts] == [_volume()]
    assert mounts[0][0] in COMPOSE["volumes"], "the data volume is a declared named volume"
    assert bot["healthcheck"]["test"] == ["CMD", *_healthcheck()]
    container_ports = {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in bot["ports"]}
    assert container_ports == _exposed()
    grace = JobsSettings().shutdown_grace + SHUTDOWN_TAIL
    assert _duration(bot["stop_grace_period"]) > grace, "docker would SIGKILL the bot before it stored its submits"


def test_postgres_profile_matches_the_documented_database_url() -> None:
    postgres = COMPOSE["services"]["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert postgres["healthcheck"]["test"]
    env = _service_env("postgres", {})
    assert "\n## Deploying\n" in README
    deploying = README.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    urls = set(re.findall(r"postgresql://[^\s`'\"]+", deploying))
    assert urls, "README, Deploying: no PostgreSQL URL"
    for url in urls:
        parts = urlsplit(url)
        assert parts.hostname == "postgres"
        assert parts.port in (None, 5432)
        assert parts.username == env["POSTGRES_USER"]
        assert parts.password == env["POSTGRES_PASSWORD"]
        assert parts.path == "/" + env["POSTGRES_DB"]
        # The bot's URL comes from that variable, so the documented switch reaches the bot.
        bot_env = _service_env("bot", {"DISCORD_TOKEN": "t", f"{PREFIX}DATABASE__URL": url})
        assert bot_env[f"{PREFIX}DATABASE__URL"] == url


def test_readme_docker_run_matches_the_image() -> None:
    runs = [line for line in README.splitlines() if line.startswith("docker run") and "DISCORD_TOKEN" in line]
    assert runs, "README: no `docker run` line with DISCORD_TOKEN"
    argv = shlex.split(runs[0])
    volumes = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-v"]
    assert [v.split(":")[1] for v in volumes] == [_volume()]
    timeout = float(argv[argv.index("--stop-timeout") + 1])
    assert timeout > JobsSettings().shutdown_grace + SHUTDOWN_TAIL
    assert "check" in [line.split()[-1] for line in README.splitlines() if line.startswith("docker run")]


# -- the files the image copies ------------------------------------------------------------------------------


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore excludes ``path`` (Go-style globs, ``**``, ``!`` exceptions; a directory covers its
    contents)."""
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.removeprefix("!").strip("/")
        regex = "".join(
            "(.*/)?" if token == "**/" else ".*" if token == "**" else "[^/]*" if token == "*" else re.escape(token)
            for token in re.findall(r"\*\*/|\*\*|\*|[^*]+", glob)
        )
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def _copied_files() -> list[str]:
    """Every file of the build context that a COPY of the Dockerfile brings into the image."""
    files = []
    for sources, _ in (c for stage in STAGES for c in copies(stage)):
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"the Dockerfile copies {source}, which does not exist"
            found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            files += [p.relative_to(ROOT).as_posix() for p in found]
    return files


def test_dockerignore_keeps_what_the_image_copies_and_excludes_secrets() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    needed = [f for f in _copied_files() if "__pycache__" not in f]
    assert needed
    assert [f for f in needed if _ignored(f, patterns)] == []
    for secret in ("config.toml", ".env", "data/imagine-bot.sqlite3", ".venv/bin/python", ".git/config"):
        assert _ignored(secret, patterns), secret
    assert _ignored("bot/__pycache__/cli.cpython-311.pyc", patterns)


def test_image_file_set_installs_and_runs_in_a_clean_venv(tmp_path: Path) -> None:
    """Slow-ish (a few seconds): build the package from exactly the files the image copies, into a new venv.

    The venv sees the running interpreter's site-packages through a .pth file, so the dependencies resolve
    offline, while the bot itself comes only from the copied files.
    """
    build = STAGES[0]
    src = tmp_path / "src"
    for instruction in build:
        if instruction.keyword != "COPY" or "from" in instruction.flags()[0]:
            continue
        [(sources, dest)] = copies([instruction])
        target = src / posixpath.relpath(posixpath.join(workdir(build, instruction.line), dest), workdir(build))
        for source in sources:
            # Docker's rules: a directory's contents go into dest; files go into dest when it ends with "/".
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
            elif dest.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, target / origin.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, target)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    Path(site, "_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", str(src)],
        check=True, timeout=120,
    )  # fmt: skip
    script = venv / "bin" / "imagine-bot"
    # The image's runtime: its environment, WORKDIR as the working directory, the package from the venv.
    root = tmp_path / "root"
    work = root / workdir(FINAL).lstrip("/")
    work.mkdir(parents=True)
    env = {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path)}
    env |= {k: v for k, v in env_of(FINAL).items() if k.startswith(PREFIX)}
    where = subprocess.run(
        [python, "-c", "import bot, cogs; print(bot.__file__); print(cogs.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, check=True, timeout=30,
    ).stdout.split()  # fmt: skip
    assert all(Path(p).is_relative_to(venv) for p in where), where
    assert subprocess.run([script, "--help"], cwd=work, env=env, capture_output=True, timeout=60).returncode == 0
    # The installed package carries its migrations, and the default database lands in the volume.
    ledger = subprocess.run([script, "ledger", "check"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert ledger.returncode == 0, ledger.stderr
    database = DatabaseSettings().url.removeprefix("sqlite:///")
    assert (work / database).is_file()
    assert (work / database).resolve().is_relative_to(root / _volume().lstrip("/"))
