"""Projection faults: events whose rows a projection could not make or write.

One event must not stop a projection. When a handler raises on an event, or the
database refuses a value of its rows (a NUL in PostgreSQL text, a number out of a
column's range), that event is left out of that projection, recorded in
``lc_projection_faults`` with the reason — in the same transaction as the other events'
rows and the projection's new position — and the projection carries on.
``projections status`` shows the counts and the latest reasons; ``projections rebuild``
clears a projection's faults and tries those events again.

Only the event's own faults are recorded. An error of the database itself (a lost
connection, a lock or serialization conflict, a full disk) is raised as before: the
batch rolls back and is tried again, nothing is skipped. Which errors are which is the
backend's to say: its ``data_errors`` (values) and :func:`transient_errors` (the
database or the machine), from :mod:`lifecycle.adapters`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lifecycle.adapters import transient_errors
from lifecycle.projections.base import EventRecord, Handler, TableSpec

__all__ = [
    "FAULTS",
    "Fault",
    "Unit",
    "project_event",
    "reason_of",
    "transient_errors",
    "units_of",
    "with_reason",
]

FAULTS = TableSpec(
    "lc_projection_faults",
    (("projection", "TEXT"), ("lead_id", "TEXT"), ("version", "BIGINT"),
     ("position", "BIGINT"), ("event_type", "TEXT"), ("reason", "TEXT"),
     ("recorded_at", "DOUBLE PRECISION")),
    ("projection", "lead_id", "version"),
)

_REASON_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Fault:
    """An event a projection left out, and why.

    Attributes:
        projection: the projection's name.
        lead_id: the event's lead (for an envelope that could not be read at all,
            ``kafka:<topic>:<partition>``).
        version: the event's version in its lead's history (that envelope's offset).
        position: notification id (embedded) or Kafka offset (distributed).
        event_type: the event class name, when known.
        reason: what went wrong (exception type and message).
    """

    projection: str
    lead_id: str
    version: int
    position: int
    event_type: str
    reason: str = ""


Unit = tuple[Fault, list[tuple[str, tuple[Any, ...]]]]
"""One event's rows for one projection, and the fault to record if they are refused."""


def reason_of(exc: BaseException) -> str:
    """``Type: message`` of an exception, printable and safe to store (no control
    characters: the message may quote the very value the database refused)."""
    text = f"{type(exc).__name__}: {exc}"
    clean = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return clean[:_REASON_LIMIT]


def project_event(
    record: EventRecord,
    targets: Iterable[tuple[str, Handler]],
    rows: dict[str, list[tuple[Any, ...]]],
    faults: list[Fault],
) -> None:
    """Adds one event's rows for each target projection to ``rows``; a projection whose
    handler raises gets a fault instead (and none of that event's rows).

    Args:
        record: the event.
        targets: (projection name, handler) pairs.
        rows: rows per table, extended in place.
        faults: faults, extended in place.
    """
    for name, handler in targets:
        try:
            produced = list(handler(record))
        except transient_errors():
            raise
        except Exception as e:
            faults.append(Fault(name, record.lead_id, record.version, record.position,
                                record.type, reason_of(e)))
            continue
        for table, values in produced:
            rows[table].append(values)


def units_of(
    events: Iterable[tuple[EventRecord, Sequence[tuple[str, Handler]]]],
    known: Iterable[Fault] = (),
) -> list[Unit]:
    """Each (event, projection)'s rows apart, for finding the ones the database refuses;
    pairs already in ``known`` (a handler that raised) are left out."""
    skip = {(f.projection, f.lead_id, f.version) for f in known}
    units: list[Unit] = []
    for record, targets in events:
        for name, handler in targets:
            if (name, record.lead_id, record.version) in skip:
                continue
            fault = Fault(name, record.lead_id, record.version, record.position, record.type)
            units.append((fault, list(handler(record))))
    return units


def with_reason(fault: Fault, exc: BaseException) -> Fault:
    return replace(fault, reason=reason_of(exc))
