"""The storage protocol the engine is written against: see :mod:`lifecycle.adapters`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lifecycle.projections.base import TableSpec

__all__: list[str] = []

# ---------------------------------------------------------------------------------------
# event log, events of leads, inputs index, chain heads, key store (storage-events)
# ---------------------------------------------------------------------------------------




# ---------------------------------------------------------------------------------------
# notification log, projection tables with positions, leadership (storage-projections)
# ---------------------------------------------------------------------------------------

__all__ += [
    "Leadership",
    "NotificationReader",
    "ProjectionBackend",
    "ProjectionCursor",
    "RawNotification",
    "insert_statement",
]

RawNotification = tuple[int, str, int, str, Any]
"""A notification as projections read it: (id, originator id as text — dashed UUID, as
``str(UUID)`` gives it —, originator version, topic, stored state as bytes)."""

NotificationReader = Callable[[int, int], Sequence[RawNotification]]
"""``read(start, limit)``: up to ``limit`` notifications from id ``start`` on, in order."""


class ProjectionCursor(Protocol):
    """The DB-API cursor of a projection transaction (``?`` or ``%s`` placeholders as the
    backend's :meth:`ProjectionBackend.sql` writes them)."""

    def execute(self, statement: Any, params: Any = ..., /) -> Any: ...

    def executemany(self, statement: Any, params: Any, /) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


class ProjectionBackend(Protocol):
    """Projection tables and their positions on one database.

    :class:`lifecycle.projections.store.ProjectionStore` is written against this; an
    adapter module implements it. Statements are portable SQL with ``?`` placeholders,
    rewritten by :meth:`sql`; everything that is not portable is a method here.
    """

    integrity_errors: tuple[type[BaseException], ...]
    """A row that is there already (a write that expected none)."""
    data_errors: tuple[type[BaseException], ...]
    """Errors of the values written (an event's fault), never of the database's state
    (a lost connection, a lock, a serialization failure, a full disk)."""
    binary_refusals: tuple[type[BaseException], ...]
    """Errors of a ``binary=True`` :meth:`insert` that the same rows written with
    ``binary=False`` may not raise (empty: the backend has no binary format)."""
    writes_in_server: bool
    """The database does a write's work in another process: a writer thread overlaps it
    with reading the next batch. (SQLite writes in this process, holding the GIL: the
    overlap measured slower there.)"""

    def sql(self, statement: str) -> str:
        """``statement`` (``?`` placeholders) in this backend's placeholder style."""
        ...

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Runs a read query (``?`` placeholders) and returns all rows as tuples."""
        ...

    def transaction(self) -> AbstractContextManager[ProjectionCursor]:
        """A cursor inside one transaction: committed on success, rolled back on error."""
        ...

    def savepoint(self, cur: ProjectionCursor) -> AbstractContextManager[None]:
        """A nested part of the transaction, rolled back alone when it raises."""
        ...

    def lock_schema(self, cur: ProjectionCursor) -> None:
        """Serialises table creation with other processes for the rest of the transaction."""
        ...

    def clear(self, cur: ProjectionCursor, tables: Sequence[str]) -> None:
        """Deletes every row of ``tables`` (transactionally)."""
        ...

    def insert(self, cur: ProjectionCursor, table: TableSpec, values: Sequence[tuple[Any, ...]],
               *, bulk: bool = False, direct: bool = False, binary: bool = False) -> None:
        """Inserts rows, rows already there (by primary key) ignored.

        Args:
            bulk: a batch's rows: the backend may take a bulk path (PostgreSQL's COPY,
                for many rows) where a plain ``INSERT`` costs a round of work per row.
            direct: with ``bulk``, no row of ``values`` can be there yet (the caller knows): a bulk
                path may copy straight into the table, and a conflict then raises one
                of :attr:`integrity_errors`.
            binary: with ``bulk``, a bulk path may use a binary format, raising one of
                :attr:`binary_refusals` for a value it cannot take.
        """
        ...

    def byte_order(self, column: str, sql_type: str) -> str:
        """An ORDER BY term for ``column`` that sorts text by its bytes (as SQLite does)."""
        ...

    def close(self) -> None:
        """Closes the connection (a later call opens another)."""
        ...


class Leadership(Protocol):
    """A lease that makes one process of many the leader (the relay, the policies).

    Non-blocking: :meth:`is_leader` takes the lease when it is free and keeps it while
    this holder lives; :meth:`close` gives it up (a later :meth:`is_leader` tries again).
    """

    def is_leader(self) -> bool:
        """Holds (or takes) the lease: whether this holder is the leader now."""
        ...

    def close(self) -> None:
        """Releases the lease (and what holds it: a connection, a file)."""
        ...


def insert_statement(table: TableSpec, mark: str) -> str:
    """``INSERT … ON CONFLICT (primary key) DO NOTHING`` of a table's columns."""
    cols = table.column_names
    return (f"INSERT INTO {table.name} ({', '.join(cols)}) "
            f"VALUES ({', '.join([mark] * len(cols))}) "
            f"ON CONFLICT ({', '.join(table.primary_key)}) DO NOTHING")
