"""Which worker leads: the one that relays the notification log and runs the policies.

Every worker asks before each relay round and each policy run; one at a time gets
``True``. A leader keeps leading while its database session lives, and a worker that
dies loses the lead with its connection, so another takes over at its next ask.
The database side is :func:`_try_lead`, the one place with its SQL.
"""

from __future__ import annotations

from typing import Any

import psycopg

__all__ = ["LEADER_LOCK", "Leadership"]

LEADER_LOCK = 0x1EAD_0001
"""The advisory lock key the workers of one database compete for."""


class Leadership:
    """One worker's claim to the lead (asks on a connection of its own)."""

    def __init__(self, database_url: str, key: int = LEADER_LOCK) -> None:
        self.database_url = database_url
        self.key = key
        self._session: psycopg.Connection[Any] | None = None  # opened at the first ask

    def is_leader(self) -> bool:
        """Holds, or takes if nobody holds it, the lead."""
        if self._session is None or self._session.closed:
            self._session = psycopg.connect(self.database_url, autocommit=True)
        return _try_lead(self._session, self.key)

    def close(self) -> None:
        """Gives the lead up (with the session)."""
        if self._session is not None:
            self._session.close()


def _try_lead(session: psycopg.Connection[Any], key: int) -> bool:
    """The database side of leadership: a PostgreSQL session-level advisory lock, taken
    if free and kept until ``session`` ends (asking again while holding it succeeds)."""
    row = session.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])
