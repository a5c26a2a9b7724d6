"""Storage adapters: the only place that knows which database the engine runs on.

One package per backend (:mod:`lifecycle.adapters.sqlite`, :mod:`lifecycle.adapters.postgres`)
implements the small protocol of :mod:`lifecycle.adapters.protocol`; everything else in the
engine (the chain, privacy, the projection runner, audit, the worker's leadership) is
backend-free code over it. :func:`adapter_for` gives the event side of a database URL,
:func:`projection_backend_for` its projection tables, :func:`leadership_for` a lease among
the processes that share it.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from lifecycle.adapters.protocol import (
    EventStorage,
    Leadership,
    NotificationReader,
    ProjectionBackend,
    RawNotification,
)

if TYPE_CHECKING:
    from lifecycle.settings import Settings

__all__: list[str] = []

# ---------------------------------------------------------------------------------------
# event log, events of leads, inputs index, chain heads, key store (storage-events)
# ---------------------------------------------------------------------------------------

# A backend is a module of this package with ``SCHEMES`` (the URL prefixes it serves),
# ``ERRORS`` (its driver's error classes) and ``EVENTS`` (its EventStorage class): adding
# one is adding its module. Backends are imported when first asked for, not with this
# package: the chain, persistence and privacy modules the adapters build on import the
# protocol from here.

__all__ += [
    "EventStorage",
    "adapter_for",
    "backends",
    "database_file",
    "describe",
    "driver_errors",
    "is_busy",
    "is_unreachable",
    "persistence_env",
]


@cache
def backends() -> tuple[ModuleType, ...]:
    """The backend modules of this package, by name."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name != "protocol":
            module = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(module, "SCHEMES"):
                found.append(module)
    return tuple(found)


def _backend(url: str) -> ModuleType:
    """The backend module serving ``url``.

    Raises:
        ConfigError: no backend serves that URL (the message says what URLs look like).
    """
    for module in backends():
        if url.startswith(module.SCHEMES):
            return module
    from lifecycle.errors import ConfigError

    raise ConfigError(
        f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://user@host/db")


def describe(url: str) -> str:
    """The database of ``url`` for people: its kind and where it is (no password).

    Raises:
        ConfigError: no backend serves the URL.
    """
    text: str = _backend(url).describe(url)
    return text


def database_file(url: str) -> Path | None:
    """The file the database of ``url`` is (None: a server's database).

    Raises:
        ConfigError: no backend serves the URL.
    """
    path: Path | None = _backend(url).database_file(url)
    return path


def persistence_env(url: str) -> dict[str, str]:
    """eventsourcing's environment for a database URL (its backend's recorder not yet
    set: :meth:`EventStorage.persistence_env` adds it).

    Raises:
        ConfigError: no backend serves the URL, or it is incomplete.
    """
    env: dict[str, str] = _backend(url).persistence_env(url)
    return env


def adapter_for(database: str | Settings) -> EventStorage:
    """The event storage of the database at ``database`` (a URL, or the settings naming
    it).

    Raises:
        ConfigError: no backend serves that URL.
    """
    url = database if isinstance(database, str) else database.database_url
    storage: EventStorage = _backend(url).EVENTS(url)
    return storage


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` says another process holds the database locked (and kept it
    longer than :data:`~lifecycle.adapters.protocol.LOCK_WAIT_SECONDS`), on any backend."""
    return any(module.EVENTS.is_busy(error) for module in backends())


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says a database server cannot be reached (connection,
    authentication, unknown database, shutdown), on any backend."""
    return any(module.is_unreachable(error) for module in backends())


def driver_errors() -> tuple[type[Exception], ...]:
    """The error classes of every backend's driver (the store's failures, never an
    input's)."""
    return tuple(error for module in backends() for error in module.ERRORS)


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
    backend: ProjectionBackend = _backend(database_url).projections(database_url)
    return backend


def leadership_for(database_url: str, key: int) -> Leadership:
    """The lease ``key`` (a 64-bit int) among the processes of one database: a
    PostgreSQL advisory lock on a connection of its own; on SQLite (one host), an
    exclusive lock on a file beside the database file."""
    lease: Leadership = _backend(database_url).leadership(database_url, key)
    return lease


def notification_reader(recorder: Any) -> NotificationReader:
    """``read(start, limit)`` of a recorder's notification log, as plain tuples.

    Own SQL on eventsourcing's SQLite and PostgreSQL recorders (and their subclasses),
    from the adapter of the recorder's backend; ``select_notifications`` on any other
    recorder. Every path gives the same tuples.
    """
    for module in backends():
        read: NotificationReader | None = module.notification_reader_of(recorder)
        if read is not None:
            return read

    def select(start: int, limit: int) -> list[RawNotification]:
        return [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                for n in recorder.select_notifications(start, limit)]

    return select


@cache
def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors of a database or the machine, on any backend, never an event's fault (a
    handler or a decoder that reads the database, a lead's key, may raise them)."""
    from eventsourcing.persistence import InterfaceError, OperationalError

    backend_errors = tuple(error for module in backends() for error in module.TRANSIENT_ERRORS)
    return (*backend_errors, OperationalError,
            InterfaceError, OSError, MemoryError)
