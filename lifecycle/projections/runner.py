"""The embedded projection runner: notification log → projection tables.

It pulls the event store's notification log in batches (eventsourcing's SQLite
recorder has no ``subscribe()``), turns each lead event into rows with every
projection's pure handlers, and writes the rows together with each projection's new
position in one transaction. Projections at different positions (one being rebuilt)
share one pass: an event is applied only to the projections that have not seen it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from eventsourcing.persistence import ApplicationRecorder, Notification

from lifecycle.projections.base import EventRecord, Projection, TableSpec
from lifecycle.projections.store import ProjectionStore

__all__ = ["LEAD_TOPIC_PREFIX", "ProjectionRunner", "ProjectionStatus", "to_record"]

LEAD_TOPIC_PREFIX = "lifecycle.aggregates.lead:Lead."


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    version: int
    stored_version: int | None
    position: int
    head: int
    description: str

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)

    @property
    def stale(self) -> bool:
        return self.stored_version is not None and self.stored_version != self.version


def to_record(
    notification: Notification, decode: Callable[[Notification], dict[str, Any]]
) -> EventRecord | None:
    """A lead event notification as an EventRecord; None for other aggregates' events."""
    topic = notification.topic
    if not topic.startswith(LEAD_TOPIC_PREFIX):
        return None
    return EventRecord(
        position=notification.id,
        lead_id=str(notification.originator_id),
        version=notification.originator_version,
        type=topic[len(LEAD_TOPIC_PREFIX):],
        data=decode(notification),
    )


def _default_decode(notification: Notification) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(notification.state)
    return data


class ProjectionRunner:
    """Keeps projections current with an application's notification log."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        store: ProjectionStore,
        projections: Sequence[Projection],
        *,
        decode: Callable[[Notification], dict[str, Any]] | None = None,
        batch_size: int = 5000,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.projections = tuple(projections)
        self.decode = decode or _default_decode
        self.batch_size = batch_size
        self._tables: dict[str, TableSpec] = {
            t.name: t for p in self.projections for t in p.tables
        }
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
        return [
            ProjectionStatus(
                name=p.name, version=p.version,
                stored_version=stored[p.name][1] if p.name in stored else None,
                position=stored.get(p.name, (0, 0))[0], head=head, description=p.description,
            )
            for p in self.projections
        ]

    def run_once(self) -> int:
        """Applies the next batch of notifications; returns how many were read."""
        positions = self._current()
        start = min(pos for pos, _ in positions.values()) + 1
        notifications = self.recorder.select_notifications(start, self.batch_size)
        if not notifications:
            return 0
        rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in self._tables}
        last = notifications[-1].id
        for notification in notifications:
            record = to_record(notification, self.decode)
            if record is None:
                continue
            for p in self.projections:
                if notification.id > positions[p.name][0]:
                    for table, values in p.rows(record):
                        rows[table].append(values)
        new_positions = {p.name: (last, positions[p.name][1]) for p in self.projections}
        try:
            # Each event reaches the runner once (positions are atomic with rows), so
            # rows can be copied straight in; another runner racing on the same
            # database makes that conflict, and the batch is redone tolerantly.
            self.store.write(rows, self._tables, new_positions, direct=True)
        except self.store.integrity_errors:
            self.store.write(rows, self._tables, new_positions, direct=False)
        return len(notifications)

    def run(self, *, on_progress: Callable[[int], None] | None = None) -> int:
        """Applies notifications until every projection is at the head.

        Returns:
            How many notifications were read.
        """
        total = 0
        while True:
            n = self.run_once()
            if n == 0:
                return total
            total += n
            if on_progress is not None:
                on_progress(n)

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
            self.store.reset(p)
        return self.run(on_progress=on_progress)
