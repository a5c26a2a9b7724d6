"""The storage protocol the engine is written against: see :mod:`lifecycle.adapters`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking

__all__: list[str] = []

# ---------------------------------------------------------------------------------------
# event log, events of leads, inputs index, chain heads, key store (storage-events)
# ---------------------------------------------------------------------------------------

__all__ += ["ERASE_WAIT", "HEADS_TABLE", "INPUTS_TABLE", "KEYS_TABLE", "ChainRead", "ChainRow",
            "EventRecorder", "EventStorage", "InputRow", "KeyStore"]

HEADS_TABLE = "lc_chain_heads"
"""Each aggregate's chain head (version, hash), written with its events
(:mod:`lifecycle.chain`)."""
INPUTS_TABLE = "lc_inputs"
"""The index of recorded inputs, written with their events (:mod:`lifecycle.inputs`)."""
KEYS_TABLE = "lc_subject_keys"
"""The per-lead personal-data keys (:mod:`lifecycle.privacy`)."""
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


class EventStorage(Protocol):
    """One backend's event side: the recorder, raw reads, the key store, the schema.

    Attributes:
        name: the backend (``sqlite``, ``postgres``), as anchors record it.
        errors: the base classes of its driver's errors (to tell the store's failure
            from an input's).
    """

    name: str
    errors: tuple[type[Exception], ...]

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
