"""Batch-friendly persistence: many rows per statement, many aggregates per query.

eventsourcing's SQLite application recorder inserts a batch's events one ``execute``
at a time to read each row's ``lastrowid`` (its notification id), and its repository
reads one aggregate per query. On the ingest hot path both cost more than the rows:

- :class:`FastSQLiteProcessRecorder` inserts all rows with one ``executemany`` and
  derives their notification ids from the last one: inside the write transaction the
  rowids SQLite gives are consecutive (each new row gets the table's largest rowid plus
  one), which is checked after the insert; if the check fails, the ids are read back.
- :class:`FastPostgresProcessRecorder` inserts a batch as four typed arrays sent in
  binary (``unnest(uuid[], bigint[], text[], bytea[])``) instead of one array of a
  composite type, which psycopg can only send as text, quoting every field of every
  row with a regular expression in Python. Same single statement, same table lock,
  same ``NOTIFY``, same ``RETURNING notification_id`` in insert order.
- :func:`select_events_of` reads the stored events of many aggregates in one query
  (SQLite or PostgreSQL), for resolving a whole batch's lead keys and cold leads at once.
- Both recorders keep the index of recorded inputs (:mod:`lifecycle.inputs`): the rows
  of ``inputs`` (cause, lead id, sealed content) are inserted in the events'
  transaction, and :func:`select_inputs` reads a whole batch's rows in one query. An id
  that another writer recorded meanwhile fails the insert (primary key), so the batch
  fails whole and its retry sees the other writer's row.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, StoredEvent, Tracking
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresProcessRecorder,
)
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteCursor, SQLiteProcessRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from lifecycle.inputs import INPUTS_TABLE

__all__ = [
    "FastPostgresProcessRecorder",
    "FastSQLiteProcessRecorder",
    "InputRow",
    "select_events_of",
    "select_inputs",
    "trackings_of",
]

InputRow = tuple[str, UUID, bytes]
"""A row of the input index: cause (``touchpoint:ID`` / ``action:ID``), lead id, sealed
content."""

_MAX_ROWID = 2**63 - 1
_CHUNK = 500  # ids per query: well under SQLite's and PostgreSQL's parameter limits


class FastSQLiteProcessRecorder(SQLiteProcessRecorder):
    """SQLite process recorder that inserts a batch of events with one ``executemany``.

    Returns the same notification ids, and writes the tracking record in the same
    transaction after the events, as :class:`SQLiteProcessRecorder` does.
    """

    def construct_create_table_statements(self) -> list[str]:
        # WITHOUT ROWID: the table is its primary key's B-tree, not a second one beside it.
        return [*super().construct_create_table_statements(),
                f"CREATE TABLE IF NOT EXISTS {INPUTS_TABLE} (input_id TEXT PRIMARY KEY, "
                "lead_id TEXT NOT NULL, content BLOB NOT NULL) WITHOUT ROWID"]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = self._insert_rows(c, stored_events)
        for tracking in trackings_of(kwargs):
            self._insert_tracking(c, tracking)
        inputs: Sequence[InputRow] = kwargs.get("inputs", ())
        if inputs:
            # Unsorted: SQLite has one writer at a time. Each lead's hex once.
            hexes = {lead: lead.hex for _, lead, _ in inputs}
            c.executemany(f"INSERT INTO {INPUTS_TABLE} (input_id, lead_id, content) "
                          "VALUES (?, ?, ?)",
                          [(cause, hexes[lead], sealed) for cause, lead, sealed in inputs])
        return ids

    def _insert_rows(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]) -> list[int]:
        if not stored_events:
            return []
        params = [
            (s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
             s.originator_version, s.topic, s.state)
            for s in stored_events
        ]
        c.executemany(self.insert_events_statement, params)
        c.execute(f"SELECT MAX(rowid), last_insert_rowid() FROM {self.events_table_name}")
        top, last = c.fetchone()
        n = len(params)
        # The table's largest rowid is our last row, below the maximum: every row got
        # "largest rowid + 1" (SQLite picks random rowids only after the maximum was used).
        if top == last and last < _MAX_ROWID:
            return list(range(last - n + 1, last + 1))
        ids = []
        for oid, version, _, _ in params:  # pragma: no cover - rowids near 2**63
            c.execute(f"SELECT rowid FROM {self.events_table_name} "
                      "WHERE originator_id=? AND originator_version=?", (oid, version))
            ids.append(c.fetchone()[0])
        return ids


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


class FastPostgresProcessRecorder(PostgresProcessRecorder, _ColumnArrayInsert):
    """PostgreSQL process recorder that sends a batch's rows as binary column arrays,
    and writes every tracking record of ``more_trackings`` as well as ``tracking``."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = Identifier(self.datastore.schema, INPUTS_TABLE)
        id_type = Identifier(self.datastore.originator_id_type)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {table} (input_id text PRIMARY KEY, "
            "lead_id {id_type} NOT NULL, content bytea NOT NULL)"
        ).format(table=table, id_type=id_type))
        self._insert_inputs = SQL(
            "INSERT INTO {table} (input_id, lead_id, content) "
            "SELECT * FROM unnest(%b::text[], %b::{id_type}[], %b::bytea[])"
        ).format(table=table, id_type=id_type)

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)  # writes ``tracking``
        for tracking in kwargs.get("more_trackings", ()):
            self._insert_tracking(curs, tracking=tracking)
        inputs: Sequence[InputRow] = kwargs.get("inputs", ())
        if inputs:
            # Sorted: concurrent writers take the index's row locks in one order (no
            # deadlock); a row another writer holds fails this insert when it commits.
            rows = sorted(inputs, key=itemgetter(0))
            as_text = self.datastore.originator_id_type != "uuid"
            curs.execute(self._insert_inputs, (
                [cause for cause, _, _ in rows],
                [str(lead) if as_text else lead for _, lead, _ in rows],
                [sealed for _, _, sealed in rows],
            ))


