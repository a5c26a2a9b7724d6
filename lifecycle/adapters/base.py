"""What the backends implement alike, written once: reads by ids in chunks, a
connection of one's own, the key table, projection tables' savepoints, the insert of a
projection row. Backend-free code; each backend's classes build on it (the protocol they
implement is :mod:`lifecycle.adapters.protocol`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from lifecycle.adapters.protocol import KEYS_TABLE, ProjectionCursor

if TYPE_CHECKING:
    from lifecycle.projections.base import TableSpec

__all__ = [
    "CHUNK",
    "MODELS_TABLE",
    "ChunkedReads",
    "KeyTable",
    "ModelTable",
    "OwnConnection",
    "ProjectionTables",
    "insert_statement",
    "select_keys",
]

CHUNK = 500
"""Ids per query of a read by ids: well under every backend's parameter limit."""


class _Closable(Protocol):
    def close(self) -> None: ...


_C = TypeVar("_C", bound=_Closable)


class ChunkedReads:
    """The reads by ids of an :class:`~lifecycle.adapters.protocol.EventRecorder`, the
    same on every backend: each id once, :data:`CHUNK` ids per query. A recorder
    supplies the query of one chunk, which adds its rows to ``out`` (the per-row work
    stays in the backend's loop)."""

    def events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of the given aggregates, by aggregate then version."""
        ids = list(dict.fromkeys(originator_ids))
        out: list[StoredEvent] = []
        for start in range(0, len(ids), CHUNK):
            self._events_in(ids[start : start + CHUNK], out)
        return out

    def inputs_of(self, causes: Sequence[str]) -> dict[str, tuple[UUID, bytes]]:
        """The input index rows of these causes that are recorded."""
        wanted = list(dict.fromkeys(causes))
        out: dict[str, tuple[UUID, bytes]] = {}
        for start in range(0, len(wanted), CHUNK):
            self._inputs_in(wanted[start : start + CHUNK], out)
        return out

    def _events_in(self, ids: list[UUID], out: list[StoredEvent]) -> None:
        """Appends the stored events of ``ids`` to ``out``, by aggregate then version."""
        raise NotImplementedError

    def _inputs_in(self, causes: list[str], out: dict[str, tuple[UUID, bytes]]) -> None:
        """Adds the recorded input index rows of ``causes`` to ``out``."""
        raise NotImplementedError


def select_keys(conn: Any, lead_ids: Sequence[UUID], mark: str, *, chunk: int = CHUNK
                ) -> dict[UUID, bytes]:
    """The keys of ``lead_ids`` in :data:`KEYS_TABLE`, read on a DB-API connection whose
    placeholder is ``mark``, ``chunk`` ids per query (well under every backend's
    parameter limit)."""
    found: dict[UUID, bytes] = {}
    for i in range(0, len(lead_ids), chunk):
        ids = [lid.hex for lid in lead_ids[i:i + chunk]]
        rows = conn.execute(f"SELECT lead_id, key FROM {KEYS_TABLE} WHERE lead_id IN "
                            f"({', '.join([mark] * len(ids))})", ids).fetchall()
        found.update({UUID(hex=lid): bytes(key) for lid, key in rows})
    return found


class OwnConnection(Generic[_C]):
    """A connection of its own, opened on first use (:meth:`_open`), closed by
    :meth:`close` (a later use opens another)."""

    _conn: _C | None = None

    def _open(self) -> _C:
        """A new connection (the backend's)."""
        raise NotImplementedError

    def _connection(self) -> _C:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class KeyTable(OwnConnection[Any]):
    """What the :class:`~lifecycle.adapters.protocol.KeyStore` of every backend does
    alike: the table on a connection of its own, read by :func:`select_keys`, new keys
    written as rows of :data:`KEYS_TABLE`. A backend supplies :meth:`_open` (creating the table),
    :meth:`_insert_rows` and :meth:`delete`."""

    mark: str
    """The driver's placeholder."""

    def fetch(self, lead_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        return select_keys(self._connection(), lead_ids, self.mark)

    def insert(self, keys: dict[UUID, bytes], created_at: float) -> bool:
        rows = [(lid.hex, key, created_at) for lid, key in keys.items()]
        statement = (f"INSERT INTO {KEYS_TABLE} (lead_id, key, created_at) "
                     f"VALUES ({self.mark}, {self.mark}, {self.mark}) "
                     "ON CONFLICT (lead_id) DO NOTHING")
        return self._insert_rows(self._connection(), statement, rows) == len(rows)

    def _insert_rows(self, conn: Any, statement: str, rows: list[tuple[str, bytes, float]]
                     ) -> int:
        """Runs ``statement`` for every row in one transaction; returns the rows inserted."""
        raise NotImplementedError

    def delete(self, lead_id: UUID) -> bool:
        raise NotImplementedError


class ProjectionTables(OwnConnection[_C]):
    """What the :class:`ProjectionBackend` of every backend does alike: the tables on a
    connection of its own (:meth:`_open`), savepoints."""

    @contextmanager
    def savepoint(self, cur: ProjectionCursor) -> Iterator[None]:
        cur.execute("SAVEPOINT lc_part")
        try:
            yield
        except BaseException:
            cur.execute("ROLLBACK TO SAVEPOINT lc_part")
            cur.execute("RELEASE SAVEPOINT lc_part")
            raise
        cur.execute("RELEASE SAVEPOINT lc_part")


def insert_statement(table: TableSpec, mark: str) -> str:
    """``INSERT … ON CONFLICT (primary key) DO NOTHING`` of a table's columns."""
    cols = table.column_names
    return (f"INSERT INTO {table.name} ({', '.join(cols)}) "
            f"VALUES ({', '.join([mark] * len(cols))}) "
            f"ON CONFLICT ({', '.join(table.primary_key)}) DO NOTHING")


MODELS_TABLE = "lifecycle_models"
"""The learned models (:class:`~lifecycle.adapters.protocol.ModelStore`)."""


class ModelTable:
    """What the :class:`~lifecycle.adapters.protocol.ModelStore` of every backend does
    alike: the statements, in the driver's placeholder :attr:`mark`. A backend supplies
    :meth:`_connect` (a new connection; the table is created on the first), :meth:`_write`
    (one transaction that serialises writers) and the time conversions.

    A connection per call, closed after it: models are saved, listed and activated a few
    times per command, and a connection held for the life of the application would be
    one more to close (or leak) for every command that only reads the active id.
    """

    mark: str
    """The driver's placeholder."""
    blob: str
    """The SQL type of the artifact's bytes."""
    time: str
    """The SQL type of a moment."""

    _created = False

    @property
    def ddl(self) -> list[str]:
        """The table, and a partial unique index that keeps a second active row out even
        when two activations race."""
        return [f"CREATE TABLE IF NOT EXISTS {MODELS_TABLE} (model_id TEXT PRIMARY KEY, "
                f"content_hash TEXT NOT NULL, created_at {self.time} NOT NULL, "
                f"stored_at {self.time} NOT NULL, active BOOLEAN NOT NULL DEFAULT FALSE, "
                f"artifact {self.blob} NOT NULL)",
                f"CREATE UNIQUE INDEX IF NOT EXISTS {MODELS_TABLE}_active ON {MODELS_TABLE} "
                "(active) WHERE active"]

    def _connect(self) -> Any:
        """A new connection of its own in autocommit mode (the backend's)."""
        raise NotImplementedError

    def _create_tables(self, conn: Any) -> None:
        """Runs :attr:`ddl` on ``conn`` under the backend's schema lock."""
        raise NotImplementedError

    def _write(self, conn: Any) -> AbstractContextManager[Any]:
        """A transaction on ``conn`` that holds the table's write lock; a cursor-like
        object with ``execute`` inside it."""
        raise NotImplementedError

    def _time_in(self, moment: datetime) -> Any:
        return moment

    def _time_out(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value

    @contextmanager
    def _opened(self) -> Iterator[Any]:
        conn = self._connect()
        try:
            if not self._created:
                self._create_tables(conn)
                self._created = True
            yield conn
        finally:
            conn.close()

    def put(self, model_id: str, content_hash: str, created_at: datetime,
            stored_at: datetime, artifact: bytes) -> bool:
        m = self.mark
        with self._opened() as conn, self._write(conn) as cur:
            inserted: int = cur.execute(
                f"INSERT INTO {MODELS_TABLE} (model_id, content_hash, created_at, stored_at, "
                f"active, artifact) VALUES ({m}, {m}, {m}, {m}, FALSE, {m}) "
                "ON CONFLICT (model_id) DO NOTHING",
                (model_id, content_hash, self._time_in(created_at), self._time_in(stored_at),
                 artifact)).rowcount
        return inserted == 1

    def get(self, model_id: str) -> tuple[str, bytes] | None:
        with self._opened() as conn:
            row = conn.execute(f"SELECT content_hash, artifact FROM {MODELS_TABLE} "
                               f"WHERE model_id = {self.mark}", (model_id,)).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def rows(self) -> list[tuple[str, str, datetime, datetime, bool, bytes]]:
        with self._opened() as conn:
            rows = conn.execute(
                f"SELECT model_id, content_hash, created_at, stored_at, active, artifact "
                f"FROM {MODELS_TABLE} ORDER BY stored_at, model_id").fetchall()
        return [(str(mid), str(digest), self._time_out(created), self._time_out(stored),
                 bool(active), bytes(data))
                for mid, digest, created, stored, active, data in rows]

    def activate(self, model_id: str | None) -> None:
        """Clears the active flag and sets the new one in one transaction.

        Raises:
            LookupError: no model of that id is stored (nothing changes).
        """
        with self._opened() as conn, self._write(conn) as cur:
            cur.execute(f"UPDATE {MODELS_TABLE} SET active = FALSE WHERE active")
            if model_id is not None and not cur.execute(
                    f"UPDATE {MODELS_TABLE} SET active = TRUE WHERE model_id = {self.mark}",
                    (model_id,)).rowcount:
                raise LookupError(f"no model {model_id!r} is stored")  # rolls back

    def active_id(self) -> str | None:
        with self._opened() as conn:
            row = conn.execute(f"SELECT model_id FROM {MODELS_TABLE} WHERE active").fetchone()
        return None if row is None else str(row[0])
