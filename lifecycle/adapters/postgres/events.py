"""The PostgreSQL adapter's event side: the event log with tracking, chain heads and the inputs
index, events of leads, chain reads for audits, the key store, schema creation."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresProcessRecorder,
)
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

from lifecycle.adapters.base import ChunkedReads
from lifecycle.adapters.protocol import (
    HEADS_TABLE,
    INPUTS_TABLE,
    ChainRead,
    ChainRow,
    InputRow,
    KeyStore,
    ModelStore,
)
from lifecycle.chain import heads_of
from lifecycle.errors import ConfigError
from lifecycle.persistence import new_frozen

__all__ = [
    "CONNECT_TIMEOUT",
    "ERRORS",
    "EVENTS",
    "SCHEMA_LOCK",
    "SCHEMES",
    "ChainedPostgresRecorder",
    "PostgresEvents",
    "create_tables",
    "postgres_schema_lock",
]

# PostgreSQL as the distributed mode uses it: several processes, one server.
#
# - :class:`ChainedPostgresRecorder` inserts a batch as four typed arrays sent in binary
#   (``unnest(uuid[], bigint[], text[], bytea[])``) instead of one array of a composite
#   type, which psycopg can only send as text, quoting every field of every row with a
#   regular expression in Python. Same single statement, same table lock, same
#   ``NOTIFY``, same ``RETURNING notification_id`` in insert order. The tracking
#   records, the input index's rows and the chain heads go in the same transaction.
# - Two processes creating tables at once collide in the catalogue ("if not exists" is
#   checked before the catalogue row is written): every piece of schema creation holds
#   the advisory lock :data:`SCHEMA_LOCK`.

SCHEMES = ("postgresql://", "postgres://")
"""The database URLs this adapter serves."""
ERRORS: tuple[type[Exception], ...] = (psycopg.Error,)

SCHEMA_LOCK = 0x1EAD_5C4E
"""The PostgreSQL advisory lock key held while tables are created (the relay's leader
lock is another key, ``0x1EAD_0001``)."""

CONNECT_TIMEOUT = 2
"""Seconds to wait for PostgreSQL to answer before a command gives up (libpq's least),
unless the URL's ``connect_timeout`` or ``PGCONNECT_TIMEOUT`` says otherwise."""


@contextmanager
def postgres_schema_lock(conn: Any) -> Iterator[None]:
    """Holds :data:`SCHEMA_LOCK` on ``conn`` (a psycopg connection in autocommit mode) for
    the block; the lock goes with the session if the process dies."""
    conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def create_tables(conn: Any, statements: Sequence[str]) -> None:
    """Runs DDL in one transaction holding :data:`SCHEMA_LOCK` (``conn``: autocommit)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for statement in statements:
            conn.execute(statement)


class _ColumnArrayInsert(PostgresAggregateRecorder):
    """Sends the rows of an insert as one binary array per column.

    Sits below :class:`PostgresApplicationRecorder` in the method resolution order, so
    that recorder's ``_insert_stored_events`` still locks the table and notifies before
    calling this one for the insert itself.
    """

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self._insert_columns_statement = SQL(
            "INSERT INTO {schema}.{table} AS t "
            "(originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[])"
        ).format(schema=Identifier(self.datastore.schema),
                 table=Identifier(self.events_table_name),
                 id_type=Identifier(self.datastore.originator_id_type))
        if isinstance(self, PostgresApplicationRecorder):
            self._insert_columns_statement += SQL(" RETURNING notification_id")

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        as_text = self.datastore.originator_id_type != "uuid"
        curs.execute(self._insert_columns_statement, (
            [str(s.originator_id) if as_text else s.originator_id for s in stored_events],
            [s.originator_version for s in stored_events],
            [s.topic for s in stored_events],
            [s.state for s in stored_events],
        ))


class ChainedPostgresRecorder(PostgresProcessRecorder, _ColumnArrayInsert, ChunkedReads):
    """eventsourcing's PostgreSQL process recorder with rows sent as binary column
    arrays, writing the chain heads, every tracking record (``tracking`` and
    ``more_trackings``) and the input index's rows (``inputs``) with the events."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events",
                 tracking_table_name: str = "notification_tracking"):
        super().__init__(datastore, events_table_name=events_table_name,
                         tracking_table_name=tracking_table_name)
        id_type = Identifier(self.datastore.originator_id_type)
        inputs = Identifier(self.datastore.schema, INPUTS_TABLE)
        heads = Identifier(self.datastore.schema, HEADS_TABLE)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {table} (input_id text PRIMARY KEY, "
            "lead_id {id_type} NOT NULL, content bytea NOT NULL)"
        ).format(table=inputs, id_type=id_type))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {table} (originator_id {id_type} PRIMARY KEY, "
            "version bigint NOT NULL, hash text NOT NULL)"
        ).format(table=heads, id_type=id_type))
        self._insert_inputs = SQL(
            "INSERT INTO {table} (input_id, lead_id, content) "
            "SELECT * FROM unnest(%b::text[], %b::{id_type}[], %b::bytea[])"
        ).format(table=inputs, id_type=id_type)
        # One statement for all heads (column arrays sent in binary), not one per head:
        # the heads are distinct and sorted, so the rows are locked in the same order.
        self._upsert_heads = SQL(
            "INSERT INTO {table} (originator_id, version, hash) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[]) "
            "ON CONFLICT (originator_id) DO UPDATE SET version = excluded.version, "
            "hash = excluded.hash"
        ).format(table=heads, id_type=id_type)
        schema, table = Identifier(self.datastore.schema), Identifier(self.events_table_name)
        self._select_of = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(schema=schema, table=table)
        self._select_inputs = SQL(
            "SELECT input_id, lead_id, content FROM {table} WHERE input_id = ANY(%s)"
        ).format(table=inputs)

    def create_table(self) -> None:
        # eventsourcing creates its types and tables (and migrates the tracking table) in
        # several transactions; two processes doing it at once collide in the catalogue.
        # The lock is held on a connection of its own while the pool's others do the work.
        with self.datastore.get_connection() as conn, postgres_schema_lock(conn):
            super().create_table()

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)  # writes ``tracking``
        for tracking in kwargs.get("more_trackings", ()):
            self._insert_tracking(curs, tracking=tracking)
        as_text = self.datastore.originator_id_type != "uuid"
        inputs: Sequence[InputRow] = kwargs.get("inputs", ())
        if inputs:
            # Sorted: concurrent writers take the index's row locks in one order (no
            # deadlock); a row another writer holds fails this insert when it commits.
            rows = sorted(inputs, key=itemgetter(0))
            curs.execute(self._insert_inputs, (
                [cause for cause, _, _ in rows],
                [str(lead) if as_text else lead for _, lead, _ in rows],
                [sealed for _, _, sealed in rows],
            ))
        heads = heads_of(stored_events)
        if heads:
            curs.execute(self._upsert_heads, (
                [str(oid) if as_text else oid for oid, _, _ in heads],
                [version for _, version, _ in heads],
                [digest for _, _, digest in heads],
            ))

    def _events_in(self, ids: list[UUID], out: list[StoredEvent]) -> None:
        # Plain tuples in binary, stored events made with
        # :func:`~lifecycle.persistence.new_frozen`.
        chunk: list[Any] = ids
        if self.datastore.originator_id_type != "uuid":
            chunk = [str(i) for i in chunk]
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(self._select_of, (chunk,), prepare=True)
            rows = curs.fetchall()
        out += [new_frozen(StoredEvent, {"originator_id": oid, "originator_version": v,
                                         "topic": t, "state": bytes(s)})
                for oid, v, t, s in rows]

    def _inputs_in(self, causes: list[str], out: dict[str, tuple[UUID, bytes]]) -> None:
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._select_inputs, (causes,), prepare=True)
            for cause, lead, sealed in curs.fetchall():
                out[cause] = (lead if isinstance(lead, UUID) else UUID(str(lead)),
                              bytes(sealed))


