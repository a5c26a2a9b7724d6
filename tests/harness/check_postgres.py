"""Self-check for the PostgreSQL test harness (``tests/harness/postgres.py``).

Run from the repository root::

    .venv/bin/python -m tests.harness.check_postgres
    LIFECYCLE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m tests.harness.check_postgres

It checks that:

* ``postgres_server()`` yields a reachable server (a throwaway one unless
  ``LIFECYCLE_TEST_POSTGRES_URL`` is set) and reports how long that took;
* ``fresh_database()`` creates an empty, isolated database and drops it again;
* ``eventsourcing``'s PostgreSQL persistence works against it: an
  ``Application`` saves an ``Aggregate`` and a second ``Application`` instance
  reloads it from the database;
* a throwaway server is gone (port closed, temporary directory deleted) after
  the context manager exits;
* an unreachable ``LIFECYCLE_TEST_POSTGRES_URL`` raises ``PostgresHarnessError``
  instead of skipping.

Exit status 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

if __package__ in (None, ""):  # run as a plain script: make ``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.harness.postgres import (
    ENV_URL,
    PostgresHarnessError,
    eventsourcing_env,
    find_postgres_bindir,
    free_port,
    fresh_database,
    postgres_server,
)


class Lead(Aggregate):
    """A tiny aggregate, just enough to round-trip events through PostgreSQL."""

    def __init__(self, email: str) -> None:
        self.email = email
        self.stage = "new"

    @event("Qualified")
    def qualify(self, stage: str) -> None:
        self.stage = stage


class Leads(Application[UUID]):
    def register(self, email: str) -> UUID:
        lead = Lead(email)
        lead.qualify("mql")
        self.save(lead)
        return lead.id

    def get(self, lead_id: UUID) -> Lead:
        lead: Lead = self.repository.get(lead_id)
        assert isinstance(lead, Lead), type(lead)
        return lead


def _tables(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "select table_name from information_schema.tables where table_schema = 'public'"
        ).fetchall()
    return {str(row[0]) for row in rows}


def _database_exists(base_url: str, name: str) -> bool:
    with psycopg.connect(base_url, autocommit=True) as conn:
        row = conn.execute("select count(*) from pg_database where datname = %s", (name,))
        found = row.fetchone()
    return found is not None and found[0] == 1


def _port_open(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def _check_eventsourcing(db_url: str) -> None:
    env = eventsourcing_env(db_url)
    app = Leads(env=env)
    try:
        lead_id = app.register("ada@example.com")
    finally:
        app.close()
    assert _tables(db_url), "eventsourcing created no tables"
    reader = Leads(env=env)
    try:
        lead = reader.get(lead_id)
        assert lead.email == "ada@example.com", lead.email
        assert lead.stage == "mql", lead.stage
        assert lead.version == 2, lead.version
        notifications = reader.notification_log.select(start=1, limit=10)
        assert len(notifications) == 2, notifications
    finally:
        reader.close()


def _check_server_and_databases() -> None:
    given = os.environ.get(ENV_URL)
    if not given:
        print(f"  server binaries: {find_postgres_bindir()}")
    leftovers_before = set(Path(tempfile.gettempdir()).glob("lc-pg-*"))
    started = time.perf_counter()
    with postgres_server() as base_url:
        ready = time.perf_counter() - started
        kind = "given" if given else "throwaway"
        print(f"  {kind} server ready in {ready:.2f} s at {base_url}")
        with fresh_database(base_url) as db_a, fresh_database(base_url) as db_b:
            name_a = urlsplit(db_a).path.lstrip("/")
            assert name_a.startswith("lc_"), db_a
            assert db_a != db_b
            assert _tables(db_a) == set(), "fresh database is not empty"
            _check_eventsourcing(db_a)
            assert _tables(db_b) == set(), "databases are not isolated"
            print(f"  eventsourcing save/reload OK in {db_a}")
        assert not _database_exists(base_url, name_a), f"{name_a} was not dropped"
        print("  fresh databases dropped")
    if not given:
        assert not _port_open(base_url), "throwaway server still listening after exit"
        leftovers = set(Path(tempfile.gettempdir()).glob("lc-pg-*")) - leftovers_before
        assert not leftovers, f"temporary directories left behind: {leftovers}"
        print(
            f"  throwaway server stopped and removed (total {time.perf_counter() - started:.2f} s)"
        )


def _check_unreachable_url_fails() -> None:
    bad = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    saved = os.environ.get(ENV_URL)
    os.environ[ENV_URL] = bad
    message = ""
    try:
        with postgres_server():
            pass
    except PostgresHarnessError as exc:
        message = str(exc)
    finally:
        if saved is None:
            del os.environ[ENV_URL]
        else:
            os.environ[ENV_URL] = saved
    assert message, "postgres_server() accepted an unreachable URL"
    assert bad in message, message
    print(f"  unreachable URL raises: {message.splitlines()[0][:110]}")


def main() -> int:
    checks: list[tuple[str, Callable[[], None]]] = [
        ("server, fresh databases, eventsourcing", _check_server_and_databases),
        ("unreachable URL fails", _check_unreachable_url_fails),
    ]
    failed = 0
    for title, check in checks:
        print(f"{title}:")
        try:
            check()
        except Exception:
            failed += 1
            traceback.print_exc()
            print("  FAILED")
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
