"""The embedded projection runner: notification log → projection tables.

It pulls the event store's notification log in batches (eventsourcing's SQLite
recorder has no ``subscribe()``), turns each lead event into rows with every
projection's pure handlers, and writes the rows together with each projection's new
position in one transaction. Projections at different positions (one being rebuilt)
share one pass: an event is applied only to the projections that have not seen it.

The log is read by the adapter of the recorder's backend
(:func:`lifecycle.adapters.notification_reader`: plain tuples, binary transfer on
PostgreSQL) rather than with ``select_notifications``, whose dict rows, UUID objects
and ``Notification`` dataclasses cost more than the projecting itself; only the events
some projection handles are decoded.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from eventsourcing.persistence import ApplicationRecorder

from lifecycle.adapters import notification_reader, transient_errors
from lifecycle.adapters.protocol import NotificationReader, RawNotification
from lifecycle.projections.base import EventRecord, Handler, Projection, TableSpec
from lifecycle.projections.faults import Fault, Unit, reason_of, units_of
from lifecycle.projections.store import ProjectionStore

__all__ = [
    "LEAD_TOPIC_PREFIX",
    "ProjectionRunner",
    "ProjectionStatus",
]

log = logging.getLogger("lifecycle.projections")

LEAD_TOPIC_PREFIX = "lifecycle.aggregates.lead:Lead."

StateDecoder = Callable[[bytes], dict[str, Any]]
"""A stored event's state (bytes) → the event's attributes as JSON values."""


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    version: int
    stored_version: int | None
    position: int
    head: int
    description: str
    faults: int = 0
    """Events this projection left out (a handler failed, or the database refused a value)."""
    latest_faults: tuple[Fault, ...] = ()

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)

    @property
    def stale(self) -> bool:
        return self.stored_version is not None and self.stored_version != self.version


def _default_decode_state(state: bytes) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(state)
    return data


class ProjectionRunner:
    """Keeps projections current with an application's notification log.

    Args:
        recorder: the application's recorder (its notification log is read).
        store: where the projection tables are.
        projections: what to keep current.
        decode_state: stored event state (bytes) → the event's attributes as JSON
            values (:func:`state_decoder` of the application's mapper); default:
            ``orjson.loads``.
        batch_size: notifications per transaction.
    """

    def __init__(
        self,
        recorder: ApplicationRecorder,
        store: ProjectionStore,
        projections: Sequence[Projection],
        *,
        decode_state: StateDecoder | None = None,
        batch_size: int = 5000,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.projections = tuple(projections)
        self.batch_size = batch_size
        self._tables: dict[str, TableSpec] = {
            t.name: t for p in self.projections for t in p.tables
        }
        self._read: NotificationReader = notification_reader(recorder)
        self._decode: StateDecoder = decode_state or _default_decode_state
        # Event type → the (projection index, handler) pairs that turn it into rows.
        catch_all: list[tuple[int, Handler]] = []
        handled: set[str] = set()
        for i, p in enumerate(self.projections):
            if type(p).rows is not Projection.rows:  # a projection of its own making
                catch_all.append((i, p.rows))
            else:
                handled.update(p.handlers)
        self._catch_all = tuple(catch_all)
        self._names = tuple(p.name for p in self.projections)
        self._dispatch: dict[str, tuple[tuple[int, Handler], ...]] = {}
        for event_type in handled:
            targets = [(i, p.handlers[event_type]) for i, p in enumerate(self.projections)
                       if type(p).rows is Projection.rows and event_type in p.handlers]
            self._dispatch[event_type] = tuple(sorted([*targets, *catch_all],
                                                      key=lambda t: t[0]))
        self.store.ensure(self.projections)

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def _current(self) -> dict[str, tuple[int, int]]:
        stored = self.store.positions()
        current = {}
        for p in self.projections:
            pos, ver = stored.get(p.name, (0, p.version))
            current[p.name] = (pos, p.version if pos == 0 else ver)
        return current

    def status(self) -> list[ProjectionStatus]:
        stored = self.store.positions()
        head = self.head()
        faults = self.store.faults()
        return [
            ProjectionStatus(
                name=p.name, version=p.version,
                stored_version=stored[p.name][1] if p.name in stored else None,
                position=stored.get(p.name, (0, 0))[0], head=head, description=p.description,
                faults=faults.get(p.name, (0, [], None))[0],
                latest_faults=tuple(faults.get(p.name, (0, [], None))[1]),
            )
            for p in self.projections
        ]

    def _rows(self, batch: Sequence[RawNotification],
              after: Sequence[int]) -> tuple[dict[str, list[tuple[Any, ...]]], list[Fault]]:
        """Every projection's rows for the events of ``batch`` past its position, and the
        faults of the events a projection's handler (or the decoding) failed on."""
        rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in self._tables}
        faults: list[Fault] = []
        dispatch, catch_all, decode = self._dispatch, self._catch_all, self._decode
        names = self._names
        prefix, skip = LEAD_TOPIC_PREFIX, len(LEAD_TOPIC_PREFIX)
        for position, lead_id, version, topic, payload in batch:
            if not topic.startswith(prefix):
                continue
            event_type = topic[skip:]
            targets = dispatch.get(event_type, catch_all)
            if not targets:
                continue
            try:
                record = EventRecord(position, lead_id, version, event_type, decode(payload))
            except transient_errors():
                raise
            except Exception as e:  # the event cannot be read: a fault of each target
                reason = reason_of(e)
                faults.extend(Fault(names[i], lead_id, version, position, event_type, reason)
                              for i, _ in targets if position > after[i])
                continue
            for i, handler in targets:
                if position > after[i]:
                    try:
                        produced = list(handler(record))
                    except transient_errors():
                        raise
                    except Exception as e:
                        faults.append(Fault(names[i], lead_id, version, position, event_type,
                                            reason_of(e)))
                        continue
                    for table, values in produced:
                        rows[table].append(values)
        return rows, faults

    def _units(self, batch: Sequence[RawNotification], after: Sequence[int],
               known: Sequence[Fault]) -> list[Unit]:
        """Each (event, projection)'s rows apart (see :meth:`ProjectionStore.write_isolating`),
        but for the ``known`` faults."""
        failed = {(f.lead_id, f.version) for f in known}
        events = []
        for position, lead_id, version, topic, payload in batch:
            if not topic.startswith(LEAD_TOPIC_PREFIX):
                continue
            event_type = topic[len(LEAD_TOPIC_PREFIX):]
            targets = [(self._names[i], handler) for i, handler
                       in self._dispatch.get(event_type, self._catch_all) if position > after[i]]
            if not targets:
                continue
            if (lead_id, version) in failed and len(
                    [f for f in known if (f.lead_id, f.version) == (lead_id, version)]
            ) == len(targets):
                continue  # every target failed already (or it could not be decoded)
            record = EventRecord(position, lead_id, version, event_type, self._decode(payload))
            events.append((record, targets))
        return units_of(events, known)

    def run_once(self) -> int:
        """Applies the next batch of notifications; returns how many were read."""
        positions = self._current()
        start = min(pos for pos, _ in positions.values()) + 1
        batch = self._read(start, self.batch_size)
        if not batch:
            return 0
        after = [positions[p.name][0] for p in self.projections]
        rows, faults = self._rows(batch, after)
        last = batch[-1][0]
        new_positions = {p.name: (last, positions[p.name][1]) for p in self.projections}
        self._write(rows, new_positions, faults, batch, after)
        return len(batch)

    def _write(self, rows: dict[str, list[tuple[Any, ...]]],
               positions: dict[str, tuple[int, int]], faults: Sequence[Fault],
               batch: Sequence[RawNotification], after: Sequence[int]) -> None:
        try:
            try:
                # Each event reaches the runner once (positions are atomic with rows), so
                # rows can be copied straight in; another runner racing on the same
                # database makes that conflict, and the batch is redone tolerantly.
                self.store.write(rows, self._tables, positions, direct=True, faults=faults)
            except self.store.integrity_errors:
                self.store.write(rows, self._tables, positions, direct=False, faults=faults)
        except self.store.data_errors as e:
            # A value the database refuses: find the events it comes from, record them
            # as faults, write the rest (nothing was written: the batch rolled back).
            refused = self.store.write_isolating(self._units(batch, after, faults),
                                                 self._tables, positions, faults=faults)
            log.warning("projections left out %d event(s) the database refused (%s)",
                        len(refused), reason_of(e))
        if faults:
            log.warning("projections left out %d event(s) their handlers failed on",
                        len(faults))

    def run(self, *, on_progress: Callable[[int], None] | None = None) -> int:
        """Applies notifications until every projection is at the head.

        Batch after batch as :meth:`run_once` would, with one overlap where the database
        works in a server of its own (PostgreSQL; the backend's ``writes_in_server``):
        while a full batch is being written (its own transaction, on a writer thread,
        the server working), the next one is read and turned into rows. That batch is
        written only once the previous one committed and the stored positions are
        still the ones it set — had another runner or a reset moved them meanwhile,
        the batch is dropped and reading starts again from the stored positions, as
        ``run_once`` does at every batch.

        Returns:
            How many notifications were read.
        """
        total = 0
        writer: ThreadPoolExecutor | None = None
        # The write in flight (None: written already, before the next read), how many
        # notifications it covers, and the positions it sets.
        pending: tuple[Future[None] | None, int, dict[str, tuple[int, int]]] | None = None
        try:
            positions = self._current()
            while True:
                start = min(pos for pos, _ in positions.values()) + 1
                batch = self._read(start, self.batch_size)
                rows: dict[str, list[tuple[Any, ...]]] = {}
                faults: list[Fault] = []
                after = [positions[p.name][0] for p in self.projections]
                if batch:
                    rows, faults = self._rows(batch, after)
                overlapped = False
                if pending is not None:
                    future, n, expected = pending
                    pending = None
                    if future is not None:
                        overlapped = True
                        future.result()
                    if on_progress is not None:
                        on_progress(n)
                    stored = self._current()
                    if stored != expected:
                        positions = stored
                        continue
                if not batch:
                    if overlapped:
                        continue  # this read began before the last write committed
                    return total
                last = batch[-1][0]
                new_positions = {p.name: (last, positions[p.name][1])
                                 for p in self.projections}
                total += len(batch)
                if len(batch) < self.batch_size or not self.store.backend.writes_in_server:
                    # The last batch most likely; or a backend that writes in this
                    # process, holding the GIL (SQLite): the overlap measured slower there.
                    self._write(rows, new_positions, faults, batch, after)
                    pending = (None, len(batch), new_positions)
                else:
                    if writer is None:
                        writer = ThreadPoolExecutor(1, thread_name_prefix="projection-writer")
                    pending = (writer.submit(self._write, rows, new_positions, faults, batch,
                                             after), len(batch),
                               new_positions)
                positions = new_positions
        finally:
            if writer is not None:
                writer.shutdown(wait=True)  # never leave a transaction behind

    def rebuild(self, names: Sequence[str] | None = None,
                *, on_progress: Callable[[int], None] | None = None) -> int:
        """Drops the named projections (all by default) and rebuilds them from the start."""
        chosen = [p for p in self.projections if names is None or p.name in names]
        unknown = set(names or ()) - {p.name for p in self.projections}
        if unknown:
            from lifecycle.errors import ConfigError

            known = ", ".join(p.name for p in self.projections)
            raise ConfigError(f"unknown projection(s) {sorted(unknown)}; known: {known}")
        for p in chosen:
            self.store.reset(p, drop_indexes=True)
        try:
            n = self.run(on_progress=on_progress)
        except BaseException:
            with contextlib.suppress(Exception):
                self.store.ensure(chosen)  # the indexes back, or at the next start
            raise
        self.store.ensure(chosen)  # builds the secondary indexes reset dropped
        return n
