"""The SQLite adapter's key store: each lead's personal-data key, deleted physically."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from uuid import UUID

from lifecycle.adapters import protocol
from lifecycle.adapters.protocol import KEYS_TABLE, LOCK_WAIT_SECONDS, select_keys
from lifecycle.adapters.sqlite.events import _connect, create_tables
from lifecycle.errors import ErasureIncomplete

__all__ = ["SQLiteKeyStore"]


class SQLiteKeyStore:
    """The key table in the database file, on a connection of its own.

    Deleting is physical: the connection deletes with ``secure_delete`` (the row is
    zeroed in its page), then the write-ahead log, which may still hold old copies of
    the page, is checkpointed and truncated.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = _connect(self._path)
            # A deleted key must not linger in free pages of the file.
            conn.execute("PRAGMA secure_delete=ON")
            create_tables(conn, [
                f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (lead_id TEXT PRIMARY KEY, "
                "key BLOB NOT NULL, created_at DOUBLE PRECISION NOT NULL)"])
            self._conn = conn
        return self._conn

    def fetch(self, lead_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        return select_keys(self._connection(), lead_ids, "?")

    def insert(self, keys: dict[UUID, bytes], created_at: float) -> bool:
        rows = [(lid.hex, key, created_at) for lid, key in keys.items()]
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            inserted = conn.executemany(
                f"INSERT INTO {KEYS_TABLE} (lead_id, key, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (lead_id) DO NOTHING", rows).rowcount
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return inserted == len(rows)

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

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
