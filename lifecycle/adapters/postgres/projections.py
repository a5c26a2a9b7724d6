"""The PostgreSQL adapter's projection side: the notification log, projection tables with
their positions, leadership."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, cast

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from lifecycle.adapters.base import ProjectionTables, insert_statement
from lifecycle.adapters.postgres.events import SCHEMA_LOCK
from lifecycle.adapters.protocol import NotificationReader, ProjectionCursor, RawNotification

if TYPE_CHECKING:
    from lifecycle.projections.base import TableSpec

__all__ = [
    "TRANSIENT_ERRORS",
    "PostgresLeadership",
    "PostgresProjections",
    "notification_reader_of",
]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (psycopg.OperationalError,
                                                     psycopg.InterfaceError)
"""psycopg's errors of the database or the connection (a lost connection, a lock, a
serialization failure), never of a value."""


def notification_reader_of(recorder: object) -> NotificationReader | None:
    """The notification log of eventsourcing's PostgreSQL recorder (or a subclass) read
    with own SQL: plain tuples in binary transfer, a prepared statement. None for
    another recorder."""
    from eventsourcing.postgres import PostgresApplicationRecorder

    if not isinstance(recorder, PostgresApplicationRecorder):
        return None
    datastore = recorder.datastore
    # originator_id::text is what str(UUID) gives: lowercase, dashed.
    statement = SQL(
        "SELECT notification_id, originator_id::text, originator_version, topic, state "
        "FROM {}.{} WHERE notification_id >= %s ORDER BY notification_id LIMIT %s"
    ).format(Identifier(datastore.schema), Identifier(recorder.events_table_name))

    # As eventsourcing's own select_notifications: retry a dropped connection.
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def read(start: int, limit: int) -> list[RawNotification]:
        with datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as cur:
            cur.execute(statement, (start, limit), prepare=True)
            rows: list[RawNotification] = cur.fetchall()
            return rows

    return read  # type: ignore[no-any-return]


# Column types of TableSpec → PostgreSQL types for a binary COPY.
_BINARY_TYPES = {"TEXT": "text", "BIGINT": "int8", "INTEGER": "int4",
                 "DOUBLE PRECISION": "float8", "REAL": "float4", "BOOLEAN": "bool"}

_COPY_THRESHOLD = 64
"""Rows of one table from which a write COPYs rather than INSERTs."""


def _copy_types(table: TableSpec) -> list[str] | None:
    """The PostgreSQL types of a table's columns; None if one is not a plain type."""
    types = [_BINARY_TYPES.get(sql_type.upper()) for _, sql_type in table.columns]
    return None if None in types else [t for t in types if t is not None]


class PostgresProjections(ProjectionTables[psycopg.Connection[tuple[Any, ...]]]):
    """Projection tables in PostgreSQL: a
    :class:`~lifecycle.adapters.protocol.ProjectionBackend`."""

    integrity_errors: tuple[type[BaseException], ...] = (psycopg.IntegrityError,)
    # Client-side conversion errors (a value a column type cannot take), and the
    # server's data and integrity errors (NUL in text, numbers out of range, a NULL
    # where none may be).
    data_errors: tuple[type[BaseException], ...] = (
        TypeError, ValueError, OverflowError, psycopg.DataError, psycopg.IntegrityError)
    # A value the binary COPY format cannot take as its column's type (an int beyond
    # BIGINT, text where a number goes): the text format takes it as PostgreSQL would,
    # or raises.
    binary_refusals: tuple[type[BaseException], ...] = (
        TypeError, ValueError, OverflowError, psycopg.DataError)
    conflict_errors: tuple[type[BaseException], ...] = (
        psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
    writes_in_server = True

    def __init__(self, url: str) -> None:
        self.url = url

    def _open(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.url, autocommit=True)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        conn = self._connection()
        with conn.transaction(), conn.cursor() as cur:
            yield cur

    def sql(self, statement: str) -> str:
        return statement.replace("%", "%%").replace("?", "%s")

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._connection().cursor() as cur:
            cur.execute(self.sql(statement), tuple(params))
            return list(cur.fetchall())

    def lock_schema(self, cur: ProjectionCursor) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))

    def clear(self, cur: ProjectionCursor, tables: Sequence[str]) -> None:
        if tables:
            # Not DELETE: it leaves every old row dead in the tables and their primary
            # keys, and a rebuild re-inserts the very same keys, each checked against
            # its dead twin. TRUNCATE is transactional here.
            cur.execute(f"TRUNCATE {', '.join(tables)}")

    def insert(self, cur: ProjectionCursor, table: TableSpec, values: Sequence[tuple[Any, ...]],
               *, bulk: bool = False, direct: bool = False, binary: bool = False) -> None:
        if bulk and len(values) >= _COPY_THRESHOLD:
            _copy_insert(cast("psycopg.Cursor[Any]", cur), table, values, direct=direct,
                         binary=binary)
        else:
            cur.executemany(insert_statement(table, "%s"), values)

    def byte_order(self, column: str, sql_type: str) -> str:
        # The database's collation may sort text by language rules; "C" is by bytes.
        return f'{column} COLLATE "C"' if sql_type.upper() == "TEXT" else column


def _copy_insert(cur: psycopg.Cursor[Any], table: TableSpec, values: Sequence[tuple[Any, ...]],
                 *, direct: bool, binary: bool) -> None:
    # Row-by-row INSERTs cost a protocol round of work per row even in pipeline
    # mode; COPY into a per-transaction scratch table and one INSERT … SELECT is
    # several times faster and keeps ON CONFLICT DO NOTHING semantics. The binary
    # format costs the client a fifth of the text format's (no number formatting)
    # and the server less parsing.
    types = _copy_types(table) if binary else None
    fmt = " (FORMAT BINARY)" if types is not None else ""
    scratch = f"{table.name}_load"
    cols = ", ".join(table.column_names)
    if not direct:
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {scratch} "
                    f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    with cur.copy(f"COPY {table.name if direct else scratch} ({cols}) "
                  f"FROM STDIN{fmt}") as copy:
        if types is not None:
            copy.set_types(types)
        for row in values:
            copy.write_row(row)
    if direct:
        return
    cur.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {scratch} "
                f"ON CONFLICT ({', '.join(table.primary_key)}) DO NOTHING")
    cur.execute(f"DELETE FROM {scratch}")


class PostgresLeadership:
    """Leadership among processes on one PostgreSQL database: a session advisory lock
    (``pg_try_advisory_lock(key)``) held on a connection of its own.

    The lock lives as long as that connection: a holder that dies or loses its
    connection loses the lease, and the server hands it to the next one that asks.
    Every :meth:`is_leader` asks again on the same connection (a cheap round trip that
    also finds a dropped connection, which is then opened anew).
    """

    def __init__(self, url: str, key: int) -> None:
        self.url = url
        self.key = key
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def is_leader(self) -> bool:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True)
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            # Released before close returns: the server would end the session (and
            # drop its locks) only after the client is gone, a moment later.
            with suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock_all()")
            conn.close()
