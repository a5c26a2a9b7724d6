"""Old import path of the schema and locking helpers, which now live in the storage
adapters (:mod:`lifecycle.adapters.sqlite`, :mod:`lifecycle.adapters.postgres`).

A re-export for the modules not yet written against :mod:`lifecycle.adapters`; to be
removed once they are.
"""

from __future__ import annotations

from lifecycle.adapters.postgres import SCHEMA_LOCK, postgres_schema_lock
from lifecycle.adapters.sqlite import LOCK_WAIT_SECONDS, is_locked, use_wal, wait_while_locked

__all__ = [
    "LOCK_WAIT_SECONDS",
    "SCHEMA_LOCK",
    "is_locked",
    "postgres_schema_lock",
    "use_wal",
    "wait_while_locked",
]