def _where(lead_id: UUID | None, lo: str | None, hi: str | None) -> tuple[str, tuple[Any, ...]]:
    if lead_id is not None:
        return " WHERE originator_id = %s", (lead_id,)
    parts, params = [], []
    for op, bound in ((">=", lo), ("<", hi)):
        if bound is not None:
            parts.append(f"originator_id {op} %s")
            params.append(UUID(hex=bound.ljust(32, "0")))
    return (f" WHERE {' AND '.join(parts)}" if parts else ""), tuple(params)


@contextmanager
def _read_chains(url: str, schema: str, table: str, lead_id: UUID | None, lo: str | None,
                 hi: str | None, batch: int) -> Iterator[ChainRead]:
    where, params = _where(lead_id, lo, hi)
    events = f'"{schema}"."{table}"'
    with psycopg.connect(url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        heads = {oid.replace("-", ""): (int(v), h) for oid, v, h in conn.execute(
            f'SELECT originator_id::text, version, hash FROM "{schema}".{HEADS_TABLE}'
            f"{where}", params)}
        top_row = conn.execute(f"SELECT MAX(notification_id) FROM {events}").fetchone()
        top = int(top_row[0]) if top_row and top_row[0] is not None else 0
        with conn.cursor(name="lc_verify", binary=True) as cursor:
            cursor.itersize = batch
            # Ids as 32 hex digits, the same text as on SQLite and in the heads above.
            cursor.execute(
                "SELECT replace(originator_id::text, '-', ''), originator_version, "
                f"convert_to(topic, 'UTF8'), state, notification_id FROM {events}{where} "
                "ORDER BY originator_id, originator_version", params)

            def batches() -> Iterator[Sequence[ChainRow]]:
                while rows := cursor.fetchmany(batch):
                    yield rows

            yield heads, top, batches()
        conn.rollback()


def url_parts(url: str) -> tuple[SplitResult, int]:
    """The parts of a PostgreSQL URL and its port (default 5432).

    Raises:
        ConfigError: the host or the port cannot be read (an unclosed ``[``, a port that is
            no number from 0 to 65535).
    """
    try:
        parts = urlsplit(url)
        return parts, parts.port or 5432
    except ValueError as e:  # urllib's own words: "Port out of range 0-65535", ...
        raise ConfigError(f"PostgreSQL URL cannot be read ({e}): {url}") from None


def persistence_env(url: str) -> dict[str, str]:
    """eventsourcing's environment for ``postgresql://user:password@host:port/database``.

    Raises:
        ConfigError: the URL names no database, or its host or port cannot be read.
    """
    parts, port = url_parts(url)
    dbname = parts.path.lstrip("/")
    if not dbname:
        raise ConfigError(f"PostgreSQL URL needs a database name: {url}")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "4",
    }


