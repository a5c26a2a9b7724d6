"""The storage protocol the engine is written against: see :mod:`lifecycle.adapters`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking

if TYPE_CHECKING:
    from lifecycle.projections.base import TableSpec

__all__: list[str] = []

# ---------------------------------------------------------------------------------------
# event log, events of leads, inputs index, chain heads, key store (storage-events)
# ---------------------------------------------------------------------------------------

__all__ += [
    "ERASE_WAIT",
    "HEADS_TABLE",
    "INPUTS_TABLE",
    "KEYS_TABLE",
    "LOCK_WAIT_SECONDS",
    "ChainRead",
    "ChainRow",
    "EventRecorder",
    "EventStorage",
    "InputRow",
    "KeyStore",
]

HEADS_TABLE = "lc_chain_heads"
"""Each aggregate's chain head (version, hash), written with its events
(:mod:`lifecycle.chain`)."""
INPUTS_TABLE = "lc_inputs"
"""The index of recorded inputs, written with their events (:mod:`lifecycle.inputs`)."""
KEYS_TABLE = "lc_subject_keys"
"""The per-lead personal-data keys (:mod:`lifecycle.privacy`)."""
LOCK_WAIT_SECONDS = 30.0
"""How long a writer waits for a database another process holds locked before giving up
(on SQLite, the busy timeout of every connection the engine opens)."""
ERASE_WAIT = 30.0
"""Seconds a key's deletion waits for older transactions or readers of the write-ahead
log before it says the erasure is incomplete."""
InputRow = tuple[str, UUID, bytes]
"""A row of the input index: cause (``touchpoint:ID`` / ``action:ID``), lead id, sealed
content."""

ChainRow = tuple[str, int, bytes, bytes, int]
"""A raw stored event as the chain check reads it: originator id (32 hex digits),
version, topic (UTF-8 bytes), stored state, notification id."""

ChainRead = tuple[dict[str, tuple[int, str]], int, Iterator[Sequence[ChainRow]]]
"""One consistent read for the chain check: the heads (originator id → version, hash),
the largest notification id, and the rows in (originator id, version) order, in
batches."""


class EventRecorder(Protocol):
    """The process recorder an adapter gives eventsourcing (``PROCESS_RECORDER_TOPIC``):
    eventsourcing's, plus what the engine's hot path needs of it."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, tracking: Tracking | None = None,
        more_trackings: Sequence[Tracking] = (), inputs: Sequence[InputRow] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Appends ``stored_events`` (chained: :mod:`lifecycle.chain`), each aggregate's
        new chain head, every tracking record and the input index's ``inputs`` in one
        transaction; returns the events' notification ids.

        Raises:
            eventsourcing.persistence.IntegrityError: an event's version, a tracking
                position or an input id is stored already (nothing was written).
        """

    def select_events(
        self, originator_id: UUID, *, gt: int | None = None, lte: int | None = None,
        desc: bool = False, limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """eventsourcing's reader of one aggregate's events."""

    def events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of the given aggregates, ordered by aggregate then version,
        in one query per 500 ids."""

    def inputs_of(self, causes: Sequence[str]) -> dict[str, tuple[UUID, bytes]]:
        """The input index rows of the given causes that are recorded: cause → (lead id,
        sealed content), in one query per 500 causes."""

    def max_notification_id(self) -> int | None: ...


class KeyStore(Protocol):
    """The table of per-lead keys (:data:`KEYS_TABLE`); created on first use."""

    def fetch(self, lead_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """The keys these leads have (a lead without one is left out)."""

    def insert(self, keys: dict[UUID, bytes], created_at: float) -> bool:
        """Commits new keys, leaving a lead's existing key as it is; returns whether
        every one was inserted (False: another writer created some first)."""

    def delete(self, lead_id: UUID) -> bool:
        """Deletes the lead's key physically (no readable copy left in the database's
        live files); returns whether there was one.

        Raises:
            ErasureIncomplete: the row is deleted, but an old copy may remain until
                other connections are done; deleting again finishes the job.
        """

    def close(self) -> None: ...


class ModelStore(Protocol):
    """Learned models (:mod:`lifecycle.scoring.learned.registry`): table
    ``lifecycle_models`` in the event store's database. Rows are never updated except
    the ``active`` flag; bytes are returned as stored (the registry verifies them)."""

    def put(self, model_id: str, content_hash: str, created_at: datetime,
            stored_at: datetime, artifact: bytes) -> bool:
        """Stores a model; False when the id was stored already (nothing changes)."""
        ...

    def get(self, model_id: str) -> tuple[str, bytes] | None:
        """(content_hash, artifact) of the model, or None."""
        ...

    def rows(self) -> list[tuple[str, str, datetime, datetime, bool, bytes]]:
        """(model_id, content_hash, created_at, stored_at, active, artifact), oldest first."""
        ...

    def activate(self, model_id: str | None) -> None:
        """The one active model (None: none), in one transaction."""
        ...

    def active_id(self) -> str | None: ...


class EventStorage(Protocol):
    """One backend's event side: the recorder, raw reads, the key store, the schema.

    Attributes:
        name: the backend (``sqlite``, ``postgres``), as anchors record it.
        errors: the base classes of its driver's errors (to tell the store's failure
            from an input's).
        shared: whether processes on several hosts can use the database at once (a
            server, as the distributed mode needs), not only the processes of one host.
    """

    name: str
    errors: tuple[type[Exception], ...]
    shared: bool

    def persistence_env(self) -> dict[str, str]:
        """eventsourcing's environment for this database, with this backend's
        :class:`EventRecorder` as the process recorder."""

    def check_reachable(self) -> None:
        """Fails at once, saying why, when the database cannot be reached (before a
        command opens it through eventsourcing, whose pool would retry for a while).

        Raises:
            Exception: one of :attr:`errors`.
        """

    def is_busy(self, error: BaseException) -> bool:
        """Whether ``error`` says another writer holds the database (worth waiting)."""

    def read_chains(
        self, table: str, *, lead_id: UUID | None = None, lo: str | None = None,
        hi: str | None = None, batch_size: int = 20_000,
    ) -> AbstractContextManager[ChainRead]:
        """The raw rows of the events ``table`` (one lead's, those whose id in 32 hex
        digits is in ``[lo, hi)``, or all), with the heads, in one snapshot."""

    def model_store(self) -> ModelStore:
        """The learned models' table (created on first use)."""
        ...

    def key_store(self) -> KeyStore:
        """A key store on a connection of its own (opened on first use)."""

    def connect(self) -> Any:
        """A new DB-API connection of its own in autocommit mode."""

    def create_tables(self, conn: Any, statements: Sequence[str]) -> None:
        """Runs ``CREATE … IF NOT EXISTS`` statements on ``conn`` (from :meth:`connect`)
        in one transaction, one process at a time (under the backend's schema lock)."""


# ---------------------------------------------------------------------------------------
# notification log, projection tables with positions, leadership (storage-projections)
# ---------------------------------------------------------------------------------------

__all__ += [
    "Leadership",
    "NotificationReader",
    "ProjectionBackend",
    "ProjectionCursor",
    "RawNotification",
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
    conflict_errors: tuple[type[BaseException], ...]
    """Two writers of the same rows collided (a deadlock, a serialization failure): the
    transaction rolled back and writing it again is safe."""
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


