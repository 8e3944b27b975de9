"""A throwaway PostgreSQL server for tests, started with ``initdb`` and ``pg_ctl`` from PATH.

Register the fixtures for a test folder with one line in its conftest (the root ``tests/conftest.py``
is the right place once more than one folder uses them)::

    pytest_plugins = ["tests.pg"]

Fixtures:

* ``postgres_server`` (session): one server per test session, a :class:`PostgresServer`.
* ``postgres_dsn`` (function): a fresh, empty database on that server, dropped after the test.

If ``IMAGINEBOT_TEST_POSTGRES_DSN`` is set, that server is used instead of starting one (its user must be
allowed to create databases). Without it and without ``initdb``/``pg_ctl`` on PATH, the PostgreSQL tests are
skipped. If the binaries are there but the server does not start, the tests are skipped locally and FAIL when
``CI`` is set.

PostgreSQL refuses to run as root. When the tests run as root, every ``initdb``/``pg_ctl`` call is made as
an unprivileged existing user (``postgres`` if it exists, else ``nobody``) through ``subprocess``'s
``user=``/``group=``/``extra_groups=`` (setgid/setgroups/setuid in the child, no ``sudo``/``runuser`` needed);
the server's temporary directory (in /dev/shm when it has 1 GiB free, else the system temp dir: pytest's own
base temp dir is root-only) is chowned to that user.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator

__all__ = [
    "DSN_ENV",
    "PostgresServer",
    "PostgresStartError",
    "PostgresUnavailable",
    "others_queries",
    "postgres_dsn",
    "postgres_server",
    "start_postgres",
]

DSN_ENV = "IMAGINEBOT_TEST_POSTGRES_DSN"
SUPERUSER = "postgres"
DATABASE = "imaginebot"
_UNPRIVILEGED_USERS = ("postgres", "nobody")
_SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}
_INITDB_FLAGS = ("--no-locale", "--no-sync", "--no-instructions")
_INITDB_TIMEOUT = 120.0
_START_TIMEOUT = 60  # pg_ctl -t; the subprocess timeout adds a margin
_STOP_TIMEOUT = 30
_WAIT_FLAGS = ("-w", "-t", str(_START_TIMEOUT))
_SQL_TIMEOUT = 30.0
_SHM_MIN_FREE = 1 << 30  # Docker's default 64 MiB /dev/shm is too small for a cluster plus test databases

_T = TypeVar("_T")


class PostgresUnavailable(RuntimeError):
    """``initdb``/``pg_ctl`` are not on PATH."""


class PostgresStartError(RuntimeError):
    """The binaries are there but the server could not be set up."""


@dataclass(frozen=True, slots=True)
class _RunAs:
    """Who the server's processes run as; ``uid`` None means the current user."""

    uid: int | None = None
    gid: int | None = None
    name: str | None = None

    def kwargs(self) -> dict[str, Any]:
        """Extra ``subprocess.run`` arguments that drop privileges."""
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _run_as() -> _RunAs:
    """Root cannot run PostgreSQL: pick an existing unprivileged user then."""
    if os.geteuid() != 0:
        return _RunAs()
    for name in _UNPRIVILEGED_USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(uid=entry.pw_uid, gid=entry.pw_gid, name=name)
    raise PostgresStartError(f"running as root and none of the users {_UNPRIVILEGED_USERS} exists")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _scratch_parent() -> str | None:
    """Where the server's files go: RAM (/dev/shm) when it has room, as disk makes CREATE DATABASE ~10x slower."""
    shm = "/dev/shm"
    try:
        stat = os.statvfs(shm)
    except OSError:
        return None
    roomy = stat.f_bavail * stat.f_frsize >= _SHM_MIN_FREE
    return shm if roomy and os.access(shm, os.W_OK | os.X_OK) else None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _run_sync(make: Callable[[], Coroutine[Any, Any, _T]], timeout: float = _SQL_TIMEOUT) -> _T:
    """Run a coroutine to completion on a private event loop in another thread.

    Sync fixtures use this so they never touch the event loop pytest-asyncio gives the test.
    """
    result: list[_T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(asyncio.wait_for(make(), timeout)))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="tests.pg", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    if thread.is_alive():
        raise TimeoutError(f"PostgreSQL admin command did not finish within {timeout} s")
    if error:
        raise error[0]
    return result[0]


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=_SQL_TIMEOUT)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def others_queries(dsn: str, *, waiting_for_a_lock: bool = False) -> list[str]:
    """What each other session on ``dsn``'s database runs or ran last (only those waiting for a lock, if asked),
    read from a connection of its own."""
    waiting = " AND wait_event_type = 'Lock'" if waiting_for_a_lock else ""
    conn = await asyncpg.connect(dsn, timeout=_SQL_TIMEOUT)
    try:
        rows = await conn.fetch(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            + waiting
        )
    finally:
        await conn.close()
    return [str(r["query"]) for r in rows]


