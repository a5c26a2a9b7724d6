"""The SQLite adapter's event side: the event log with tracking, chain heads and the inputs
index, events of leads, chain reads for audits, the key store, schema creation."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteProcessRecorder
from eventsourcing.utils import get_topic

from lifecycle.adapters.base import ChunkedReads
from lifecycle.adapters.protocol import (
    HEADS_TABLE,
    INPUTS_TABLE,
    LOCK_WAIT_SECONDS,
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
    "ERRORS",
    "EVENTS",
    "LOCK_WAIT_SECONDS",
    "SCHEMES",
    "ChainedSQLiteRecorder",
    "SQLiteEvents",
    "create_tables",
    "is_locked",
    "use_wal",
    "wait_while_locked",
]

# SQLite as the embedded engine uses it: one file in WAL mode, one writer at a time.
#
# - :class:`ChainedSQLiteRecorder` inserts all rows of a batch with one ``executemany``
#   (eventsourcing's recorder runs one ``execute`` per row to read its ``lastrowid``) and
#   derives their notification ids from the last one: inside the write transaction the
#   rowids SQLite gives are consecutive (each new row gets the table's largest rowid
#   plus one), which is checked after the insert; if the check fails, the ids are read
#   back. The tracking records, the input index's rows and the chain heads go in the
#   same transaction.
# - Creating tables, switching a new file to WAL and upgrading a read transaction to a
#   write can fail at once with "database is locked" while another process does the
#   same, without waiting for the busy timeout: :func:`wait_while_locked` waits.

SCHEMES = ("sqlite:///",)
"""The database URLs this adapter serves."""
ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)


_MAX_ROWID = 2**63 - 1
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


def create_tables(conn: sqlite3.Connection, statements: Sequence[str]) -> None:
    """Runs DDL in one ``BEGIN IMMEDIATE`` transaction (the write lock, waited for with
    the busy timeout), again while SQLite refuses without waiting."""

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


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=LOCK_WAIT_SECONDS, isolation_level=None,
                           check_same_thread=False)
    use_wal(conn)
    return conn


class ChainedSQLiteRecorder(SQLiteProcessRecorder, ChunkedReads):
    """eventsourcing's SQLite process recorder with rows inserted by one ``executemany``,
    writing the chain heads, every tracking record (``tracking`` and
    ``more_trackings``) and the input index's rows (``inputs``) with the events."""

    def __init__(self, datastore: SQLiteDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self._upsert_heads = (
            f"INSERT INTO {HEADS_TABLE} (originator_id, version, hash) VALUES (?, ?, ?) "
            "ON CONFLICT (originator_id) DO UPDATE SET version = excluded.version, "
            "hash = excluded.hash"
        )

    def construct_create_table_statements(self) -> list[str]:
        # WITHOUT ROWID: the index is its primary key's B-tree, not a second one beside it.
        return [*super().construct_create_table_statements(),
                f"CREATE TABLE IF NOT EXISTS {INPUTS_TABLE} (input_id TEXT PRIMARY KEY, "
                "lead_id TEXT NOT NULL, content BLOB NOT NULL) WITHOUT ROWID",
                f"CREATE TABLE IF NOT EXISTS {HEADS_TABLE} (originator_id TEXT PRIMARY KEY, "
                "version INTEGER NOT NULL, hash TEXT NOT NULL)"]

    def create_table(self) -> None:
        # A new file's switch to WAL and a deferred transaction's upgrade to a write fail
        # at once when another process is creating the tables: wait for it instead.
        wait_while_locked(self._create_table_once)

    def _create_table_once(self) -> None:
        try:
            super().create_table()
        except IntegrityError:
            # eventsourcing looks for its tracking table outside the transaction that
            # creates it and records a migration marker: another process did both in
            # between. The tables exist now; looking again finds them.
            super().create_table()

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = self._insert_rows(c, stored_events)
        tracking = kwargs.get("tracking")
        for t in ([tracking] if tracking is not None else []) + list(
                kwargs.get("more_trackings", ())):
            self._insert_tracking(c, t)
        inputs: Sequence[InputRow] = kwargs.get("inputs", ())
        if inputs:
            # Unsorted: SQLite has one writer at a time. Each lead's hex once.
            hexes = {lead: lead.hex for _, lead, _ in inputs}
            c.executemany(f"INSERT INTO {INPUTS_TABLE} (input_id, lead_id, content) "
                          "VALUES (?, ?, ?)",
                          [(cause, hexes[lead], sealed) for cause, lead, sealed in inputs])
        heads = [(oid.hex if isinstance(oid, UUID) else oid, v, h)
                 for oid, v, h in heads_of(stored_events)]
        if heads:
            c.executemany(self._upsert_heads, heads)
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

    def _events_in(self, ids: list[UUID], out: list[StoredEvent]) -> None:
        # Plain tuples, not the connection's ``sqlite3.Row``, and stored events made with
        # :func:`~lifecycle.persistence.new_frozen`: per row, building a dict and a UUID
        # cost as much as decoding the event.
        convert = self.convert_originator_id
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None
            cursor.execute(
                "SELECT originator_id, originator_version, topic, state "
                f"FROM {self.events_table_name} WHERE originator_id IN "
                f"({','.join('?' * len(ids))}) ORDER BY originator_id, originator_version",
                [i.hex for i in ids])
            rows = cursor.fetchall()
        text, oid = None, None
        for raw, version, topic, state in rows:
            if raw != text:
                text, oid = raw, convert(raw)
            out.append(new_frozen(StoredEvent, {
                "originator_id": oid, "originator_version": version, "topic": topic,
                "state": state}))

    def _inputs_in(self, causes: list[str], out: dict[str, tuple[UUID, bytes]]) -> None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT input_id, lead_id, content FROM {INPUTS_TABLE} "
                      f"WHERE input_id IN ({','.join('?' * len(causes))})", causes)
            for cause, lead, sealed in c.fetchall():
                out[cause] = (UUID(hex=lead), bytes(sealed))


