"""Which worker leads: the one that relays the notification log and runs the policies.

Every worker asks before each relay round and each policy run; one at a time gets
``True``. A leader keeps leading while its database session lives, and a worker that
dies loses the lead with its connection, so another takes over at its next ask. The
lease itself is the storage adapter's (:func:`lifecycle.adapters.leadership_for`: a
PostgreSQL advisory lock on a connection of its own).
"""

from __future__ import annotations

from lifecycle.adapters import leadership_for

__all__ = ["LEADER_LOCK", "Leadership"]

LEADER_LOCK = 0x1EAD_0001
"""The advisory lock key the workers of one database compete for."""


class Leadership:
    """One worker's claim to the lead."""

    def __init__(self, database_url: str, key: int = LEADER_LOCK) -> None:
        self.database_url = database_url
        self.key = key
        self._lease = leadership_for(database_url, key)

    def is_leader(self) -> bool:
        """Holds, or takes if nobody holds it, the lead."""
        return self._lease.is_leader()

    def close(self) -> None:
        """Gives the lead up."""
        self._lease.close()
