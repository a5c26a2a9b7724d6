"""Storage adapters: the only place that knows which database the engine runs on.

One module per backend (:mod:`lifecycle.adapters.sqlite`, :mod:`lifecycle.adapters.postgres`)
implements the small protocol of :mod:`lifecycle.adapters.protocol`; everything else in the
engine (the chain, privacy, the projection runner, audit) is backend-free code over it.
:func:`adapter_for` picks the implementation from a database URL.
"""

from __future__ import annotations

import functools
from typing import Any

from lifecycle.adapters.protocol import (
    Leadership,
    NotificationReader,
    ProjectionBackend,
    RawNotification,
)

__all__: list[str] = []

# ---------------------------------------------------------------------------------------
# event log, events of leads, inputs index, chain heads, key store (storage-events)
# ---------------------------------------------------------------------------------------




# ---------------------------------------------------------------------------------------
# notification log, projection tables with positions, leadership (storage-projections)
# ---------------------------------------------------------------------------------------

__all__ += [
    "leadership_for",
    "notification_reader",
    "projection_backend_for",
    "transient_errors",
]


def projection_backend_for(database_url: str) -> ProjectionBackend:
    """The projection tables' backend on a database (``sqlite:///…``, ``postgresql://…``).

    Raises:
        ConfigError: an unsupported URL.
    """
    from lifecycle.settings import persistence_env

    env = persistence_env(database_url)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        from lifecycle.adapters.sqlite import SQLiteProjections

        return SQLiteProjections(env["SQLITE_DBNAME"])
    from lifecycle.adapters.postgres import PostgresProjections

    return PostgresProjections(database_url)


def leadership_for(database_url: str, key: int) -> Leadership:
    """The lease ``key`` (a 64-bit int) among the processes of one database: a
    PostgreSQL advisory lock on a connection of its own; on SQLite (one host), an
    exclusive lock on a file beside the database file."""
    from lifecycle.settings import persistence_env

    env = persistence_env(database_url)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        from lifecycle.adapters.sqlite import SQLiteLeadership

        return SQLiteLeadership(env["SQLITE_DBNAME"], key)
    from lifecycle.adapters.postgres import PostgresLeadership

    return PostgresLeadership(database_url, key)


def notification_reader(recorder: Any) -> NotificationReader:
    """``read(start, limit)`` of a recorder's notification log, as plain tuples.

    Own SQL on eventsourcing's SQLite and PostgreSQL recorders (and their subclasses),
    from the adapter of the recorder's backend; ``select_notifications`` on any other
    recorder. Every path gives the same tuples.
    """
    from lifecycle.adapters import postgres, sqlite

    read = sqlite.notification_reader_of(recorder) or postgres.notification_reader_of(recorder)
    if read is not None:
        return read

    def select(start: int, limit: int) -> list[RawNotification]:
        return [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                for n in recorder.select_notifications(start, limit)]

    return select


@functools.cache
def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors of a database or the machine, on any backend, never an event's fault (a
    handler or a decoder that reads the database, a lead's key, may raise them)."""
    from eventsourcing.persistence import InterfaceError, OperationalError

    from lifecycle.adapters import postgres, sqlite

    return (*postgres.TRANSIENT_ERRORS, *sqlite.TRANSIENT_ERRORS, OperationalError,
            InterfaceError, OSError, MemoryError)
