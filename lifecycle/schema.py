"""Creating the engine's tables, and writing to SQLite, when several processes share a database.

Two processes started at once on an empty database both run ``CREATE TABLE IF NOT
EXISTS``; "if not exists" is checked before the catalogue row is written, so on
PostgreSQL the slower one fails (a unique violation on ``pg_type``, ``tuple
concurrently updated``, eventsourcing's tracking-table migration recorded twice). On
SQLite, switching a new file to WAL mode or upgrading a read transaction to a write
can fail at once with "database is locked", without waiting for the busy timeout.

So every piece of schema creation goes through this module:

- PostgreSQL: an advisory lock (:data:`SCHEMA_LOCK`) around it. Whoever holds it creates
  the tables; the others wait, then find them made.
- SQLite: ``BEGIN IMMEDIATE`` (the write lock, waited for with the busy timeout), and
  :func:`wait_while_locked` around what SQLite refuses without waiting.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from eventsourcing.persistence import OperationalError

__all__ = [
    "LOCK_WAIT_SECONDS",
    "SCHEMA_LOCK",
    "create_tables",
    "is_locked",
    "postgres_schema_lock",
    "use_wal",
    "wait_while_locked",
]

SCHEMA_LOCK = 0x1EAD_5C4E
"""The PostgreSQL advisory lock key held while tables are created (the relay's leader
lock is another key, ``0x1EAD_0001``)."""

LOCK_WAIT_SECONDS = 30.0
"""How long a writer waits for a locked SQLite database before giving up (the same as
the busy timeout of every SQLite connection the engine opens)."""

_T = TypeVar("_T")


def is_locked(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "database is locked" / "busy" (another writer)."""
    if not isinstance(error, sqlite3.OperationalError | OperationalError):
        return False
    text = str(error).lower()
    return "database is locked" in text or "database is busy" in text


def wait_while_locked(action: Callable[[], _T], *, timeout: float = LOCK_WAIT_SECONDS) -> _T:
    """Runs ``action``, again after a pause while SQLite says another writer holds the
    database, up to ``timeout`` seconds; then the last "locked" error is raised."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        try:
            return action()
        except (sqlite3.OperationalError, OperationalError) as e:
            if not is_locked(e) or time.monotonic() >= deadline:
                raise
        time.sleep(pause * random.uniform(0.5, 1.5))  # jitter: writers do not retry in step
        pause = min(pause * 2, 0.5)


def use_wal(conn: sqlite3.Connection) -> None:
    """Puts a SQLite database in WAL mode (a no-op once it is: the mode is stored in the
    file), waiting while another process holds it (the switch does not wait by itself)."""
    wait_while_locked(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())


@contextmanager
def postgres_schema_lock(conn: Any) -> Iterator[None]:
    """Holds :data:`SCHEMA_LOCK` on ``conn`` (a psycopg connection in autocommit mode) for
    the block; the lock goes with the session if the process dies."""
    conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def create_tables(
    conn: Any, dialect: Literal["sqlite", "postgres"], statements: Sequence[str]
) -> None:
    """Runs ``CREATE … IF NOT EXISTS`` statements in one transaction, one process at a time.

    Args:
        conn: a sqlite3 connection (``isolation_level=None``) or a psycopg connection in
            autocommit mode.
        dialect: which of the two it is.
        statements: the DDL to run.
    """
    if dialect == "postgres":
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in statements:
                conn.execute(statement)
        return

    def create() -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (a full disk)
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    wait_while_locked(create)