async def _create_database(dsn: str, name: str) -> None:
    """CREATE DATABASE, with PostgreSQL 15+'s FILE_COPY strategy (~10x faster than WAL_LOG for tiny templates)."""
    conn = await asyncpg.connect(dsn, timeout=_SQL_TIMEOUT)
    try:
        fast = " STRATEGY FILE_COPY" if conn.get_server_version().major >= 15 else ""
        await conn.execute(f"CREATE DATABASE {name}{fast}")
    finally:
        await conn.close()


@contextlib.contextmanager
def start_postgres() -> Iterator[str]:
    """Start a throwaway server; yield ``postgresql://postgres@127.0.0.1:PORT/imaginebot``; then destroy it.

    Raises
    ------
    PostgresUnavailable
        ``initdb`` or ``pg_ctl`` is not on PATH.
    PostgresStartError
        The server could not be initialised or started (the message holds the log's tail).
    """
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise PostgresUnavailable("initdb and pg_ctl are not on PATH")
    run_as = _run_as()
    base = Path(tempfile.mkdtemp(prefix="imaginebot-pg-", dir=_scratch_parent()))
    data, log = base / "data", base / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(TZ="UTC", LC_ALL="C", LANG="C")

    def run(args: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                args, cwd=base, env=env, timeout=timeout, text=True, check=False, **run_as.kwargs(), **kwargs
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise PostgresStartError(f"{Path(args[0]).name} {args[-1]}: {exc!r}\n{_tail(log)}") from exc

    try:
        if run_as.uid is not None:
            os.chown(base, run_as.uid, run_as.gid if run_as.gid is not None else -1)
        base.chmod(0o700)
        who = f" as {run_as.name}" if run_as.name else ""
        init = run(
            [initdb, "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", *_INITDB_FLAGS],
            _INITDB_TIMEOUT,
            capture_output=True,
        )
        if init.returncode != 0:
            raise PostgresStartError(f"initdb{who} failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        settings = {**_SERVER_SETTINGS, "unix_socket_directories": f"'{base}'"}
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        port = 0
        for _attempt in range(3):  # another process may take the port between probing and binding
            port = _free_port()
            with (base / "pg_ctl.out").open("w") as out:
                start = run(
                    [pg_ctl, "-D", str(data), "-l", str(log), "-o", f"-p {port}", *_WAIT_FLAGS, "start"],
                    _START_TIMEOUT + 15,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            if start.returncode == 0:
                break
            if "could not bind" not in _tail(log, 200):
                break
        if start.returncode != 0:
            raise PostgresStartError(
                f"pg_ctl start{who} failed ({start.returncode}):\n{_tail(base / 'pg_ctl.out')}\n{_tail(log)}"
            )
        server_dsn = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        try:
            _run_sync(lambda: _create_database(server_dsn, DATABASE))
        except Exception as exc:
            raise PostgresStartError(f"could not create the database: {exc!r}\n{_tail(log)}") from exc
        yield _with_database(server_dsn, DATABASE)
    finally:
        if (data / "postmaster.pid").exists():
            _stop(run, pg_ctl, data)
        shutil.rmtree(base, ignore_errors=True)


def _stop(run: Callable[..., subprocess.CompletedProcess[str]], pg_ctl: str, data: Path) -> None:
    """``pg_ctl stop -m immediate``; SIGKILL the postmaster this module started if that fails."""
    pid_file = data / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        pid = None
    try:
        stopped = run(
            [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "-t", str(_STOP_TIMEOUT), "stop"],
            _STOP_TIMEOUT + 10,
            capture_output=True,
        )
        if stopped.returncode == 0:
            return
    except PostgresStartError:
        pass
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A running server and a database on it whose user may create databases."""

    dsn: str

    def create_database(self) -> str:
        """Create a fresh, empty database; return its DSN."""
        name = f"test_{os.getpid()}_{secrets.token_hex(4)}"
        _run_sync(lambda: _create_database(self.dsn, name))
        return _with_database(self.dsn, name)

    def drop_database(self, dsn: str) -> None:
        """Drop a database :meth:`create_database` made, closing any connection a test left open."""
        name = urlsplit(dsn).path.lstrip("/")
        _run_sync(lambda: _admin(self.dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (or the one ``IMAGINEBOT_TEST_POSTGRES_DSN`` names)."""
    external = os.environ.get(DSN_ENV)
    if external:
        yield PostgresServer(external)
        return
    with contextlib.ExitStack() as stack:
        try:
            dsn = stack.enter_context(start_postgres())
        except PostgresUnavailable as exc:
            pytest.skip(f"PostgreSQL tests need initdb/pg_ctl on PATH or {DSN_ENV}: {exc}")
        except PostgresStartError as exc:
            if _ci():
                pytest.fail(f"CI is set and PostgreSQL could not be started:\n{exc}", pytrace=False)
            pytest.skip(f"PostgreSQL could not be started (this fails when CI is set):\n{exc}")
        yield PostgresServer(dsn)


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    dsn = postgres_server.create_database()
    try:
        yield dsn
    finally:
        postgres_server.drop_database(dsn)
