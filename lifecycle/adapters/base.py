"""What the backends implement alike, written once: reads by ids in chunks, a
connection of one's own, the key table, projection tables' savepoints, the insert of a
projection row. Backend-free code; each backend's classes build on it (the protocol they
implement is :mod:`lifecycle.adapters.protocol`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from lifecycle.adapters.protocol import KEYS_TABLE, ProjectionCursor

if TYPE_CHECKING:
    from lifecycle.projections.base import TableSpec

__all__ = [
    "CHUNK",
    "ChunkedReads",
    "KeyTable",
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
