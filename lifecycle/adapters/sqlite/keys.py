"""The SQLite adapter's key store: each lead's personal-data key, deleted physically."""

from __future__ import annotations

import sqlite3
from uuid import UUID

from lifecycle.adapters import protocol
from lifecycle.adapters.base import KeyTable
from lifecycle.adapters.protocol import KEYS_TABLE, LOCK_WAIT_SECONDS
from lifecycle.adapters.sqlite.events import _connect, create_tables
from lifecycle.errors import ErasureIncomplete

__all__ = ["SQLiteKeyStore"]


class SQLiteKeyStore(KeyTable):
    """The key table in the database file, on a connection of its own.

    Deleting is physical: the connection deletes with ``secure_delete`` (the row is
    zeroed in its page), then the write-ahead log, which may still hold old copies of
    the page, is checkpointed and truncated.
    """

    mark = "?"

    def __init__(self, path: str) -> None:
        self._path = path

    def _open(self) -> sqlite3.Connection:
        conn = _connect(self._path)
        # A deleted key must not linger in free pages of the file.
        conn.execute("PRAGMA secure_delete=ON")
        create_tables(conn, [
            f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (lead_id TEXT PRIMARY KEY, "
            "key BLOB NOT NULL, created_at DOUBLE PRECISION NOT NULL)"])
        return conn

    def _insert_rows(self, conn: sqlite3.Connection, statement: str,
                     rows: list[tuple[str, bytes, float]]) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            inserted = conn.executemany(statement, rows).rowcount
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return inserted

    def delete(self, lead_id: UUID) -> bool:
        conn = self._connection()
        deleted = bool(conn.execute(f"DELETE FROM {KEYS_TABLE} WHERE lead_id = ?",
                                    (lead_id.hex,)).rowcount)
        # secure_delete zeroed the row in its page; old versions of the page stay in
        # the write-ahead log until it is checkpointed and truncated.
        conn.execute(f"PRAGMA busy_timeout = {int(protocol.ERASE_WAIT * 1000)}")
        try:
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT_SECONDS * 1000)}")
        if busy:
            raise ErasureIncomplete(
                f"the key of lead {lead_id} is deleted, but other connections kept the "
                "database's write-ahead log (-wal file) from being emptied, and it may "
                "still hold a copy: run erase again when they are done")
        return deleted
