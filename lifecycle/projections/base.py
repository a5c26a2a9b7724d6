"""What a projection is: tables, and pure handlers that turn one event into rows.

A projection never reads or updates its own rows while it writes: each handler maps one
lead event to rows to insert, keyed by ``(lead_id, version)``, so applying an event
twice is harmless (``ON CONFLICT DO NOTHING``) and a batch of events becomes one
``executemany`` per table. Everything a report needs — visits, dwell times, decayed
scores, open alerts — is computed from these rows when it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "EventRecord",
    "Handler",
    "Projection",
    "Row",
    "TableSpec",
    "epoch",
    "month_of",
]


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One lead event as projections see it: decoded JSON, no domain objects.

    Attributes:
        position: notification id in the event store (ordering within a run).
        lead_id: the lead (hex or dashed UUID text, as given by the source).
        version: the event's position in its lead's history.
        type: the event class name (``TouchpointRecorded``).
        data: the event's stored attributes (times as ISO 8601 strings).
    """

    position: int
    lead_id: str
    version: int
    type: str
    data: dict[str, Any]


Row = tuple[str, tuple[Any, ...]]
"""A table name and the values of one row, in the table's column order."""

Handler = Callable[[EventRecord], Iterable[Row]]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table: name, columns with portable SQL types, and primary key.

    ``erases`` names tables whose rows of a lead are deleted when a row of that lead is
    written here, in the same transaction (an erasure: what a projection copied of a
    person goes with the person; every table named must have a ``lead_id`` column).
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    erases: tuple[str, ...] = ()

    def ddl(self) -> list[str]:
        cols = ", ".join(f"{n} {t}" for n, t in self.columns)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {self.name} ({cols}, "
            f"PRIMARY KEY ({', '.join(self.primary_key)}))"
        ]
        for i, index in enumerate(self.indexes):
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {self.name}_ix{i} ON {self.name} ({', '.join(index)})"
            )
        return statements

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.columns)


@dataclass(frozen=True)
class Projection:
    """A named set of tables and the handlers that fill them.

    ``version`` changes when a handler's output changes; a stored projection of
    another version is reported as stale by ``projections status``.
    """

    name: str
    version: int
    tables: tuple[TableSpec, ...]
    handlers: dict[str, Handler] = field(default_factory=dict)
    description: str = ""

    def rows(self, event: EventRecord) -> Iterable[Row]:
        handler = self.handlers.get(event.type)
        if handler is None:
            return ()
        return handler(event)


def epoch(iso: str) -> float:
    """Seconds since the Unix epoch of an ISO 8601 time with offset."""
    return datetime.fromisoformat(iso).timestamp()


def month_of(iso: str) -> str:
    """``YYYY-MM`` of an ISO 8601 UTC time."""
    return iso[:7]
