"""The PostgreSQL adapter: the database of the distributed mode.

:mod:`~lifecycle.adapters.postgres.events` holds the event side (the event log with
tracking, chain heads and inputs index, the key store, schema creation),
:mod:`~lifecycle.adapters.postgres.projections` the projection side (the notification
log, projection tables with positions, leadership). This package is the backend as
:mod:`lifecycle.adapters` finds it: ``SCHEMES``, ``ERRORS``, ``EVENTS``,
:func:`projections` and :func:`leadership`.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from lifecycle.adapters.postgres.events import ERRORS, EVENTS, SCHEMES, persistence_env, url_parts
from lifecycle.adapters.postgres.projections import (
    TRANSIENT_ERRORS,
    PostgresLeadership,
    PostgresProjections,
    notification_reader_of,
)

__all__ = ["ERRORS", "EVENTS", "SCHEMES", "TRANSIENT_ERRORS", "database_file", "describe",
           "is_unreachable",
           "leadership", "notification_reader_of", "persistence_env", "projections"]


def projections(url: str) -> PostgresProjections:
    """The projection tables in the database of ``url``."""
    return PostgresProjections(url)


def leadership(url: str, key: int) -> PostgresLeadership:
    """The lease ``key`` (an advisory lock) among the processes of the database of ``url``."""
    return PostgresLeadership(url, key)


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` is the server's connection failing: connection, authentication,
    unknown database, server shutting down — not the other operational errors (a deadlock
    or a lock timeout is no connection problem)."""
    state = getattr(error, "sqlstate", None)
    return isinstance(error, psycopg.OperationalError) and (
        not isinstance(state, str) or state.startswith(("08", "28", "3D", "57P")))


def database_file(url: str) -> Path | None:
    """None: a server's database is no file of this host."""
    return None


def describe(url: str) -> str:
    """``PostgreSQL at HOST:PORT/DATABASE`` (no user, no password)."""
    parts, port = url_parts(url)
    return f"PostgreSQL at {parts.hostname or '127.0.0.1'}:{port}{parts.path}"