def trackings_of(kwargs: dict[str, Any]) -> list[Tracking]:
    """The tracking records of an ``insert_events`` call: ``tracking`` (eventsourcing's
    one upstream position) and ``more_trackings`` (one per further upstream, e.g. each
    Kafka partition of a batch), all written in the events' transaction."""
    first: Tracking | None = kwargs.get("tracking")
    return ([first] if first is not None else []) + list(kwargs.get("more_trackings", ()))


def select_events_of(
    recorder: AggregateRecorder, originator_ids: Sequence[UUID]
) -> list[StoredEvent]:
    """Every stored event of the given aggregates, ordered by aggregate then version.

    One query per 500 ids on SQLite and PostgreSQL; one per aggregate elsewhere.
    """
    ids = list(dict.fromkeys(originator_ids))
    out: list[StoredEvent] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        if isinstance(recorder, SQLiteAggregateRecorder):
            out += _select_sqlite(recorder, chunk)
        elif isinstance(recorder, PostgresAggregateRecorder):
            out += _select_postgres(recorder, chunk)
        else:
            for oid in chunk:
                out += recorder.select_events(oid)
    return out


def _select_sqlite(recorder: SQLiteAggregateRecorder, ids: Sequence[UUID]) -> list[StoredEvent]:
    statement = (
        "SELECT originator_id, originator_version, topic, state "
        f"FROM {recorder.events_table_name} WHERE originator_id IN "
        f"({','.join('?' * len(ids))}) ORDER BY originator_id, originator_version"
    )
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, [i.hex for i in ids])
        return [
            StoredEvent(
                originator_id=recorder.convert_originator_id(row[0]),
                originator_version=row[1],
                topic=row[2],
                state=row[3],
            )
            for row in c.fetchall()
        ]


def _select_postgres(
    recorder: PostgresAggregateRecorder, ids: Sequence[UUID]
) -> list[StoredEvent]:
    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(schema=Identifier(recorder.datastore.schema),
             table=Identifier(recorder.events_table_name))
    params = ids if recorder.datastore.originator_id_type == "uuid" else [str(i) for i in ids]
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, (list(params),), prepare=True)
        return [
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in curs.fetchall()
        ]


def select_inputs(
    recorder: AggregateRecorder, causes: Sequence[str]
) -> dict[str, tuple[UUID, bytes]]:
    """The index rows of the given causes that are recorded: cause → (lead id, sealed
    content).

    One query per 500 causes (SQLite or PostgreSQL).
    """
    wanted = list(dict.fromkeys(causes))
    out: dict[str, tuple[UUID, bytes]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        if isinstance(recorder, SQLiteAggregateRecorder):
            statement = (f"SELECT input_id, lead_id, content FROM {INPUTS_TABLE} "
                         f"WHERE input_id IN ({','.join('?' * len(chunk))})")
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(statement, chunk)
                for cause, lead, sealed in c.fetchall():
                    out[cause] = (UUID(hex=lead), bytes(sealed))
        elif isinstance(recorder, PostgresAggregateRecorder):
            query = SQL("SELECT input_id, lead_id, content FROM {table} "
                        "WHERE input_id = ANY(%s)").format(
                table=Identifier(recorder.datastore.schema, INPUTS_TABLE))
            with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(query, (chunk,), prepare=True)
                for row in curs.fetchall():
                    lead = row["lead_id"]
                    out[row["input_id"]] = (lead if isinstance(lead, UUID) else UUID(str(lead)),
                                            bytes(row["content"]))
        else:  # pragma: no cover - the engine records only to SQLite or PostgreSQL
            raise TypeError(f"no input index on {type(recorder).__name__}")
    return out