def _where(lead_id: UUID | None, lo: str | None, hi: str | None) -> tuple[str, tuple[Any, ...]]:
    if lead_id is not None:
        return " WHERE originator_id = ?", (lead_id.hex,)
    parts, params = [], []
    for op, bound in ((">=", lo), ("<", hi)):
        if bound is not None:
            parts.append(f"originator_id {op} ?")
            params.append(bound)
    return (f" WHERE {' AND '.join(parts)}" if parts else ""), tuple(params)


@contextmanager
def _read_chains(path: str, table: str, lead_id: UUID | None, lo: str | None, hi: str | None,
                 batch: int) -> Iterator[ChainRead]:
    conn = sqlite3.connect(path, timeout=LOCK_WAIT_SECONDS, isolation_level=None)
    where, params = _where(lead_id, lo, hi)
    try:
        conn.execute("BEGIN")  # one snapshot for the heads and the events
        heads = {oid: (int(v), h) for oid, v, h in conn.execute(
            f"SELECT originator_id, version, hash FROM {HEADS_TABLE}{where}", params)}
        top = conn.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0
        # The rowid is the notification id on SQLite.
        cursor = conn.execute(
            f"SELECT originator_id, originator_version, CAST(topic AS BLOB), state, rowid "
            f"FROM {table}{where} ORDER BY originator_id, originator_version", params)

        def batches() -> Iterator[Sequence[ChainRow]]:
            while rows := cursor.fetchmany(batch):
                yield rows

        yield heads, int(top), batches()
    finally:
        conn.close()


def persistence_env(url: str) -> dict[str, str]:
    """eventsourcing's environment for ``sqlite:///PATH``.

    Raises:
        ConfigError: the URL names no file.
    """
    path = url.removeprefix("sqlite:///")
    if not path:
        raise ConfigError("sqlite URL needs a file: sqlite:///path/to/lifecycle.db")
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30"}


class SQLiteEvents:
    """The event side of a SQLite database (:class:`~lifecycle.adapters.protocol.EventStorage`)."""

    name = "sqlite"
    errors = ERRORS
    shared = False  # one file on one host

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = persistence_env(url)["SQLITE_DBNAME"]

    def persistence_env(self) -> dict[str, str]:
        env = persistence_env(self.url)
        env["PROCESS_RECORDER_TOPIC"] = get_topic(ChainedSQLiteRecorder)
        return env

    def check_reachable(self) -> None:
        pass  # a file: opening it says what is wrong

    @staticmethod
    def is_busy(error: BaseException) -> bool:
        return is_locked(error)

    def read_chains(self, table: str, *, lead_id: UUID | None = None, lo: str | None = None,
                    hi: str | None = None, batch_size: int = 20_000
                    ) -> contextlib.AbstractContextManager[ChainRead]:
        return _read_chains(self.path, table, lead_id, lo, hi, batch_size)

    def key_store(self) -> KeyStore:
        from lifecycle.adapters.sqlite.keys import SQLiteKeyStore

        return SQLiteKeyStore(self.path)

    def model_store(self) -> ModelStore:
        from lifecycle.adapters.sqlite.models import SQLiteModelStore

        return SQLiteModelStore(self.path)

    def connect(self) -> sqlite3.Connection:
        return _connect(self.path)

    def create_tables(self, conn: sqlite3.Connection, statements: Sequence[str]) -> None:
        create_tables(conn, statements)


EVENTS = SQLiteEvents
"""This backend's :class:`~lifecycle.adapters.protocol.EventStorage`."""
