"""The SQLite adapter's model store: learned models in the database file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from lifecycle.adapters.base import ModelTable
from lifecycle.adapters.sqlite.events import _connect, create_tables

__all__ = ["SQLiteModelStore"]


class SQLiteModelStore(ModelTable):
    """:class:`~lifecycle.adapters.base.ModelTable` in the database file: moments as ISO
    8601 text in UTC (so they sort as text), writes under ``BEGIN IMMEDIATE``."""

    mark = "?"
    blob = "BLOB"
    time = "TEXT"

    def __init__(self, path: str) -> None:
        self._path = path

    def _connect(self) -> sqlite3.Connection:
        return _connect(self._path)

    def _create_tables(self, conn: sqlite3.Connection) -> None:
        create_tables(conn, self.ddl)

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")  # the write lock, waited for with the busy timeout
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _time_in(self, moment: datetime) -> Any:
        return moment.astimezone(UTC).isoformat()

    def _time_out(self, value: Any) -> datetime:
        return datetime.fromisoformat(str(value))