class PostgresEvents:
    """The event side of a PostgreSQL database
    (:class:`~lifecycle.adapters.protocol.EventStorage`)."""

    name = "postgres"
    errors = ERRORS
    shared = True  # a server: workers on many hosts use one database

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema = persistence_env(url).get("POSTGRES_SCHEMA", "").strip() or "public"

    def persistence_env(self) -> dict[str, str]:
        env = persistence_env(self.url)
        env["PROCESS_RECORDER_TOPIC"] = get_topic(ChainedPostgresRecorder)
        return env

    def check_reachable(self) -> None:
        # eventsourcing's connection pool retries a failing connection in the background
        # for 30 s and then reports only that it got none; one direct attempt first says
        # at once why not (refused, unknown host or database, password), or times out.
        if "connect_timeout=" in self.url or "PGCONNECT_TIMEOUT" in os.environ:
            psycopg.connect(self.url).close()
        else:
            psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT).close()

    @staticmethod
    def is_busy(error: BaseException) -> bool:
        # Writers queue on PostgreSQL's locks; none is refused for being busy.
        return False

    def read_chains(self, table: str, *, lead_id: UUID | None = None, lo: str | None = None,
                    hi: str | None = None, batch_size: int = 20_000
                    ) -> contextlib.AbstractContextManager[ChainRead]:
        return _read_chains(self.url, self.schema, table, lead_id, lo, hi, batch_size)

    def key_store(self) -> KeyStore:
        from lifecycle.adapters.postgres.keys import PostgresKeyStore

        return PostgresKeyStore(self.url)

    def model_store(self) -> ModelStore:
        from lifecycle.adapters.postgres.models import PostgresModelStore

        return PostgresModelStore(self.url)

    def connect(self) -> Any:
        return psycopg.connect(self.url, autocommit=True)

    def create_tables(self, conn: Any, statements: Sequence[str]) -> None:
        create_tables(conn, statements)


EVENTS = PostgresEvents
"""This backend's :class:`~lifecycle.adapters.protocol.EventStorage`."""
