"""The SQLite adapter: an embedded database in one file.

:mod:`~lifecycle.adapters.sqlite.events` holds the event side (the event log with
tracking, chain heads and inputs index, the key store, schema creation),
:mod:`~lifecycle.adapters.sqlite.projections` the projection side (the notification log,
projection tables with positions, leadership). This package is the backend as
:mod:`lifecycle.adapters` finds it: ``SCHEMES``, ``ERRORS``, ``EVENTS``,
:func:`projections` and :func:`leadership`.
"""

from __future__ import annotations

from pathlib import Path

from lifecycle.adapters.sqlite.events import ERRORS, EVENTS, SCHEMES, persistence_env
from lifecycle.adapters.sqlite.projections import (
    TRANSIENT_ERRORS,
    SQLiteLeadership,
    SQLiteProjections,
    notification_reader_of,
)

__all__ = ["ERRORS", "EVENTS", "SCHEMES", "TRANSIENT_ERRORS", "database_file", "describe",
           "is_unreachable",
           "leadership", "notification_reader_of", "persistence_env", "projections"]


def _path(url: str) -> str:
    return persistence_env(url)["SQLITE_DBNAME"]


def projections(url: str) -> SQLiteProjections:
    """The projection tables in the database file of ``url``."""
    return SQLiteProjections(_path(url))


def leadership(url: str, key: int) -> SQLiteLeadership:
    """The lease ``key`` among the processes of this host that use the file of ``url``."""
    return SQLiteLeadership(_path(url), key)


def is_unreachable(error: BaseException) -> bool:
    """Never: a SQLite database is a file, not a server (opening it says what is wrong)."""
    return False


def database_file(url: str) -> Path:
    """The database file of ``url``."""
    return Path(_path(url))


def describe(url: str) -> str:
    """``the SQLite database PATH``."""
    return f"the SQLite database {_path(url)}"
