"""The SQLite adapter's projection side: the notification log, projection tables with
their positions, leadership."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

from lifecycle.adapters.base import ProjectionTables, insert_statement
from lifecycle.adapters.protocol import NotificationReader, ProjectionCursor, RawNotification
from lifecycle.adapters.sqlite.events import use_wal

if TYPE_CHECKING:
    from lifecycle.projections.base import TableSpec

__all__ = [
    "TRANSIENT_ERRORS",
    "SQLiteLeadership",
    "SQLiteProjections",
    "notification_reader_of",
]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (sqlite3.OperationalError,)
"""SQLite's errors of the database or the machine (a lock, a full disk), never of a value."""


def notification_reader_of(recorder: object) -> NotificationReader | None:
    """The notification log of eventsourcing's SQLite recorder (or a subclass) read with
    own SQL: plain tuples, not ``select_notifications``' dict rows, UUID objects and
    ``Notification`` dataclasses, which cost more than the projecting itself. None for
    another recorder."""
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    if not isinstance(recorder, SQLiteApplicationRecorder):
        return None
    datastore = recorder.datastore
    statement = (f"SELECT rowid, originator_id, originator_version, topic, state "
                 f"FROM {recorder.events_table_name} WHERE rowid >= ? ORDER BY rowid LIMIT ?")
    uuids = datastore.originator_id_type == "uuid"

    def read(start: int, limit: int) -> list[RawNotification]:
        with datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None  # plain tuples
            cursor.execute(statement, (start, limit))
            rows: list[RawNotification] = cursor.fetchall()
        if uuids:
            return [(n, _dashed(o), v, t, s) for n, o, v, t, s in rows]
        return rows

    return read


def _dashed(originator_id: str) -> str:
    """``str(UUID(x))`` of the 32 hex digits eventsourcing's SQLite recorder stores."""
    if len(originator_id) == 32:
        h = originator_id.lower()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(UUID(originator_id))


class SQLiteProjections(ProjectionTables[sqlite3.Connection]):
    """Projection tables in a SQLite file: a
    :class:`~lifecycle.adapters.protocol.ProjectionBackend`."""

    integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
    data_errors: tuple[type[BaseException], ...] = (
        TypeError, ValueError, OverflowError, sqlite3.DataError, sqlite3.IntegrityError,
        sqlite3.ProgrammingError, sqlite3.InterfaceError)
    binary_refusals: tuple[type[BaseException], ...] = ()
    # One writer at a time (BEGIN IMMEDIATE waits for the lock): writers never collide.
    conflict_errors: tuple[type[BaseException], ...] = ()
    writes_in_server = False

    def __init__(self, path: str) -> None:
        self.path = path

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                               check_same_thread=False)
        use_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        conn = self._connection()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")  # the write lock now: no upgrade deadlock later
        try:
            yield cur
        except BaseException:
            if conn.in_transaction:  # SQLite rolled back by itself (e.g. a full disk)
                cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def sql(self, statement: str) -> str:
        return statement

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._connection().execute(statement, tuple(params)).fetchall())

    def lock_schema(self, cur: ProjectionCursor) -> None:
        """Nothing: ``BEGIN IMMEDIATE`` serialises the transaction already."""

    def clear(self, cur: ProjectionCursor, tables: Sequence[str]) -> None:
        for name in tables:
            cur.execute(f"DELETE FROM {name}")

    def insert(self, cur: ProjectionCursor, table: TableSpec, values: Sequence[tuple[Any, ...]],
               *, bulk: bool = False, direct: bool = False, binary: bool = False) -> None:
        cur.executemany(insert_statement(table, "?"), values)

    def byte_order(self, column: str, sql_type: str) -> str:
        return column  # SQLite compares text by its bytes (BINARY collation)


class SQLiteLeadership:
    """Leadership on one host: an exclusive ``flock`` on a file beside the database.

    SQLite has no advisory locks; the processes that share a SQLite file share a host
    (the file's directory), so a lock on ``<database>.leader-<key>`` is exclusive among
    them, and the kernel drops it when the holder closes it or dies. Two holders in one
    process exclude each other too (a lock belongs to an open file, not a process).
    """

    def __init__(self, path: str, key: int) -> None:
        self.path = f"{path}.leader-{key:x}"
        self._file: IO[bytes] | None = None

    def is_leader(self) -> bool:
        if self._file is not None:
            return True
        import fcntl

        file = open(self.path, "ab")  # noqa: SIM115 - kept open while the lease is held
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        except BaseException:
            file.close()
            raise
        self._file = file
        return True

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()  # closing the file releases the lock
